"""Read a Cromwell-style HOCON config file into typed, frozen dataclasses.

Plain Python (no Django), so it can be loaded and tested anywhere; hocon.py reads the text.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
import os
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from batchsite.hocon import (
    DEFAULTS_DIR, MISSING, ConfigError, integer, join, obj, parse, read_file, show, string, value_at,
)

AWS_BATCH_FACTORY = "cromwell.backend.impl.aws.AwsBatchBackendLifecycleActorFactory"
LOCAL_FACTORY = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
KINDS = {AWS_BATCH_FACTORY: "aws_batch", LOCAL_FACTORY: "local"}
ENV_VAR = "BATCHSITE_CONFIG"
DEFAULT_CONFIG = DEFAULTS_DIR / "application.conf"
AUTH_SCHEMES = ("default", "custom_keys", "assume_role")
LOCAL_DUPLICATION = ("hard-link", "soft-link", "copy")  # Cromwell's names, in its default order
S3_DUPLICATION = ("copy", "reference")
LOCAL_SUBMIT = "${job_shell} ${script}"

# Values under these keys are wrapped in Secret wherever they are kept.
_SECRET_KEYS = frozenset({"token", "access-key", "secret-key", "password"})
_PLACEHOLDER = re.compile(r"<[A-Za-z][\w .-]*>")
# Cromwell's own patterns (AwsBatchRuntimeAttributes.scala), so what Cromwell accepts passes.
_BUCKET = re.compile(
    r"(?=^.{3,63}$)(?!^(\d+\.)+\d+$)^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
)
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+){0,2}:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_QUEUE_ARN = re.compile(r"^arn:aws(-[a-z]+){0,2}:batch:[a-z]{2}(-[a-z]+){1,2}-\d:\d{12}:job-queue/[\w-]{1,128}$")


@dataclasses.dataclass(frozen=True, repr=False)
class Secret:
    """A credential from the config: prints as ****."""

    value: str

    def reveal(self) -> str:
        """Return the credential itself, for the one place that must use it."""
        return self.value

    def __str__(self) -> str:
        return "****"

    __repr__ = __str__


@dataclasses.dataclass(frozen=True)
class AuthConfig:
    name: str
    scheme: str  # one of AUTH_SCHEMES
    access_key: Secret | None = None
    secret_key: Secret | None = None
    role_arn: str | None = None
    base_auth: str | None = None
    external_id: str | None = None


@dataclasses.dataclass(frozen=True)
class AwsConfig:
    application_name: str
    region: str | None  # None: boto3's default chain decides
    auths: tuple[AuthConfig, ...]

    def auth(self, name: str) -> AuthConfig | None:
        """Return the auth of that name, or None."""
        return next((a for a in self.auths if a.name == name), None)


@dataclasses.dataclass(frozen=True)
class DockerHub:
    account: str | None
    token: Secret | None  # a Secrets Manager ARN, or Cromwell's raw token

    @property
    def secret_arn(self) -> str:
        token = self.token.reveal() if self.token else ""
        return token if token.startswith("arn:aws:secretsmanager:") else ""

    def login(self) -> tuple[str, str] | None:
        """Return (username, password) of a raw token: base64 of "username:password" as Cromwell
        takes it, else the token itself as the account's password; None without a raw token."""
        token = self.token.reveal() if self.token else ""
        if not token or self.secret_arn:
            return None
        try:
            username, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            sep = ""
        if sep and username and password:
            return username, password
        return (self.account, token) if self.account else None


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """A local provider's `sandbox` block: how its calls run under bubblewrap (README, Sandbox)."""

    bwrap: str = "bwrap"  # the bubblewrap binary: a name on PATH or a path
    allow_network: bool = False
    trusted_single_user: bool = False  # without bubblewrap, run calls unsandboxed rather than refuse them
    read_only_paths: tuple[str, ...] = ()  # host paths every call may also read (tools, references)


@dataclasses.dataclass(frozen=True)
class ProviderConfig:
    name: str
    actor_factory: str
    kind: str  # "aws_batch" or "local"
    root: str  # s3://bucket/prefix for aws_batch; a path, maybe relative, for local
    concurrent_job_limit: int | None  # None: no limit
    dockerhub: DockerHub | None
    auth: str | None
    num_submit_attempts: int
    num_create_definition_attempts: int
    default_runtime_attributes: Mapping[str, Any]
    queue_arn: str | None
    script_bucket_name: str | None
    s3_auth: str | None
    duplication_strategy: str | None
    # Batchsite's own: the ECS execution role a job definition needs to pull with repositoryCredentials.
    execution_role_arn: str | None
    # The whole `config` block, unknown keys included (Cromwell keeps them too), secrets wrapped.
    raw: Mapping[str, Any] = dataclasses.field(repr=False)
    sandbox: SandboxConfig = SandboxConfig()  # local providers only
    # filesystems.local.caching.duplication-strategy: how a cache hit brings outputs in, first that works.
    local_duplication: tuple[str, ...] = LOCAL_DUPLICATION


@dataclasses.dataclass(frozen=True)
class CallCaching:
    """Cromwell's call-caching stanza: off unless enabled."""

    enabled: bool = False
    invalidate_bad_cache_results: bool = True
    max_result_age_days: int | None = None  # None: results never age out


@dataclasses.dataclass(frozen=True)
class BatchsiteConfig:
    default_backend: str
    providers: Mapping[str, ProviderConfig]
    aws: AwsConfig
    notes: tuple[str, ...] = ()
    call_caching: CallCaching = CallCaching()
    # (key path, placeholder) for values still holding Cromwell's "<...>" examples.
    placeholders: tuple[tuple[str, str], ...] = ()
    source: str = ""
    # URL prefixes a submission's workflowUrl may start with (workflow-url.allowed-prefixes); none: refused.
    workflow_url_prefixes: tuple[str, ...] = ()

    def provider(self, name: str | None = None) -> ProviderConfig:
        """Return the named provider (default: backend.default) if no placeholder is left in it."""
        name = name or self.default_backend
        if name not in self.providers:
            raise ConfigError(f'backend.providers: no provider named "{name}"', file=self.source)
        provider = self.providers[name]
        # An AWS Batch provider also needs the aws stanza (region) filled in.
        prefixes = (f"backend.providers.{name}.",) + (("aws.",) if provider.kind == "aws_batch" else ())
        for key, text in self.placeholders:
            if key.startswith(prefixes):
                raise ConfigError(f'{key}: placeholder "{text}" must be replaced', file=self.source)
        return provider


def load_config(path: str | os.PathLike | None = None) -> BatchsiteConfig:
    """Load the config from path, else $BATCHSITE_CONFIG, else the built-in default."""
    path = Path(path or os.environ.get(ENV_VAR) or DEFAULT_CONFIG)
    return parse_config_text(read_file(path), base_dir=path.resolve().parent, source=str(path))


def parse_config_text(text: str, *, base_dir: str | os.PathLike, source: str = "<text>") -> BatchsiteConfig:
    """Parse HOCON text whose relative includes resolve against base_dir."""
    notes: list[str] = []
    try:
        return _build(parse(text, base_dir=Path(base_dir), source=source, notes=notes), notes, source)
    except ConfigError as exc:
        raise ConfigError(exc.problem, file=exc.file or source) from None


@functools.lru_cache(maxsize=1)
def get_config() -> BatchsiteConfig:
    """Return this process's config, loaded once (get_config.cache_clear() forgets it)."""
    return load_config()


def describe(config: BatchsiteConfig) -> str:
    """Return a short summary of what was understood, secrets masked."""
    lines = [f"config: {config.source}", f"default backend: {config.default_backend}"]
    for p in config.providers.values():
        lines += [f"provider {p.name}: {p.kind} ({p.actor_factory})", f"  root: {p.root}"]
        if p.kind == "aws_batch":
            lines.append(f"  queue: {p.queue_arn or '(none: every task must set queueArn)'}")
            lines.append(f"  script bucket: {p.script_bucket_name}")
            lines.append(f"  execution role (private registries): {p.execution_role_arn or '(none)'}")
        if p.kind == "local":
            box = p.sandbox
            lines.append(f"  sandbox: bubblewrap ({box.bwrap}), network {'allowed' if box.allow_network else 'none'}"
                         + (", trusted single-user (runs unsandboxed without bubblewrap)" if box.trusted_single_user else ""))
        limit = "no limit" if p.concurrent_job_limit is None else p.concurrent_job_limit
        lines.append(f"  concurrent-job-limit: {limit}")
        if p.auth:
            scheme = getattr(config.aws.auth(p.auth), "scheme", "?")
            lines.append(f"  auth: {p.auth} (scheme {scheme}), s3 auth: {p.s3_auth}")
        if p.dockerhub:
            hub = p.dockerhub
            lines.append(f"  dockerhub: account {hub.account or '(none)'}, token {hub.token or '(none)'}")
    caching = config.call_caching
    lines.append(f"call-caching: {'enabled' if caching.enabled else 'off'}" + (
        f", invalidate-bad-cache-results {str(caching.invalidate_bad_cache_results).lower()}, max-result-age-days "
        f"{caching.max_result_age_days or 'none'}" if caching.enabled else ""))
    lines.append(f"workflow-url.allowed-prefixes: {', '.join(config.workflow_url_prefixes) or '(none: workflowUrl refused)'}")
    auths = ", ".join(f"{a.name} ({a.scheme})" for a in config.aws.auths)
    region = config.aws.region or "(boto3 default)"
    lines.append(f"aws: application {config.aws.application_name}, region {region}, auths {auths}")
    lines += [f"note: {n}" for n in config.notes]
    lines += [f'placeholder: {key} = "{text}"' for key, text in config.placeholders]
    return "\n".join(lines)


def _freeze(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v, k) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return Secret(value) if key in _SECRET_KEYS and isinstance(value, str) else value


def _placeholder(value: str | None) -> str | None:
    match = _PLACEHOLDER.search(value or "")
    return match.group(0) if match else None


def _build(tree: Mapping, notes: list[str], source: str) -> BatchsiteConfig:
    placeholders: list[tuple[str, str]] = []
    aws = _aws(obj(tree, "aws", ""), notes, placeholders)
    providers = {
        name: _provider(name, value, aws, notes, placeholders)
        for name, value in obj(tree, "backend.providers", "").items()
    }
    if not providers:
        raise ConfigError("backend.providers: no backend providers are defined")
    only = next(iter(providers)) if len(providers) == 1 else None
    default = string(tree, "backend.default", "", default=only)
    if default is None:
        raise ConfigError(f"backend.default: missing; name one of {', '.join(providers)}")
    if default not in providers:
        raise ConfigError(f'backend.default: "{default}" is not among backend.providers ({", ".join(providers)})')
    return BatchsiteConfig(
        default_backend=default, providers=MappingProxyType(providers), aws=aws,
        notes=tuple(notes), placeholders=tuple(placeholders), source=source,
        call_caching=_call_caching(obj(tree, "call-caching", "")),
        workflow_url_prefixes=_url_prefixes(tree, "allowed-prefixes", "workflow-url"),
    )


def _url_prefixes(tree: Mapping, key: str, path: str) -> tuple[str, ...]:
    value = value_at(tree, f"{path}.{key}", "")
    if value is MISSING:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{join(path, key)}: expected a list of URL prefixes, got {show(value)}")
    for item in value:
        # a prefix must end its host ("https://host/"), so "https://host" cannot also allow "https://host.evil"
        if not isinstance(item, str) or not re.fullmatch(r"https?://[^/?#@\s]+/\S*", item):
            raise ConfigError(f"{join(path, key)}: {show(item)} is not an http(s) URL prefix ending its host "
                              'with "/", such as "https://raw.githubusercontent.com/my-org/"')
    return tuple(value)


def _bool(tree: Mapping, key: str, path: str, *, default: bool) -> bool:
    value = value_at(tree, key, path)
    if value is MISSING:
        return default
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
        return value.strip().lower() in ("true", "yes", "on")  # HOCON's unquoted booleans
    if not isinstance(value, bool):
        raise ConfigError(f"{join(path, key)}: expected true or false, got {show(value)}")
    return value


def _call_caching(tree: Mapping) -> CallCaching:
    return CallCaching(
        enabled=_bool(tree, "enabled", "call-caching", default=False),
        invalidate_bad_cache_results=_bool(tree, "invalidate-bad-cache-results", "call-caching", default=True),
        max_result_age_days=integer(tree, "max-result-age-days", "call-caching"),
    )


def _local_duplication(conf: Mapping, cpath: str) -> tuple[str, ...]:
    key = "filesystems.local.caching.duplication-strategy"
    value = value_at(conf, key, cpath)
    if value is MISSING:
        return LOCAL_DUPLICATION
    strategies = [value] if isinstance(value, str) else value
    if not isinstance(strategies, list) or not strategies or any(s not in LOCAL_DUPLICATION for s in strategies):
        raise ConfigError(f"{cpath}.{key}: expected a list of {', '.join(LOCAL_DUPLICATION)}, got {show(value)}")
    return tuple(strategies)


def _aws(tree: Mapping, notes: list[str], placeholders: list[tuple[str, str]]) -> AwsConfig:
    region = string(tree, "region", "aws")
    if _placeholder(region):
        placeholders.append(("aws.region", _placeholder(region)))
    items = value_at(tree, "auths", "aws")
    if items is MISSING:
        items = [{"name": "default", "scheme": "default"}]
    if not isinstance(items, list):
        raise ConfigError(f"aws.auths: expected a list, got {show(items)}")
    auths: list[AuthConfig] = []
    for i, item in enumerate(items):
        path = f"aws.auths[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{path}: expected an object, got {show(item)}")
        name, scheme = string(item, "name", path, required=True), string(item, "scheme", path, required=True)
        if any(a.name == name for a in auths):
            raise ConfigError(f'{path}.name: duplicate auth name "{name}"')
        if scheme == "default":
            auths.append(AuthConfig(name, scheme))
        elif scheme == "custom_keys":
            access, secret = (string(item, k, path, required=True) for k in ("access-key", "secret-key"))
            auths.append(AuthConfig(name, scheme, access_key=Secret(access), secret_key=Secret(secret)))
            notes.append(
                f'{path} "{name}": custom_keys are read but not used; Batchsite takes AWS credentials '
                "only from boto3's default chain (environment, ~/.aws, instance or task role)"
            )
        elif scheme == "assume_role":
            role, base = string(item, "role-arn", path, required=True), string(item, "base-auth", path, required=True)
            auths.append(AuthConfig(name, scheme, role_arn=role, base_auth=base,
                                    external_id=string(item, "external-id", path)))
            notes.append(
                f'{path} "{name}": assume_role is read but not used; Batchsite takes AWS credentials only '
                "from boto3's default chain (for a role, name it in a profile of ~/.aws/config and set AWS_PROFILE)"
            )
        else:
            raise ConfigError(f'{path}.scheme: unsupported scheme "{scheme}" (expected {", ".join(AUTH_SCHEMES)})')
    return AwsConfig(string(tree, "application-name", "aws", default="cromwell"), region, tuple(auths))


def _provider(name: str, tree: Any, aws: AwsConfig, notes: list[str],
              placeholders: list[tuple[str, str]]) -> ProviderConfig:
    path = f"backend.providers.{name}"
    if not isinstance(tree, Mapping):
        raise ConfigError(f"{path}: expected an object, got {show(tree)}")
    factory = string(tree, "actor-factory", path, required=True)
    if factory not in KINDS:
        raise ConfigError(
            f'{path}.actor-factory: unsupported backend "{factory}"; Batchsite runs '
            f"{AWS_BATCH_FACTORY} (AWS Batch) and {LOCAL_FACTORY} (Local)"
        )
    kind = KINDS[factory]
    cpath, conf = f"{path}.config", obj(tree, "config", path)
    rpath, runtime = f"{cpath}.default-runtime-attributes", obj(conf, "default-runtime-attributes", cpath)
    hub = obj(conf, "dockerhub", cpath)
    token = string(hub, "token", f"{cpath}.dockerhub")
    fields = dict(
        name=name,
        actor_factory=factory,
        kind=kind,
        root=string(conf, "root", cpath, required=kind == "aws_batch", default="cromwell-executions"),
        concurrent_job_limit=integer(conf, "concurrent-job-limit", cpath),
        dockerhub=DockerHub(string(hub, "account", f"{cpath}.dockerhub"), Secret(token) if token else None)
        if hub else None,
        auth=string(conf, "auth", cpath),
        num_submit_attempts=integer(conf, "numSubmitAttempts", cpath, default=6),
        num_create_definition_attempts=integer(conf, "numCreateDefinitionAttempts", cpath, default=6),
        default_runtime_attributes=_freeze(runtime),
        queue_arn=string(runtime, "queueArn", rpath),
        script_bucket_name=string(runtime, "scriptBucketName", rpath) or None,
        s3_auth=string(conf, "filesystems.s3.auth", cpath),
        duplication_strategy=string(conf, "filesystems.s3.caching.duplication-strategy", cpath),
        execution_role_arn=string(conf, "execution-role-arn", cpath),
        raw=_freeze(conf),
        local_duplication=_local_duplication(conf, cpath),
    )
    if kind == "aws_batch":
        fields.update(_aws_batch_fields(fields, cpath, aws, notes, placeholders))
    else:
        fields["sandbox"] = _sandbox(obj(conf, "sandbox", cpath), f"{cpath}.sandbox")
    if kind == "local" and string(conf, "submit", cpath) not in (None, LOCAL_SUBMIT):
        # An SFS provider for SLURM, SGE, ... would still run here as a local process.
        notes.append(f"{cpath}.submit: ignored; Batchsite runs every local call as a bash process")
    return ProviderConfig(**fields)


def _sandbox(tree: Mapping, path: str) -> SandboxConfig:
    for key in tree:
        if key not in ("bwrap", "allow-network", "trusted-single-user", "read-only-paths"):
            raise ConfigError(f"{path}.{key}: unknown key (expected bwrap, allow-network, trusted-single-user, "
                              "read-only-paths)")
    flags = {}
    for key in ("allow-network", "trusted-single-user"):
        value = value_at(tree, key, path)
        if value is not MISSING and not isinstance(value, bool):
            raise ConfigError(f"{path}.{key}: expected true or false, got {show(value)}")
        flags[key] = value is True
    paths = value_at(tree, "read-only-paths", path)
    paths = [] if paths is MISSING else paths
    if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
        raise ConfigError(f'{path}.read-only-paths: expected a list of absolute paths, like ["/opt/tools"]')
    return SandboxConfig(bwrap=string(tree, "bwrap", path, default="bwrap"), allow_network=flags["allow-network"],
                         trusted_single_user=flags["trusted-single-user"], read_only_paths=tuple(paths))


def _aws_batch_fields(fields: dict, cpath: str, aws: AwsConfig, notes: list[str],
                      placeholders: list[tuple[str, str]]) -> dict:
    """Check an AWS Batch provider's fields and return the ones that take a default."""
    rpath = f"{cpath}.default-runtime-attributes"
    root, queue, bucket = fields["root"], fields["queue_arn"], fields["script_bucket_name"]
    for key, value in ((f"{cpath}.root", root), (f"{rpath}.queueArn", queue), (f"{rpath}.scriptBucketName", bucket)):
        if _placeholder(value):
            placeholders.append((key, _placeholder(value)))
    match = re.fullmatch(r"s3://([^/]+)(/.*)?", root)
    if not match:
        raise ConfigError(f'{cpath}.root: expected an S3 URL like "s3://bucket/cromwell-execution", got "{root}"')
    root_bucket = match.group(1)
    if not _placeholder(root_bucket) and not _BUCKET.match(root_bucket):
        raise ConfigError(f'{cpath}.root: "{root_bucket}" is not a valid S3 bucket name')
    if bucket is None:
        # Cromwell issue #6832: older configs have no scriptBucketName; scripts go beside the root.
        bucket = root_bucket
        notes.append(f'{rpath}.scriptBucketName: not set; using "{root_bucket}", the bucket of root')
    elif not _placeholder(bucket) and not _BUCKET.match(bucket):
        raise ConfigError(f'{rpath}.scriptBucketName: expected a bare bucket name like "my-bucket", got "{bucket}"')
    if queue is not None and not _placeholder(queue) and not _QUEUE_ARN.match(queue):
        raise ConfigError(
            f'{rpath}.queueArn: expected a job queue ARN like '
            f'"arn:aws:batch:us-east-1:123456789012:job-queue/NAME", got "{queue}"'
        )
    role = fields["execution_role_arn"]
    if role is not None and not _placeholder(role) and not _ROLE_ARN.match(role):
        raise ConfigError(
            f'{cpath}.execution-role-arn: expected an IAM role ARN like "arn:aws:iam::123456789012:role/NAME", got "{role}"'
        )
    hub = fields["dockerhub"]
    if hub and hub.token and not _placeholder(hub.token.reveal()) and not hub.secret_arn and not hub.login():
        raise ConfigError(
            f"{cpath}.dockerhub.token: expected a Secrets Manager secret ARN, base64 of "
            '"username:password", or a token with dockerhub.account set'
        )
    auth = fields["auth"] or "default"
    s3_auth = fields["s3_auth"] or auth
    for key, value in ((f"{cpath}.auth", auth), (f"{cpath}.filesystems.s3.auth", s3_auth)):
        if aws.auth(value) is None:
            known = ", ".join(a.name for a in aws.auths)
            raise ConfigError(f'{key}: no auth named "{value}" in aws.auths (known: {known})')
    strategy = fields["duplication_strategy"] or "copy"
    if strategy not in S3_DUPLICATION:
        raise ConfigError(
            f'{cpath}.filesystems.s3.caching.duplication-strategy: expected "copy" or "reference", got "{strategy}"'
        )
    return {"script_bucket_name": bucket, "auth": auth, "s3_auth": s3_auth, "duplication_strategy": strategy}
