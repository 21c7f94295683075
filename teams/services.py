"""Writes for teams, memberships and projects, and the guards on S3 prefixes and job roles."""
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from teams.models import ApiToken, AuditEvent, Budget, Membership, Project, Team

DEFAULT_SCRIPT_PREFIX = "scripts/"
# AWS's "safe characters" for object keys, plus the separator.
_PREFIX_CHARS = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
_PREFIX_MAX = 900  # leaves room under S3's 1,024-byte key limit for the script hash
ROLE_ARN_RE = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$"
)

_TAG_KEY = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
MAX_COST_TAGS = 10

OPTION_PREFIX = "aws_batch_script_bucket_prefix"
OPTION_ROLE = "aws_batch_job_role_arn"


def prefix_normalize(value: str | None) -> str:
    """Apply Cromwell's rule: empty -> scripts/, else as given with one trailing slash."""
    if not value:
        return DEFAULT_SCRIPT_PREFIX
    return value if value.endswith("/") else value + "/"


def prefix_check(value: str) -> str | None:
    """Return what is wrong with a script prefix, or None when it is a safe S3 key prefix."""
    if value.startswith("/"):
        return f"prefix {value!r} must not start with '/'"
    if "//" in value:
        return f"prefix {value!r} must not contain '//'"
    if ".." in value:
        return f"prefix {value!r} must not contain '..'"
    if not _PREFIX_CHARS.match(value):
        bad = sorted({c for c in value if not _PREFIX_CHARS.match(c)})
        return (
            f"prefix {value!r} has characters S3 keys should not hold: {''.join(bad)!r} "
            "(use letters, digits and ! - _ . * ' ( ) /)"
        )
    if any(part == "." for part in value.split("/")):
        return f"prefix {value!r} must not contain a '.' path segment"
    if len(value.encode()) > _PREFIX_MAX:
        return f"prefix is {len(value.encode())} bytes long; at most {_PREFIX_MAX} are allowed"
    return None


def role_arn_check(value: str) -> str | None:
    """Return what is wrong with an IAM role ARN's form, or None."""
    if not ROLE_ARN_RE.match(value):
        return f"{value!r} is not an IAM role ARN of the form arn:aws:iam::<12 digits>:role/<path/name>"
    return None


def prefix_guard(*, team: Team, prefix: str) -> str | None:
    """Return why a normalized prefix may not be used by the team, or None."""
    problem = prefix_check(prefix)
    if problem:
        return problem
    root = prefix_normalize(team.prefix_root) if team.prefix_root else ""
    if root and not prefix.startswith(root):
        return f"prefix {prefix!r} is not under team {team.slug}'s prefix root {root!r}"
    return None


def role_guard(*, team: Team, role_arn: str) -> str | None:
    """Return why a role ARN may not be used by the team, or None."""
    problem = role_arn_check(role_arn)
    if problem:
        return problem
    if role_arn not in team.allowed_role_arns:
        return f"role {role_arn} is not on team {team.slug}'s allowlist"
    return None


@dataclass(frozen=True)
class Target:
    """Where a run's scripts go and which role its jobs assume."""

    script_prefix: str
    job_role_arn: str  # empty: no role (the job definition's default)


def target_resolve(*, team: Team, options: dict, project: Project | None = None, workflow=None,
                   trusted: bool = False) -> Target:
    """Resolve the effective prefix and role (options over workflow over project over team) and guard them.

    trusted: the operator's own command line (run_wdl without --team), which, as Cromwell does, takes
    any well-formed role ARN and prefix; the team's allowlist and prefix root are not applied.
    """
    errors: dict[str, str] = {}
    explicit_prefix = options.get(OPTION_PREFIX)
    explicit_role = options.get(OPTION_ROLE)
    if explicit_prefix is not None and not isinstance(explicit_prefix, str):
        errors[OPTION_PREFIX] = f"{OPTION_PREFIX} must be a string"
        explicit_prefix = None
    if explicit_role is not None and not isinstance(explicit_role, str):
        errors[OPTION_ROLE] = f"{OPTION_ROLE} must be a string"
        explicit_role = None

    layers = [explicit_prefix, workflow and workflow.script_prefix, project and project.script_prefix, team.prefix_root]
    prefix = prefix_normalize(next((p for p in layers if p), ""))
    problem = prefix_check(prefix) if trusted else prefix_guard(team=team, prefix=prefix)
    if problem and OPTION_PREFIX not in errors:
        errors[OPTION_PREFIX] = problem

    roles = [explicit_role, workflow and workflow.job_role_arn, project and project.job_role_arn, team.default_role_arn]
    role = next((r for r in roles if r), "")
    if role:
        problem = role_arn_check(role) if trusted else role_guard(team=team, role_arn=role)
        if problem and OPTION_ROLE not in errors:
            errors[OPTION_ROLE] = problem
    if errors:
        raise ValidationError(errors)
    return Target(script_prefix=prefix, job_role_arn=role)


def team_validate(*, team: Team) -> None:
    """Check a team's prefix root, allowlist, default role and caps; raise ValidationError by field."""
    errors: dict[str, str] = {}
    if team.prefix_root:
        problem = prefix_check(prefix_normalize(team.prefix_root))
        if problem:
            errors["prefix_root"] = problem
    if not isinstance(team.allowed_role_arns, list) or not all(isinstance(a, str) for a in team.allowed_role_arns):
        errors["allowed_role_arns"] = "the allowlist must be a list of role ARNs"
    else:
        problems = [p for p in map(role_arn_check, team.allowed_role_arns) if p]
        if problems:
            errors["allowed_role_arns"] = "; ".join(problems)
        elif team.default_role_arn and team.default_role_arn not in team.allowed_role_arns:
            errors["default_role_arn"] = f"{team.default_role_arn} is not on the team's allowlist"
    if team.max_running_jobs is not None and team.max_running_jobs < 1:
        errors["max_running_jobs"] = "the cap must be at least 1"
    if problem := cost_tags_check(team.cost_tags):
        errors["cost_tags"] = problem
    if errors:
        raise ValidationError(errors)


def cost_tags_check(tags) -> str | None:
    """Return what is wrong with a team's cost allocation tags (AWS's tag rules, not batchsite:*), or None."""
    if not isinstance(tags, dict):
        return 'cost tags must be a JSON object of tag names to values, e.g. {"CostCenter": "CC-42"}'
    if len(tags) > MAX_COST_TAGS:
        return f"a team has at most {MAX_COST_TAGS} cost tags (AWS takes 50 tags a job, Batchsite and tasks use the rest)"
    for key, value in tags.items():
        if not _TAG_KEY.match(key) or key.lower().startswith(("aws:", "batchsite:")):
            return (f"cost tag {key!r}: a name is 1-128 letters, digits, spaces and _ . : / = + - @, "
                    "and not aws:* or batchsite:*")
        if not isinstance(value, str) or not _TAG_VALUE.match(value):
            return f"cost tag {key!r}: the value must be text of at most 256 letters, digits, spaces and _ . : / = + - @"
    return None


def narrowing_validate(*, team: Team, script_prefix: str, job_role_arn: str, max_running_jobs: int | None = None) -> None:
    """Check that a project's or workflow's settings narrow the team's, never widen them."""
    errors: dict[str, str] = {}
    if script_prefix:
        problem = prefix_guard(team=team, prefix=prefix_normalize(script_prefix))
        if problem:
            errors["script_prefix"] = problem
    if job_role_arn:
        problem = role_guard(team=team, role_arn=job_role_arn)
        if problem:
            errors["job_role_arn"] = problem
    if max_running_jobs is not None and max_running_jobs > team.max_running_jobs:
        errors["max_running_jobs"] = (
            f"a project cap of {max_running_jobs} exceeds team {team.slug}'s cap of {team.max_running_jobs}"
        )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def team_create(*, name: str, slug: str, prefix_root: str = "", allowed_role_arns: list[str] | None = None,
                default_role_arn: str = "", max_running_jobs: int = 8, max_queued_jobs: int | None = None) -> Team:
    """Create a team after checking its prefix root, allowlist and cap."""
    team = Team(
        name=name, slug=slug, prefix_root=prefix_root, allowed_role_arns=list(allowed_role_arns or []),
        default_role_arn=default_role_arn, max_running_jobs=max_running_jobs, max_queued_jobs=max_queued_jobs,
    )
    team_validate(team=team)
    team.full_clean()
    team.save()
    return team


def membership_set(*, team: Team, user, role: str) -> Membership:
    """Give a user a role in a team (adding them if needed)."""
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def project_create(*, team: Team, name: str, slug: str, script_prefix: str = "", job_role_arn: str = "",
                   max_running_jobs: int | None = None) -> Project:
    """Create a project that narrows its team's prefix, role and cap."""
    narrowing_validate(team=team, script_prefix=script_prefix, job_role_arn=job_role_arn,
                       max_running_jobs=max_running_jobs)
    project = Project(team=team, name=name, slug=slug, script_prefix=script_prefix,
                      job_role_arn=job_role_arn, max_running_jobs=max_running_jobs)
    project.full_clean()
    project.save()
    return project


def user_create(*, username: str, password: str, email: str = "", is_staff: bool = False):
    """Create a user (operators are staff and superusers of the admin site)."""
    User = get_user_model()
    if is_staff:
        return User.objects.create_superuser(username=username, password=password, email=email)
    return User.objects.create_user(username=username, password=password, email=email)


AUDITED_TEAM_FIELDS = ("prefix_root", "allowed_role_arns", "default_role_arn", "max_running_jobs", "max_queued_jobs",
                       "max_input_bytes_per_run", "max_input_bytes_per_value", "max_labels_per_run",
                       "max_runs_per_batch", "max_queued_runs",
                       "max_calls_per_run", "max_engine_state_bytes",
                       "cost_tags",
                       "call_caching", "cache_sharing_opt_in", "cache_sharing_group", "cache_readable_prefixes")
MAX_READABLE_PREFIXES = 50


def team_caching_set(*, team: Team, user, call_caching: bool, share: bool) -> AuditEvent | None:
    """Turn call caching on or off for the team and give or withdraw its consent to share results."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        before = team_values(team=team)
        team.call_caching, team.cache_sharing_opt_in = bool(call_caching), bool(share)
        team.save(update_fields=["call_caching", "cache_sharing_opt_in"])
        return team_change_record(team=team, user=user, before=before)


def readable_prefixes_validate(prefixes) -> list[str]:
    """Return the cleaned list of where a team's jobs may read; raise ValidationError naming the bad one."""
    if not isinstance(prefixes, list) or len(prefixes) > MAX_READABLE_PREFIXES:
        raise ValidationError({"cache_readable_prefixes": f"give at most {MAX_READABLE_PREFIXES} prefixes, one a line"})
    for prefix in prefixes:
        if not isinstance(prefix, str) or len(prefix) > 1024 or not re.fullmatch(r"(s3://[a-z0-9][a-z0-9.-]{1,62}|)/\S*", prefix) \
                or "/../" in prefix + "/":
            raise ValidationError({"cache_readable_prefixes": f"{str(prefix)[:100]!r} is neither s3://bucket/prefix/ "
                                                              "nor an absolute directory"})
    return prefixes


def team_values(*, team: Team) -> dict:
    """Return the team's caps, allowlist, default role and prefix root, as the audit trail records them."""
    return {name: getattr(team, name) for name in AUDITED_TEAM_FIELDS}


def team_change_record(*, team: Team, user, before: dict) -> AuditEvent | None:
    """Record which of the team's caps, allowlist, role or prefix changed (old and new values), if any."""
    after = team_values(team=team)
    changes = {name: {"old": before.get(name), "new": value} for name, value in after.items()
               if before.get(name) != value}
    if not changes:
        return None
    return audit_record(team=team, user=user, action=AuditEvent.Action.TEAM_CHANGE, target=f"team {team.slug}",
                        changes=changes)


def audit_record(*, team: Team, user, action: str, target: str = "", **details) -> AuditEvent:
    """Record an action in the team's audit trail."""
    return AuditEvent.objects.create(team=team, user=user if user and user.is_authenticated else None,
                                     action=action, target=target, details=details)


# ---- API tokens: shown once, stored as a SHA-256 hash ----------------------------------

API_TOKEN_PREFIX = "bst_"
_API_TOKEN_SHOWN = 12  # characters kept in clear to tell a user's tokens apart
_LAST_USED_EVERY = 60  # seconds: last_used is a hint, not a write on every request


def _api_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Create an API token for the user; return it and the secret, which is never shown again."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "give the token a name, e.g. the machine it is for"})
    if len(name) > 100:
        raise ValidationError({"name": "a token name is at most 100 characters"})
    if not name.isprintable():
        raise ValidationError({"name": "a token name may not hold a NUL or another control character"})
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, token_hash=_api_token_hash(secret),
                                    prefix=secret[:_API_TOKEN_SHOWN])
    return token, secret


def api_token_revoke(*, user, pk: int) -> ApiToken:
    """Revoke one of the user's tokens (404 for anyone else's); revoking twice is harmless."""
    token = ApiToken.objects.filter(user=user, pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    ApiToken.objects.filter(pk=token.pk, revoked__isnull=True).update(revoked=timezone.now())
    token.refresh_from_db()
    return token


def api_token_authenticate(*, username: str | None, secret: str):
    """Return the active user a live token belongs to (and matching username, when given), else None."""
    if not secret or len(secret) > 200:
        return None
    token = (ApiToken.objects.filter(token_hash=_api_token_hash(secret), revoked__isnull=True)
             .select_related("user").first())
    if token is None or not token.user.is_active:
        return None
    if username is not None and username != token.user.get_username():
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used > timedelta(seconds=_LAST_USED_EVERY):
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token.user


def budget_set(*, team: Team, project: Project | None = None, monthly_limit, user) -> Budget:
    """Set the monthly budget of a team (or one of its projects); the audit trail keeps old and new."""
    if project is not None and project.team_id != team.pk:
        raise ValidationError({"project": f"project {project} is not in team {team.slug}"})
    try:
        limit = Decimal(str(monthly_limit))
    except InvalidOperation:
        raise ValidationError({"monthly_limit": f"{monthly_limit!r} is not an amount"}) from None
    if not limit.is_finite() or limit < 0 or limit >= Decimal("1e10"):
        raise ValidationError({"monthly_limit": "the monthly budget must be a non-negative amount below 10,000,000,000"})
    with transaction.atomic():
        budget = Budget.objects.select_for_update().filter(team=team, project=project).order_by("pk").first()
        old = str(budget.monthly_limit) if budget else None
        if budget is None:
            budget = Budget(team=team, project=project)
        budget.monthly_limit = limit.quantize(Decimal("0.01"))
        budget.save()
        if old != str(budget.monthly_limit):
            audit_record(team=team, user=user, action=AuditEvent.Action.BUDGET, target=str(budget),
                         old=old, new=str(budget.monthly_limit))
    return budget


def budget_delete(*, budget: Budget, user) -> None:
    """Remove a budget (the team may then spend without limit); audited."""
    with transaction.atomic():
        audit_record(team=budget.team, user=user, action=AuditEvent.Action.BUDGET, target=str(budget),
                     old=str(budget.monthly_limit), new=None)
        budget.delete()


def team_cost_tags_set(*, team: Team, tags, user) -> Team:
    """Set the cost allocation tags every job of the team carries (a team admin's choice); audited."""
    if problem := cost_tags_check(tags):
        raise ValidationError({"cost_tags": problem})
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        before = team_values(team=team)
        team.cost_tags = tags
        team.save(update_fields=["cost_tags"])
        team_change_record(team=team, user=user, before=before)
    return team
