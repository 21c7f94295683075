"""A call's cost on AWS Batch: Batch's startedAt/stoppedAt and the resources the job asked for, priced."""
from decimal import Decimal

import boto3
import pytest

from tests.aws.test_end_to_end import drive
from workflows.models import Call, Price, Run
from workflows.services import run_submit, workflow_create
from workflows.services.cost import price_table_changed

SIZED = b"""version 1.0
workflow sized { call t }
task t {
  command <<< sleep 1 >>>
  runtime { cpu: 2  memory: "3 GiB" }
}
"""


@pytest.mark.django_db(transaction=True)
def test_a_calls_cost_comes_from_batchs_times_and_its_requested_resources(aws, eager, project, alice, client):
    price_table_changed()
    Price.objects.create(backend="AWSBatch", queue="batchsite-queue", capacity="on-demand",
                         vcpu_hour=Decimal("0.05"), gib_hour=Decimal("0.01"))
    Price.objects.create(backend="AWSBatch", capacity="spot", vcpu_hour=Decimal("9"), gib_hour=Decimal("9"))
    version = workflow_create(project=project, name="sized", source=SIZED).versions.get()

    run = drive(run_submit(version=version, user=alice, inputs={}), until=lambda r: not r.is_active)

    assert run.status == Run.Status.SUCCEEDED, run.failures
    call = Call.objects.get(run=run)
    assert (call.queue, call.capacity, call.vcpus, call.memory_mib, call.gpus) == (
        aws.queue_arn, "on-demand", 2, 3072, 0)  # the compute environment is not Spot
    job = aws.emulator.jobs[call.backend_job_id]
    seconds = (job.stopped_at - job.started_at) / 1000
    assert call.resource_seconds == seconds and seconds >= 1
    expected = (Decimal(2) * Decimal("0.05") + Decimal(3) * Decimal("0.01")) * Decimal(repr(seconds)) / 3600
    assert call.cost == expected.quantize(Decimal("0.000001"))
    client.force_login(alice)
    assert client.get(f"/api/workflows/v1/{run.pk}/cost").json()["cost"] == float(call.cost)
    price_table_changed()


def test_a_queue_on_a_spot_compute_environment_is_priced_as_spot(aws):
    ec2, iam = (boto3.client(name, endpoint_url=aws.emulator.moto_url, region_name="us-east-1") for name in ("ec2", "iam"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName="spot-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="spot-instances")["InstanceProfile"]["Arn"]
    environment = aws.batch.create_compute_environment(
        computeEnvironmentName="spot-ce", type="MANAGED", state="ENABLED", serviceRole=role,
        computeResources={"type": "SPOT", "minvCpus": 0, "maxvCpus": 4, "desiredvCpus": 0, "instanceTypes": ["m5.large"],
                          "subnets": [subnet], "securityGroupIds": [group], "instanceRole": profile})
    spot_queue = aws.batch.create_job_queue(jobQueueName="spot-queue", state="ENABLED", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}])["jobQueueArn"]
    aws.emulator.run_jobs = False

    spot, regular = aws.backend.submit([aws.spec("bs-abc-1-a1", "true", runtime={"queueArn": spot_queue}),
                                        aws.spec("bs-abc-2-a1", "true", call="call-other")])

    assert (spot.resources.queue, spot.resources.capacity) == (spot_queue, "spot")
    assert (regular.resources.queue, regular.resources.capacity) == (aws.queue_arn, "on-demand")
