"""Submitting, holding and aborting runs."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batchsite.config import ConfigError
from notifications.services import run_end_notify
from teams.models import AuditEvent, Team
from teams.selectors import team_limits
from teams.services import audit_record, target_resolve
from workflows import engine
from workflows.backends import backend_for, provider_for
from workflows.models import Call, Run, RunLabel, WorkflowVersion
from workflows.services.budgets import budget_check
from workflows.services import caching
from workflows.services.execution import next_attempt, queued_calls_stop
from workflows.services.limits import (
    MAX_OPTIONS_BYTES, PROJECT_LABEL, input_files_check, inputs_check, json_load, json_problem, labels_check,
    labels_problems, queued_runs_check,
)
from workflows.services.versions import document_for


def json_object(value, *, field: str, what: str, max_bytes: int | None = None) -> dict:
    """Parse a JSON object given as text or as a dict; a problem names the field and position."""
    if value is None or value == "":
        return {}
    if isinstance(value, (bytes, bytearray)):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({field: f"{what} are not UTF-8 text"}) from None
    if isinstance(value, str):
        size = len(value.encode("utf-8", "surrogatepass"))
        if max_bytes is not None and size > max_bytes:
            raise ValidationError({field: f"{what} are {size:,} bytes; at most {max_bytes:,} are allowed"})
        try:
            value = json_load(value)
        except ValueError as exc:
            raise ValidationError({field: f"{what} are {exc}"}) from None
    if not isinstance(value, dict):
        raise ValidationError({field: f"{what} must be a JSON object ({{...}}), not {type(value).__name__}"})
    problem = json_problem(value)
    if problem:  # PostgreSQL cannot store it: say so now, not with a database error later
        raise ValidationError({field: problem})
    return value


def run_inputs_check(*, version: WorkflowVersion, inputs, limits: dict, trusted: bool = False) -> dict:
    """Check a run's inputs (the team's size limits, storable JSON, the WDL's names and types, the files
    it may read); return them normalised."""
    inputs = inputs_check(json_object(inputs, field="inputs", what="the inputs",
                                      max_bytes=limits["max_input_bytes_per_run"]), limits=limits)
    doc = document_for(version)
    try:
        inputs = doc.check_inputs(inputs)
    except engine.InputError as exc:
        raise ValidationError({"inputs": str(exc)}) from None
    input_files_check(team=version.workflow.project.team, files=doc.input_paths(inputs), trusted=trusted)
    return inputs


def run_submit(*, version: WorkflowVersion, user, inputs=None, options=None, labels=None,
               on_hold: bool = False, relaunch_of: Run | None = None, run_id=None, trusted: bool = False) -> Run:
    """Validate inputs and options, resolve prefix, role and backend, and start a run.

    run_id: the id a client asked for (Cromwell's requestedWorkflowId); a random UUID otherwise.
    trusted: run_wdl's own team (see target_resolve): any well-formed role ARN and prefix.
    """
    workflow = version.workflow
    project = workflow.project
    team = project.team
    limits = team_limits(team)
    inputs = run_inputs_check(version=version, inputs=inputs, limits=limits, trusted=trusted)
    options = json_object(options, field="options", what="the options", max_bytes=MAX_OPTIONS_BYTES)
    caching.options_check(options)
    labels = labels_check(json_object(labels, field="labels", what="the labels"), limits=limits)
    queued_runs_check(team=team, limits=limits)
    doc = document_for(version)
    target = target_resolve(team=team, project=project, workflow=workflow, options=options, trusted=trusted)
    backend_name = options.get("backend") or None
    if backend_name is not None and not isinstance(backend_name, str):
        raise ValidationError({"backend": "the backend option must be a provider name"})
    try:
        provider = provider_for(backend_name)
        backend = backend_for(provider.name)
    except ConfigError as exc:
        raise ValidationError({"backend": str(exc)}) from None
    for task, runtime in doc.literal_runtimes.items():
        try:
            backend.check_runtime(runtime)
        except ValueError as exc:
            raise ValidationError({"runtime": f"task {task}: {exc}"}) from None
    budget_check(team=team, project=project)
    if team.max_queued_jobs is not None:
        waiting = Call.objects.filter(team=team, status=Call.Status.QUEUED).count()
        if waiting >= team.max_queued_jobs:
            raise ValidationError({"__all__": f"team {team.slug} already has {waiting} calls waiting "
                                              f"(its limit is {team.max_queued_jobs}); try again later"})
    run = Run(
        version=version, team=team, project=project, submitted_by=user, inputs=inputs, options=options,
        labels=labels, script_prefix=target.script_prefix, job_role_arn=target.job_role_arn,
        backend=provider.name, relaunch_of=relaunch_of, trusted=trusted,
        status=Run.Status.ON_HOLD if on_hold else Run.Status.SUBMITTED,
        **({"id": run_id} if run_id is not None else {}),
    )
    run.root = backend.run_root(doc.name, run.id)
    with transaction.atomic():
        # under the team's row lock, so that two submissions cannot both take the last place
        Team.objects.select_for_update().filter(pk=team.pk).first()
        queued_runs_check(team=team, limits=limits)
        run.save()
        RunLabel.objects.bulk_create([RunLabel(run=run, key=key, value=value) for key, value in labels.items()])
        audit_record(team=team, user=user, action=AuditEvent.Action.RELAUNCH if relaunch_of else AuditEvent.Action.SUBMIT,
                     target=f"run {run.pk}", workflow=workflow.name, version=version.number,
                     version_sha256=version.sha256, role_arn=run.job_role_arn, script_prefix=run.script_prefix,
                     backend=run.backend, **({"relaunch_of": str(relaunch_of.pk)} if relaunch_of else {}))
        if not on_hold:
            _enqueue_advance(run.pk)
    return run


def _enqueue_advance(run_id) -> None:
    from workflows.tasks import run_advance_task

    run_advance_task.delay_on_commit(str(run_id))


def run_release_hold(*, run: Run) -> bool:
    """Let a run that was submitted on hold start; False if it was not on hold."""
    with transaction.atomic():
        released = Run.objects.filter(pk=run.pk, status=Run.Status.ON_HOLD).update(status=Run.Status.SUBMITTED)
        if released:
            _enqueue_advance(run.pk)
    return bool(released)


def run_abort(*, run: Run, user=None) -> bool:
    """Stop a run: nothing queued starts, every active job is terminated; False if it had ended."""
    from workflows.tasks import run_abort_finish_task

    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if not run.is_active:
            return False
        audit_record(team=run.team, user=user, action=AuditEvent.Action.ABORT, target=f"run {run.pk}",
                     status=run.status)
        if run.status == Run.Status.ON_HOLD:
            Run.objects.filter(pk=run.pk).update(status=Run.Status.ABORTED, ended=timezone.now())
            run_end_notify(run_id=run.pk)
            return True
        Run.objects.filter(pk=run.pk).update(status=Run.Status.ABORTING)
        queued_calls_stop(run)
        run_abort_finish_task.delay_on_commit(str(run.pk))
    return True


def run_relaunch(*, run: Run, user) -> Run:
    """Submit a run again with the same version, inputs, options and labels."""
    return run_submit(version=run.version, user=user, inputs=run.inputs, options=run.options,
                      labels=run.labels, relaunch_of=run)


def run_retry_failed(*, run: Run, user) -> int:
    """Reopen a failed run: queue a new attempt of each failed call, reuse what succeeded; return how many."""
    from workflows.tasks import team_dispatch_task

    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status != Run.Status.FAILED:
            raise ValidationError({"__all__": f"only a failed run's calls can be retried; run {run.pk} is {run.status}"})
        if run.cleaned_up:
            raise ValidationError({"__all__": "this run's files were cleaned up, so its failed calls cannot be "
                                              "retried; relaunch it instead"})
        failed = list(Call.objects.filter(run=run, status=Call.Status.FAILED))
        if not failed:
            raise ValidationError({"__all__": "no call failed: the workflow itself failed, and would again "
                                              f"({'; '.join(f['message'] for f in run.failures)})"})
        # The engine still waits for every call it issued: a failed one gets a new attempt, and one
        # that was queued when the run failed (stopped, never started) is simply queued again.
        Call.objects.filter(pk__in=[c.pk for c in failed]).update(status=Call.Status.RETRIED)
        Call.objects.bulk_create([next_attempt(c, run_root=run.root) for c in failed])
        requeued = Call.objects.filter(run=run, status=Call.Status.ABORTED, backend_job_id="").update(
            status=Call.Status.QUEUED, claimed=None, ended=None)
        # The stretch it spent failed is kept, so its duration and timeline can leave it out.
        now = timezone.now()
        pause = [(run.ended or now).isoformat(), now.isoformat()]
        Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, failures=[], ended=None,
                                             pauses=[*run.pauses, pause])
        audit_record(team=run.team, user=user, action=AuditEvent.Action.RETRY, target=f"run {run.pk}",
                     calls=[f"{c.fqn}{f'[{c.shard_index}]' if c.shard_index >= 0 else ''}" for c in failed][:100],
                     retried=len(failed), requeued=requeued)
        _enqueue_advance(run.pk)
        team_dispatch_task.delay_on_commit(run.team_id)
    return len(failed)


AUDITED_LABELS = 100  # label changes an audit event lists by name; the counts are always whole


def run_labels_set(*, run: Run, user, labels: dict, replace: bool = False) -> Run:
    """Add or change a run's labels (replace: also remove those not given), by launch's rules; audited.

    The project label (the API's batchsite-project) is fixed at submission and cromwell-workflow-id
    is the server's, so neither can be set or changed here.
    """
    labels = json_object(labels, field="labels", what="the labels")
    problems = []
    if "cromwell-workflow-id" in labels:
        problems.append("The cromwell-workflow-id label is set by the server")
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("version", "team").get(pk=run.pk)
        before = dict(run.labels or {})
        if labels.get(PROJECT_LABEL, before.get(PROJECT_LABEL)) != before.get(PROJECT_LABEL) or (
                replace and PROJECT_LABEL in before and PROJECT_LABEL not in labels):
            problems.append(f"The {PROJECT_LABEL} label is set at submission and cannot change")
        after = dict(labels) if replace else {**before, **labels}
        problems += labels_problems(after, max_labels=team_limits(run.team)["max_labels_per_run"])
        if problems:
            raise ValidationError({"labels": problems})
        removed = [key for key in before if key not in after]
        changed = {key: value for key, value in after.items() if before.get(key) != value}
        if not removed and not changed:
            return run
        run.labels = after
        run.save(update_fields=["labels"])
        RunLabel.objects.filter(run=run, key__in=removed).delete()
        for key, value in changed.items():
            RunLabel.objects.update_or_create(run=run, key=key, defaults={"value": value})
        audit_record(team=run.team, user=user, action=AuditEvent.Action.LABELS, target=f"run {run.pk}",
                     set={key: changed[key] for key in list(changed)[:AUDITED_LABELS]},
                     was={key: before[key] for key in list(changed)[:AUDITED_LABELS] if key in before},
                     removed=removed[:AUDITED_LABELS], count_set=len(changed), count_removed=len(removed))
    return run
