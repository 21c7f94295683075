"""Read a Cromwell-style HOCON config file into typed, frozen dataclasses.

Plain Python and pyhocon only (no Django), so it can be loaded and tested anywhere.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
import json
import os
import re
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from pyhocon import ConfigFactory
from pyhocon.exceptions import ConfigException
from pyparsing import ParseBaseException

AWS_BATCH_FACTORY = "cromwell.backend.impl.aws.AwsBatchBackendLifecycleActorFactory"
LOCAL_FACTORY = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
KINDS = {AWS_BATCH_FACTORY: "aws_batch", LOCAL_FACTORY: "local"}
ENV_VAR = "BATCHSITE_CONFIG"
DEFAULTS_DIR = Path(__file__).resolve().with_name("defaults")
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
# An include directive at the start of a line or just after "{". Found by hand because
# pyhocon's grammar rejects classpath(...), which every real Cromwell config starts with.
_INCLUDE = re.compile(
    r"""(?P<lead>^[ \t]*|\{[ \t]*)include[ \t]+
    (?P<required>required[ \t]*\([ \t]*)?
    (?:(?P<kind>classpath|file|url|package)[ \t]*\([ \t]*)?
    "(?P<name>[^"\n]*)"
    (?P<close>(?:[ \t]*\))*)""",
    re.MULTILINE | re.VERBOSE,
)
_MISSING = object()


class ConfigError(ValueError):
    """A config Batchsite cannot use; the message names the file and the key path."""

    def __init__(self, problem: str, *, file: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.file = file

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}" if self.file else self.problem


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
    return parse_config_text(_read(path), base_dir=path.resolve().parent, source=str(path))


def parse_config_text(text: str, *, base_dir: str | os.PathLike, source: str = "<text>") -> BatchsiteConfig:
    """Parse HOCON text whose relative includes resolve against base_dir."""
    notes: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="batchsite-config-") as workdir:
            includer = _Includer(Path(workdir), notes)
            rewritten = includer.rewrite(text, source, Path(base_dir))
            try:
                tree = ConfigFactory.parse_string(rewritten, basedir=str(base_dir))
            except (ParseBaseException, ConfigException) as exc:
                raise ConfigError(includer.unmap(_parse_problem(exc))) from None
        return _build(tree.as_plain_ordered_dict(), notes, source)
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
    auths = ", ".join(f"{a.name} ({a.scheme})" for a in config.aws.auths)
    region = config.aws.region or "(boto3 default)"
    lines.append(f"aws: application {config.aws.application_name}, region {region}, auths {auths}")
    lines += [f"note: {n}" for n in config.notes]
    lines += [f'placeholder: {key} = "{text}"' for key, text in config.placeholders]
    return "\n".join(lines)


class _Includer:
    """Copy included files into workdir with every include made an absolute file include."""

    def __init__(self, workdir: Path, notes: list[str]):
        self.workdir, self.notes = workdir, notes
        self.copies: dict[Path, Path] = {}
        self.sources: dict[str, str] = {}  # copy -> the file it came from, for messages
        self.stack: list[Path] = []

    def unmap(self, message: str) -> str:
        for copy, source in self.sources.items():
            message = message.replace(copy, source)
        return message

    def rewrite(self, text: str, source: str, base_dir: Path) -> str:
        # Each file is syntax-checked alone first, so an error names the file it is in.
        try:
            ConfigFactory.parse_string(_INCLUDE.sub(lambda m: m.group("lead"), text), resolve=False)
        except (ParseBaseException, ConfigException) as exc:
            raise ConfigError(_parse_problem(exc), file=source) from None
        return _INCLUDE.sub(lambda m: self._replace(m, text, source, base_dir), text)

    def _replace(self, match: re.Match, text: str, source: str, base_dir: Path) -> str:
        lead, kind, name = match.group("lead"), match.group("kind"), match.group("name")
        required = bool(match.group("required"))
        line = text.count("\n", 0, match.start("name")) + 1
        where = f"line {line}: {match.group(0)[len(lead):].strip()}"
        if match.group("close").count(")") != required + bool(kind):
            raise ConfigError(f"{where}: unbalanced parentheses", file=source)
        if kind in ("url", "package"):
            raise ConfigError(f"{where}: {kind}(...) includes are not supported; include a file", file=source)
        # Cromwell finds classpath resources in its jar; Batchsite in its defaults folder.
        found = _existing((DEFAULTS_DIR if kind == "classpath" else base_dir) / name)
        if found is None and required and kind == "classpath":
            known = ", ".join(sorted(p.name for p in DEFAULTS_DIR.glob("*.conf")))
            raise ConfigError(f'{where}: Batchsite bundles no resource "{name}" (it has {known})', file=source)
        if found is None and required:
            raise ConfigError(f'{where}: no file "{base_dir / name}"', file=source)
        if found is None:  # HOCON skips an include that is not there unless it is required
            self.notes.append(f"{source}: {where}: not found, skipped")
            return lead
        return f"{lead}include required(file({json.dumps(str(self._copy(found)))}))"

    def _copy(self, path: Path) -> Path:
        if path in self.stack:
            raise ConfigError("include cycle: " + " -> ".join(str(p) for p in self.stack + [path]))
        if path not in self.copies:
            self.stack.append(path)
            text = _read(path)
            rewritten = self.rewrite(text, str(path), path.parent)
            self.stack.pop()
            # Only files with includes are copied (workdir is 0700 and deleted right after
            # parsing), so a file holding keys and no includes is never written anywhere.
            copy = path
            if rewritten != text:
                copy = self.workdir / f"{len(self.copies)}-{path.name}"
                copy.write_text(rewritten, encoding="utf-8")
                self.sources[str(copy)] = str(path)
            self.copies[path] = copy
        return self.copies[path]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read: not UTF-8 text (byte {exc.start})", file=str(path)) from None


def _existing(path: Path) -> Path | None:
    # HOCON lets an include leave out the .conf extension.
    for candidate in (path, path.with_name(path.name + ".conf")):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _parse_problem(exc: Exception) -> str:
    if isinstance(exc, ParseBaseException):
        return f"HOCON syntax error at line {exc.lineno}, column {exc.col}: {exc.msg}"
    return f"HOCON error: {exc}"


def _show(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple)):
        return "an object" if isinstance(value, Mapping) else "a list"
    return json.dumps(value) if isinstance(value, (str, bool)) or value is None else str(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _at(tree: Mapping, key: str, path: str) -> Any:
    """Return the value at dotted key under tree (whose own key path is path), or _MISSING."""
    for part in key.split("."):
        if not isinstance(tree, Mapping):
            raise ConfigError(f"{path}: expected an object, got {_show(tree)}")
        if tree.get(part) is None:  # HOCON null counts as unset
            return _MISSING
        tree, path = tree[part], _join(path, part)
    return tree


def _obj(tree: Mapping, key: str, path: str) -> Mapping:
    value = _at(tree, key, path)
    if value is not _MISSING and not isinstance(value, Mapping):
        raise ConfigError(f"{_join(path, key)}: expected an object, got {_show(value)}")
    return {} if value is _MISSING else value


def _str(tree: Mapping, key: str, path: str, *, required: bool = False, default: str | None = None) -> str | None:
    value = _at(tree, key, path)
    if value is _MISSING and required:
        raise ConfigError(f"{_join(path, key)}: missing (required)")
    if value is _MISSING:
        return default
    if isinstance(value, (Mapping, list, bool)):
        raise ConfigError(f"{_join(path, key)}: expected a string, got {_show(value)}")
    return str(value)


def _int(tree: Mapping, key: str, path: str, *, default: int | None = None) -> int | None:
    value = _at(tree, key, path)
    if value is _MISSING:
        return default
    # A quoted number is that number, as with Typesafe Config's getInt.
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{path}.{key}: expected an integer, got {_show(value)}")
    if value < 1:
        raise ConfigError(f"{path}.{key}: expected a positive integer, got {value}")
    return value


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
    aws = _aws(_obj(tree, "aws", ""), notes, placeholders)
    providers = {
        name: _provider(name, value, aws, notes, placeholders)
        for name, value in _obj(tree, "backend.providers", "").items()
    }
    if not providers:
        raise ConfigError("backend.providers: no backend providers are defined")
    only = next(iter(providers)) if len(providers) == 1 else None
    default = _str(tree, "backend.default", "", default=only)
    if default is None:
        raise ConfigError(f"backend.default: missing; name one of {', '.join(providers)}")
    if default not in providers:
        raise ConfigError(f'backend.default: "{default}" is not among backend.providers ({", ".join(providers)})')
    return BatchsiteConfig(
        default_backend=default, providers=MappingProxyType(providers), aws=aws,
        notes=tuple(notes), placeholders=tuple(placeholders), source=source,
        call_caching=_call_caching(_obj(tree, "call-caching", "")),
    )


def _bool(tree: Mapping, key: str, path: str, *, default: bool) -> bool:
    value = _at(tree, key, path)
    if value is _MISSING:
        return default
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
        return value.strip().lower() in ("true", "yes", "on")  # HOCON's unquoted booleans
    if not isinstance(value, bool):
        raise ConfigError(f"{_join(path, key)}: expected true or false, got {_show(value)}")
    return value


def _call_caching(tree: Mapping) -> CallCaching:
    return CallCaching(
        enabled=_bool(tree, "enabled", "call-caching", default=False),
        invalidate_bad_cache_results=_bool(tree, "invalidate-bad-cache-results", "call-caching", default=True),
        max_result_age_days=_int(tree, "max-result-age-days", "call-caching"),
    )


def _local_duplication(conf: Mapping, cpath: str) -> tuple[str, ...]:
    key = "filesystems.local.caching.duplication-strategy"
    value = _at(conf, key, cpath)
    if value is _MISSING:
        return LOCAL_DUPLICATION
    strategies = [value] if isinstance(value, str) else value
    if not isinstance(strategies, list) or not strategies or any(s not in LOCAL_DUPLICATION for s in strategies):
        raise ConfigError(f"{cpath}.{key}: expected a list of {', '.join(LOCAL_DUPLICATION)}, got {_show(value)}")
    return tuple(strategies)


def _aws(tree: Mapping, notes: list[str], placeholders: list[tuple[str, str]]) -> AwsConfig:
    region = _str(tree, "region", "aws")
    if _placeholder(region):
        placeholders.append(("aws.region", _placeholder(region)))
    items = _at(tree, "auths", "aws")
    if items is _MISSING:
        items = [{"name": "default", "scheme": "default"}]
    if not isinstance(items, list):
        raise ConfigError(f"aws.auths: expected a list, got {_show(items)}")
    auths: list[AuthConfig] = []
    for i, item in enumerate(items):
        path = f"aws.auths[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{path}: expected an object, got {_show(item)}")
        name, scheme = _str(item, "name", path, required=True), _str(item, "scheme", path, required=True)
        if any(a.name == name for a in auths):
            raise ConfigError(f'{path}.name: duplicate auth name "{name}"')
        if scheme == "default":
            auths.append(AuthConfig(name, scheme))
        elif scheme == "custom_keys":
            access, secret = (_str(item, k, path, required=True) for k in ("access-key", "secret-key"))
            auths.append(AuthConfig(name, scheme, access_key=Secret(access), secret_key=Secret(secret)))
            notes.append(
                f'{path} "{name}": custom_keys are read but not used; Batchsite takes AWS credentials '
                "only from boto3's default chain (environment, ~/.aws, instance or task role)"
            )
        elif scheme == "assume_role":
            role, base = _str(item, "role-arn", path, required=True), _str(item, "base-auth", path, required=True)
            auths.append(AuthConfig(name, scheme, role_arn=role, base_auth=base,
                                    external_id=_str(item, "external-id", path)))
            notes.append(
                f'{path} "{name}": assume_role is read but not used; Batchsite takes AWS credentials only '
                "from boto3's default chain (for a role, name it in a profile of ~/.aws/config and set AWS_PROFILE)"
            )
        else:
            raise ConfigError(f'{path}.scheme: unsupported scheme "{scheme}" (expected {", ".join(AUTH_SCHEMES)})')
    return AwsConfig(_str(tree, "application-name", "aws", default="cromwell"), region, tuple(auths))


def _provider(name: str, tree: Any, aws: AwsConfig, notes: list[str],
              placeholders: list[tuple[str, str]]) -> ProviderConfig:
    path = f"backend.providers.{name}"
    if not isinstance(tree, Mapping):
        raise ConfigError(f"{path}: expected an object, got {_show(tree)}")
    factory = _str(tree, "actor-factory", path, required=True)
    if factory not in KINDS:
        raise ConfigError(
            f'{path}.actor-factory: unsupported backend "{factory}"; Batchsite runs '
            f"{AWS_BATCH_FACTORY} (AWS Batch) and {LOCAL_FACTORY} (Local)"
        )
    kind = KINDS[factory]
    cpath, conf = f"{path}.config", _obj(tree, "config", path)
    rpath, runtime = f"{cpath}.default-runtime-attributes", _obj(conf, "default-runtime-attributes", cpath)
    hub = _obj(conf, "dockerhub", cpath)
    token = _str(hub, "token", f"{cpath}.dockerhub")
    fields = dict(
        name=name,
        actor_factory=factory,
        kind=kind,
        root=_str(conf, "root", cpath, required=kind == "aws_batch", default="cromwell-executions"),
        concurrent_job_limit=_int(conf, "concurrent-job-limit", cpath),
        dockerhub=DockerHub(_str(hub, "account", f"{cpath}.dockerhub"), Secret(token) if token else None)
        if hub else None,
        auth=_str(conf, "auth", cpath),
        num_submit_attempts=_int(conf, "numSubmitAttempts", cpath, default=6),
        num_create_definition_attempts=_int(conf, "numCreateDefinitionAttempts", cpath, default=6),
        default_runtime_attributes=_freeze(runtime),
        queue_arn=_str(runtime, "queueArn", rpath),
        script_bucket_name=_str(runtime, "scriptBucketName", rpath) or None,
        s3_auth=_str(conf, "filesystems.s3.auth", cpath),
        duplication_strategy=_str(conf, "filesystems.s3.caching.duplication-strategy", cpath),
        execution_role_arn=_str(conf, "execution-role-arn", cpath),
        raw=_freeze(conf),
        local_duplication=_local_duplication(conf, cpath),
    )
    if kind == "aws_batch":
        fields.update(_aws_batch_fields(fields, cpath, aws, notes, placeholders))
    elif _str(conf, "submit", cpath) not in (None, LOCAL_SUBMIT):
        # An SFS provider for SLURM, SGE, ... would still run here as a local process.
        notes.append(f"{cpath}.submit: ignored; Batchsite runs every local call as a bash process")
    return ProviderConfig(**fields)


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
