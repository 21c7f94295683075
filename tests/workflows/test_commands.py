"""Commands of every shape run on the local backend as they would under Cromwell or miniwdl."""
import pytest

from tests.command_cases import COMMANDS_OUTPUTS, COMMANDS_WDL
from tests.runs import Eager, drive, submit
from workflows.models import Call


@pytest.mark.django_db(transaction=True)
def test_empty_whitespace_heredoc_case_and_unbalanced_commands_succeed_locally(project, alice):
    with Eager():
        run = drive(submit(project, alice, COMMANDS_WDL, name="commands"))

    failures = list(Call.objects.filter(run=run).exclude(status="succeeded").values_list("fqn", "failure"))
    assert run.status == "Succeeded", failures
    assert run.outputs == COMMANDS_OUTPUTS
