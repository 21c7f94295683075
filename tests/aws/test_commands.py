"""Commands of every shape run on AWS Batch (emulated compute) from a command file of their own."""
import pytest

from tests.aws.test_end_to_end import drive
from tests.command_cases import COMMANDS_OUTPUTS, COMMANDS_WDL
from workflows.backends.aws_batch import scripts
from workflows.models import Call, Run
from workflows.services import run_submit, workflow_create


@pytest.mark.django_db(transaction=True)
def test_empty_whitespace_heredoc_case_and_unbalanced_commands_succeed_on_batch(aws, eager, project, alice):
    version = workflow_create(project=project, name="commands", source=COMMANDS_WDL.encode()).versions.get()

    run = drive(run_submit(version=version, user=alice, inputs={}), until=lambda r: not r.is_active)

    failures = list(Call.objects.filter(run=run).exclude(status="succeeded").values_list("fqn", "failure"))
    assert run.status == Run.Status.SUCCEEDED, failures
    assert run.outputs == COMMANDS_OUTPUTS
    heredoc = Call.objects.get(run=run, fqn="commands.heredoc")
    assert "closing ) paren" in aws.read(f"{heredoc.call_dir}/execution/script")  # shown as written


@pytest.mark.parametrize("command", ["", "   \n\t\n", "echo x\nBATCHSITE_COMMAND_0\n", "cat <<'BATCHSITE_EOF'\nhi\n"])
def test_the_job_script_carries_the_command_verbatim_in_a_heredoc_no_line_of_it_can_end(command):
    script = scripts.job_script(call_dir="s3://b/run/call-x", work_dir="/tmp/w", command=command, files=[])

    start = script.index("<<'BATCHSITE_COMMAND_")
    marker = script[start + 3:script.index("'", start + 3)]
    body = script[script.index("\n", start) + 1:script.index("\n" + marker + "\n", start) + 1]
    assert body == (command.rstrip("\n") + "\n" if command else "")
    assert '/bin/bash "$tmp/command"' in script and "(\n" not in script.split(marker)[-1]
