"""Runs and calls written straight to the database, for the UI tests that need many or odd ones."""
import datetime as dt
import re
import uuid

from django.utils import timezone

from teams.services import audit_record
from workflows.backends import local_root, provider_for
from workflows.models import Call, Run, RunLabel
from workflows.services import workflow_create

HELLO = """version 1.0
struct Sample {
  String name
  Int reads
}
workflow hello {
  input {
    Int n
    Float ratio = 0.5
    Boolean loud = false
    String who = "world"
    File? reference
    Array[String] tags = ["a"]
    Map[String, Int] counts = {"x": 1}
    Sample? sample
  }
  call greet { input: who = who, n = n }
  output { String out = greet.out }
}
task greet {
  input {
    String who
    Int n
    String punct = "!"
  }
  command <<< echo "hello ~{who} ~{n}~{punct}" >>>
  output { String out = read_string(stdout()) }
}
"""


def hello_workflow(project, user, name="Hello"):
    return workflow_create(project=project, name=name, source=HELLO.encode(), filename="hello.wdl", user=user)


def make_run(workflow, user, *, status=Run.Status.SUCCEEDED, labels=None, submitted=None, inputs=None) -> Run:
    """Write a run row as run_submit would have, in a given state."""
    version = workflow.versions.order_by("-number").first()
    provider = provider_for()
    run_id = uuid.uuid4()
    now = timezone.now()
    run = Run.objects.create(
        id=run_id, version=version, team=workflow.project.team, project=workflow.project, submitted_by=user,
        status=status, inputs=inputs if inputs is not None else {"hello.n": 3}, labels=labels or {},
        script_prefix=workflow.project.team.prefix_root, job_role_arn=workflow.project.team.default_role_arn,
        backend=provider.name, root=f"{local_root(provider)}/hello/{run_id}",
        started=now - dt.timedelta(minutes=5), ended=None if status not in Run.TERMINAL else now,
    )
    RunLabel.objects.bulk_create([RunLabel(run=run, key=k, value=v) for k, v in run.labels.items()])
    audit_record(team=run.team, user=user, action="submit", target=f"run {run.pk}")
    if submitted is not None:
        Run.objects.filter(pk=run.pk).update(submitted=submitted)
        run.refresh_from_db()
    return run


def make_calls(run: Run, count: int, *, status=Call.Status.SUCCEEDED, fqn="hello.greet") -> None:
    """Write count shards of one call, each a finished job."""
    now = timezone.now()
    Call.objects.bulk_create([
        Call(run=run, team_id=run.team_id, project_id=run.project_id, backend=run.backend, call_id=f"call-{fqn.rsplit('.', 1)[1]}-{i}",
             fqn=fqn, task="greet", shard_index=i, status=status, backend_job_id=f"/jobs/{i}",
             call_dir=f"{run.root}/call-{fqn.rsplit('.', 1)[1]}/shard-{i}/attempt-1", return_code=0 if status == "succeeded" else None,
             started=now - dt.timedelta(seconds=60 - i % 50), ended=now if status in Call.DONE else None)
        for i in range(count)
    ], batch_size=1000)


def field_block(page: str, name: str) -> str:
    """Return the HTML of the form field (label, input, help, errors) for an input name."""
    match = re.search(r'<div class="field[^"]*">\s*<label for="id_' + re.escape(name) + r'".*?</div>', page, re.S)
    assert match, f"no field {name} on the page"
    return match.group(0)
