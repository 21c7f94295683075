import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from teams.models import Project, Team


class Workflow(models.Model):
    """A named WDL workflow in a project; may narrow the project's prefix and role."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50)
    description = models.TextField(blank=True)
    script_prefix = models.CharField(max_length=512, blank=True)
    job_role_arn = models.CharField("job role ARN", max_length=2048, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="workflow_unique_project_slug")]
        ordering = ["project__team__name", "project__name", "name"]

    def __str__(self) -> str:
        return self.name


def _version_upload_to(version: "WorkflowVersion", filename: str) -> str:
    return f"workflows/{version.workflow_id}/{version.sha256}/{filename}"


class WorkflowVersion(models.Model):
    """An immutable WDL source (and its imports zip), typechecked by miniwdl on upload."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="Of the source and the imports zip together.")
    source = models.FileField(upload_to=_version_upload_to, max_length=500)
    imports = models.FileField(upload_to=_version_upload_to, max_length=500, blank=True)
    wdl_name = models.CharField("name in the WDL", max_length=200)
    wdl_version = models.CharField(max_length=20)
    inputs_spec = models.JSONField(default=list, help_text="The WDL's inputs as miniwdl reads them.")
    outputs_spec = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="version_unique_number"),
            models.UniqueConstraint(fields=["workflow", "sha256"], name="version_unique_sha256"),
        ]
        ordering = ["workflow", "-number"]

    def __str__(self) -> str:
        return f"{self.workflow.name} v{self.number}"


class Run(models.Model):
    """One submission of a workflow version; the prefix, role and backend are resolved once, here."""

    class Status(models.TextChoices):  # Cromwell's names
        SUBMITTED = "Submitted"
        ON_HOLD = "On Hold"
        RUNNING = "Running"
        ABORTING = "Aborting"
        ABORTED = "Aborted"
        SUCCEEDED = "Succeeded"
        FAILED = "Failed"

    TERMINAL = (Status.ABORTED, Status.SUCCEEDED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="runs")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="runs")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="runs")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED, db_index=True)
    inputs = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text="As submitted; queries use the RunLabel rows.")
    script_prefix = models.CharField(max_length=1024)
    job_role_arn = models.CharField("job role ARN", max_length=2048, blank=True)
    backend = models.CharField(max_length=100, help_text="The config's backend provider name.")
    root = models.CharField(max_length=1024, help_text="The run's directory under the provider's root.")
    engine_state = models.BinaryField(null=True, blank=True, editable=False)
    outputs = models.JSONField(null=True, blank=True)
    failures = models.JSONField(default=list, blank=True)
    # Steps begun and never ended since a step last ended: their worker was killed (the hard time limit,
    # out of memory, or a restart).
    killed_steps = models.PositiveSmallIntegerField(default=0, editable=False)
    # Submitted by run_wdl on the operator's command line: it may read any host path, as Cromwell does.
    trusted = models.BooleanField(default=False, editable=False)
    relaunch_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="relaunches")
    submitted = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    ended = models.DateTimeField(null=True, blank=True)
    pauses = models.JSONField(default=list, blank=True, help_text="Each time the run had failed and was retried: "
                              "[when it failed, when it was retried], ISO 8601.")
    cleaned_up = models.DateTimeField(null=True, blank=True, help_text="When its scripts and call directories "
                                      "were deleted (by a person or the retention policy).")
    cleaned_up_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="+")

    class Meta:
        ordering = ["-submitted"]
        indexes = [
            models.Index(fields=["team", "-submitted"], name="run_team_submitted"),
            models.Index(fields=["team", "status"], name="run_team_status"),  # a team's unfinished runs, counted
        ]

    def __str__(self) -> str:
        return f"{self.version.wdl_name} {self.id}"

    @property
    def is_active(self) -> bool:
        return self.status not in self.TERMINAL

    @property
    def pause_spans(self) -> list[tuple[dt.datetime, dt.datetime]]:
        """Return each stretch the run spent failed before a retry reopened it, oldest first."""
        return [(dt.datetime.fromisoformat(failed), dt.datetime.fromisoformat(retried)) for failed, retried in self.pauses]

    @property
    def paused(self) -> dt.timedelta:
        return sum((retried - failed for failed, retried in self.pause_spans), dt.timedelta())

    @property
    def working_time(self) -> dt.timedelta | None:
        """Return how long the run has been at work: started to ended (or now), less its pauses."""
        if self.started is None:
            return None
        return (self.ended or timezone.now()) - self.started - self.paused


class RunLabel(models.Model):
    """One Cromwell label of a run, a row of its own so label queries use an index on any database."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="label_rows")
    key = models.CharField(max_length=255)
    value = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="run_label_unique_key")]
        indexes = [models.Index(fields=["key", "value"], name="run_label_key_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class Subworkflow(models.Model):
    """One call of a workflow within a run: a workflow of its own in the Cromwell API, with its own id."""

    id = models.UUIDField(primary_key=True, editable=False, help_text="uuid5 of the run's id and its call id path.")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="subworkflows",
                            help_text="The root workflow's run.")
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="children",
                               help_text="The subworkflow that calls it; empty when the run's workflow does.")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    call_id = models.CharField(max_length=500, help_text="The engine's id path of the call: call-sub-2.")
    fqn = models.CharField("fully qualified name", max_length=500, help_text="Of the call, in its caller.")
    name = models.CharField(max_length=200, help_text="The called workflow's name.")
    shard_index = models.IntegerField(default=-1)
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(null=True, blank=True, help_text="Once it succeeded.")
    started = models.DateTimeField()
    ended = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "call_id"], name="subworkflow_unique_call")]
        indexes = [models.Index(fields=["run", "parent", "fqn", "shard_index"], name="subworkflow_run_parent")]

    def __str__(self) -> str:
        shard = f"[{self.shard_index}]" if self.shard_index >= 0 else ""
        return f"{self.fqn}{shard} ({self.name})"


class Call(models.Model):
    """One attempt of one task call (one shard of a scatter) and the backend job that runs it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a slot"
        SUBMITTING = "submitting", "Submitting"
        SUBMITTED = "submitted", "Queued on the backend"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        RETRIED = "retried", "Failed, retried"
        PREEMPTED = "preempted", "Preempted"  # its host was reclaimed (Spot): retried, not counted in maxRetries
        ABORTED = "aborted", "Aborted"

    ACTIVE = (Status.SUBMITTING, Status.SUBMITTED, Status.RUNNING)
    LIVE = (Status.QUEUED, *ACTIVE)
    DONE = (Status.SUCCEEDED, Status.FAILED, Status.RETRIED, Status.PREEMPTED, Status.ABORTED)
    SUPERSEDED = (Status.RETRIED, Status.PREEMPTED)  # attempts that a later attempt of the call replaced

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="calls")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    call_id = models.CharField(max_length=500, help_text="The engine's id of the call, stable across attempts.")
    fqn = models.CharField("fully qualified name", max_length=500)
    task = models.CharField(max_length=500, help_text="Where the engine finds the task.")
    shard_index = models.IntegerField(default=-1)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    backend = models.CharField(max_length=100)
    fed = models.BooleanField(default=False, help_text="Its outputs have been given to the engine.")
    backend_job_id = models.CharField(max_length=1024, blank=True)
    call_dir = models.CharField(max_length=1024, blank=True)
    inputs = models.JSONField(default=dict)
    prepared_inputs = models.JSONField(null=True, blank=True, help_text="Inputs and private declarations as evaluated for this attempt.")
    outputs = models.JSONField(null=True, blank=True)
    runtime = models.JSONField(default=dict, blank=True)
    command = models.TextField(blank=True)
    script_key = models.CharField(max_length=1024, blank=True)
    return_code = models.IntegerField(null=True, blank=True)
    failure = models.TextField(blank=True)
    # What the job asked of the backend, and for how long it held it: the call's cost.
    queue = models.CharField(max_length=300, blank=True, help_text="The Batch job queue (empty: local).")
    capacity = models.CharField(max_length=16, blank=True, help_text="spot or on-demand.")
    vcpus = models.PositiveIntegerField(null=True, blank=True)
    memory_mib = models.PositiveIntegerField("memory (MiB)", null=True, blank=True)
    gpus = models.PositiveIntegerField(default=0)
    resource_seconds = models.FloatField(null=True, blank=True, help_text="Batch's stoppedAt - startedAt; "
                                         "local: wall time.")
    cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    queued = models.DateTimeField(auto_now_add=True)
    claimed = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True,
                                  help_text="The lease (Lease.owner) of the worker that claimed it for submission.")
    started = models.DateTimeField(null=True, blank=True)
    ended = models.DateTimeField(null=True, blank=True)
    # Call caching (workflows.services.caching): a call waits for its cache lookup before dispatch.
    cache_pending = models.BooleanField(default=False, help_text="Its cache lookup has not been done yet.")
    cache_hash = models.CharField(max_length=64, blank=True, help_text="Of everything that makes the call what it is.")
    cache_hashes = models.JSONField(default=dict, blank=True, help_text="Cromwell's hash names and their values.")
    cache_result = models.CharField(max_length=500, blank=True, help_text="Hit, miss, or why caching was off.")
    cached_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                    help_text="The call whose results this one reused.")

    class Meta:
        ordering = ["run", "fqn", "shard_index", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["run", "call_id", "attempt"], name="call_unique_attempt"),
        ]
        indexes = [
            models.Index(fields=["team", "status"], name="call_team_status"),
            models.Index(fields=["status", "run"], name="call_status_run"),
            # The run page's call table and metadata: a page's ids in its order, read from the index alone (status: its
            # filter). Key columns rather than INCLUDE, which SQLite lacks.
            models.Index(fields=["run", "fqn", "shard_index", "attempt", "status", "id"], name="call_run_order"),
        ]

    def __str__(self) -> str:
        shard = f"[{self.shard_index}]" if self.shard_index >= 0 else ""
        return f"{self.fqn}{shard} attempt {self.attempt}"

    @property
    def stdout(self) -> str:
        return f"{self.call_dir}/execution/stdout" if self.call_dir else ""

    @property
    def stderr(self) -> str:
        return f"{self.call_dir}/execution/stderr" if self.call_dir else ""


class CallTally(models.Model):
    """A change in how many of a run's calls of one name are in one status, with their cost and times.

    Written only by the database: triggers on the call table (migration 0009_call_tallies) add rows for
    every statement that inserts, deletes or changes calls, so no write path can miss one, and
    `services.tallies` compacts them. Summing a run's rows answers its progress, cost, cache hits and
    grouped timeline without reading its calls.
    """

    run = models.ForeignKey(Run, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+",
                            help_text="No constraint: the triggers write it; a trigger on runs deletes it.")
    fqn = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Call.Status.choices)
    calls = models.IntegerField(help_text="Signed: a call that leaves the status counts -1.")
    cost = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    hits = models.IntegerField(default=0, help_text="Calls that reused an earlier call's results.")
    saved = models.FloatField(default=0, help_text="Seconds of job time the reused calls took.")
    queued = models.DateTimeField(null=True, help_text="The earliest of the calls that entered it.")
    started = models.DateTimeField(null=True)
    ended = models.DateTimeField(null=True, help_text="The latest.")
    compacted = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["run", "fqn", "status"], name="calltally_run"),
            models.Index(fields=["run"], condition=models.Q(compacted=False), name="calltally_fresh"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.fqn} {self.status} {self.calls:+d}"


class Lease(models.Model):
    """A worker's hold on the calls it claimed, renewed while it works: once it lapses, they are taken over."""

    owner = models.CharField(max_length=100, primary_key=True, help_text="What holds it: kind:host:pid:random.")
    expires = models.DateTimeField(help_text="In the database's clock, so hosts need not agree on the time.")

    def __str__(self) -> str:
        return self.owner


class Script(models.Model):
    """A script written under a run's prefix, kept until cleanup deletes it."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="scripts")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    bucket = models.CharField(max_length=255, blank=True, help_text="Empty: Batchsite's own file storage.")
    key = models.CharField(max_length=1024)
    size = models.PositiveBigIntegerField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "bucket", "key"], name="script_unique_per_run")]
        indexes = [models.Index(fields=["bucket", "key"], name="script_bucket_key")]  # shared by other runs?

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.bucket else self.key


class CacheEntry(models.Model):
    """The results of a succeeded call, for later identical calls to reuse (Cromwell's call cache)."""

    hash = models.CharField(max_length=64)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="cache_entry")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="cache_entries")
    backend = models.CharField(max_length=100)
    call_dir = models.CharField(max_length=1024)
    outputs = models.JSONField(default=dict)
    return_code = models.IntegerField(null=True, blank=True)
    valid = models.BooleanField(default=True, help_text="False once its files were found gone or deleted.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "cache entries"
        indexes = [models.Index(fields=["hash", "team"], name="cacheentry_hash_team")]

    def __str__(self) -> str:
        return f"{self.hash[:12]} {self.call}"


class RetentionPolicy(models.Model):
    """How long a team's finished runs keep their scripts (and, optionally, their call directories)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="retention")
    script_days = models.PositiveIntegerField(
        default=30, help_text="Delete the scripts of runs that finished more than this many days ago.")
    call_dir_days = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Also delete the call directories of runs that finished more than this many days ago. "
        "Empty: keep them.")

    class Meta:
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"{self.team}: scripts {self.script_days} days"


class CleanupReport(models.Model):
    """What one scheduled or operator-started cleanup or orphan reconciliation did (or would do)."""

    class Kind(models.TextChoices):
        SCRIPTS = "scripts", "Expired scripts"
        ORPHANS = "orphans", "Orphan Batch jobs"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="cleanup_reports",
                             help_text="Empty: jobs whose team Batchsite does not know.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SCRIPTS)
    dry_run = models.BooleanField(default=False, help_text="A preview: nothing was deleted.")
    deleted_objects = models.PositiveIntegerField(
        "objects", default=0, help_text="Objects deleted (a preview: would delete), or jobs terminated.")
    deleted_bytes = models.PositiveBigIntegerField("bytes", default=0)
    duration = models.FloatField(default=0, help_text="Seconds.")
    errors = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        preview = " (preview)" if self.dry_run else ""
        return f"{self.created:%Y-%m-%d %H:%M} {self.get_kind_display()} {self.team or '-'}{preview}"


class Price(models.Model):
    """What an hour of a vCPU, a GiB of memory and a GPU costs on a backend's queue; operators edit it."""

    class Capacity(models.TextChoices):
        ON_DEMAND = "on-demand", "On-demand"
        SPOT = "spot", "Spot"

    backend = models.CharField(max_length=100, help_text="The config's backend provider name.")
    queue = models.CharField(max_length=300, blank=True, help_text="A job queue name or ARN; empty: any other queue.")
    capacity = models.CharField(max_length=16, choices=Capacity.choices, default=Capacity.ON_DEMAND)
    vcpu_hour = models.DecimalField("per vCPU-hour", max_digits=12, decimal_places=6, default=0)
    gib_hour = models.DecimalField("per GiB-hour", max_digits=12, decimal_places=6, default=0)
    gpu_hour = models.DecimalField("per GPU-hour", max_digits=12, decimal_places=6, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["backend", "queue", "capacity"], name="price_unique_queue")]
        ordering = ["backend", "queue", "capacity"]

    def __str__(self) -> str:
        return f"{self.backend} {self.queue or '(any queue)'} {self.capacity}"


class RunBatch(models.Model):
    """Runs launched together from one sample sheet: one run per row, labelled with the row's sample id."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="run_batches")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="run_batches")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="run_batches")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    sheet_name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name; empty if pasted.")
    sample_column = models.CharField(max_length=255)
    rows = models.JSONField(default=list, help_text='In sheet order: {"row": n, "sample": id, "run": run id}.')

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["team", "-created"], name="runbatch_team_created")]

    def __str__(self) -> str:
        return f"batch {self.pk} of {self.version} ({len(self.rows)} runs)"
