from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Team(models.Model):
    """A research team: owns an S3 script prefix root, job roles and a concurrency cap."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    prefix_root = models.CharField(
        "S3 prefix root",
        max_length=512,
        blank=True,
        help_text="Every script prefix of this team lies under it, e.g. teams/genomics/. "
        "Empty: the team may use any prefix (default scripts/).",
    )
    allowed_role_arns = models.JSONField(
        "allowed job role ARNs", default=list, blank=True,
        help_text="IAM roles this team's jobs may run under.",
    )
    default_role_arn = models.CharField("default job role ARN", max_length=2048, blank=True)
    max_running_jobs = models.PositiveIntegerField(
        default=8, help_text="At most this many of the team's jobs are submitted or running."
    )
    max_queued_jobs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Refuse submissions beyond this many waiting calls."
    )
    # Submission limits: empty means the site default (settings.BATCHSITE_DEFAULT_LIMITS; see team_limits).
    max_input_bytes_per_run = models.PositiveBigIntegerField(
        "max inputs bytes per run", null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="A run's inputs JSON may be at most this many bytes.")
    max_input_bytes_per_value = models.PositiveBigIntegerField(
        "max inputs bytes per value", null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="One input (a whole array or map counts as one) may be at most this many bytes of JSON.")
    max_labels_per_run = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="A run may carry at most this many labels.")
    max_runs_per_batch = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="One batch submission may start at most this many runs.")
    max_queued_runs = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Refuse submissions while the team has this many runs not finished (submitted, on hold, "
                  "running or aborting).")
    registry_credential_arn = models.CharField(
        "registry credential secret ARN", max_length=2048, blank=True,
        help_text="Secrets Manager secret for this team's private container registry (AWS Batch pulls with it "
                  "under the provider's execution-role-arn).",
    )
    max_calls_per_run = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="A run fails before a scatter or range() would give it more calls than this. "
                  "Empty: the site default (BATCHSITE_DEFAULT_LIMITS).",
    )
    max_engine_state_bytes = models.PositiveBigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1024)],
        help_text="A run fails when its saved workflow state would be larger than this many bytes. "
                  "Empty: the site default (BATCHSITE_DEFAULT_LIMITS).",
    )
    cost_tags = models.JSONField(
        "cost allocation tags", default=dict, blank=True,
        help_text='Tags every AWS Batch job of the team carries besides batchsite:*, e.g. {"CostCenter": "CC-42"}.',
    )
    call_caching = models.BooleanField(
        default=True, help_text="Reuse the results of identical earlier calls (where the site enables call caching)."
    )
    cache_sharing_opt_in = models.BooleanField(
        "share call results", default=False,
        help_text="The team admin's consent: calls of the teams of the same sharing group may reuse this team's "
                  "results, and this team's calls theirs.",
    )
    cache_sharing_group = models.CharField(
        max_length=100, blank=True,
        help_text="Set by operators: teams of one group that all opted in share call results.",
    )
    cache_readable_prefixes = models.JSONField(
        default=list, blank=True,
        help_text="Where this team's jobs may read (s3://bucket/prefix/ or a local directory): another team's "
                  "results are reused only from under one of these.",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def limit(self, name: str) -> int:
        """Return the team's value of a limit, or the site default when the team has none."""
        value = getattr(self, name)
        return settings.BATCHSITE_DEFAULT_LIMITS[name] if value is None else value


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        SCIENTIST = "scientist", "Scientist"
        ADMIN = "admin", "Team admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SCIENTIST)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.get_role_display()})"

    @property
    def can_submit(self) -> bool:
        return self.role in (self.Role.SCIENTIST, self.Role.ADMIN)


class Project(models.Model):
    """A team's project: may narrow the team's prefix, role and cap, never widen them."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50)
    script_prefix = models.CharField(max_length=512, blank=True)
    job_role_arn = models.CharField("job role ARN", max_length=2048, blank=True)
    max_running_jobs = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "slug"], name="project_unique_team_slug")]
        ordering = ["team__name", "name"]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.slug}"

    def cap(self, team_cap: int) -> int:
        """Return how many of its calls may run at once under its team's cap: its own cap narrows it."""
        return min(self.max_running_jobs or team_cap, team_cap)


class Budget(models.Model):
    """What a team (or one of its projects) may spend in a calendar month; at 100 % new runs are refused."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="budgets")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, null=True, blank=True, related_name="budgets",
                                help_text="Empty: the whole team's budget.")
    monthly_limit = models.DecimalField(max_digits=12, decimal_places=2,
                                        help_text="In the price table's currency, per calendar month.")
    updated = models.DateTimeField(auto_now=True)

    WARN_AT = 80  # percent: the team's admins see a warning

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "project"], name="budget_unique_project"),
            models.UniqueConstraint(fields=["team"], condition=models.Q(project__isnull=True), name="budget_unique_team"),
            models.CheckConstraint(condition=models.Q(monthly_limit__gte=0), name="budget_not_negative"),
        ]
        ordering = ["team__name", "project__name"]

    def __str__(self) -> str:
        return f"team {self.team.slug}" + (f", project {self.project.slug}" if self.project_id else "")


class AuditEvent(models.Model):
    """Who did what in a team: submissions, aborts, relaunches, cleanups, cap and allowlist changes."""

    class Action(models.TextChoices):
        SUBMIT = "submit", "Submitted a run"
        ABORT = "abort", "Aborted a run"
        RELAUNCH = "relaunch", "Relaunched a run"
        RETRY = "retry", "Retried failed calls"
        LABELS = "labels", "Edited a run's labels"
        CLEANUP = "cleanup", "Cleaned up"
        TEAM_CHANGE = "team_change", "Changed the team's caps or allowlist"
        BUDGET = "budget", "Changed a budget"
        MEMBERSHIP = "membership", "Changed a membership"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="audit_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    target = models.CharField(max_length=200, blank=True, help_text="What it was done to, e.g. run <id>.")
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["team", "-created"], name="audit_team_created")]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.user} {self.get_action_display()} {self.target}"


class ApiToken(models.Model):
    """A user's token for the Cromwell-compatible API, sent as HTTP Basic (username:token); kept only hashed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. laptop cromshell.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False, help_text="SHA-256 of the token.")
    prefix = models.CharField(max_length=16, editable=False, help_text="The token's first characters, to tell tokens apart.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.user} {self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked is None
