import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchsite import config
from batchsite.config import ConfigError, Secret, describe, get_config, load_config, parse_config_text
from batchsite.management.commands.config_check import config_check

CONFS = Path(__file__).with_name("confs")
REPO = Path(__file__).resolve().parents[2]
AWS_FACTORY = "cromwell.backend.impl.aws.AwsBatchBackendLifecycleActorFactory"
CI_QUEUE = "arn:aws:batch:us-east-1:952500931424:job-queue/priority-cromwell-ci-stack-9-25"
CI_ROOT = "s3://cromwell-centaur-execution-9-25/cromwell-execution"

# Fixture file -> its path in broadinstitute/cromwell (see confs/README.md).
CROMWELL_FILES = {
    "AWS.conf": "cromwell.example.backends/AWS.conf",
    "AwsBatch101_aws.conf": "docs/tutorials/AwsBatch101.md",
    "aws_application.conf": "src/ci/resources/aws_application.conf",
    "aws_tag_resources_application.conf": "src/ci/resources/aws_tag_resources_application.conf",
    "local_application.conf": "src/ci/resources/local_application.conf",
}

SITE = """
aws.auths = [{ name = "default", scheme = "default" }]
backend.default = "AWSBatch"
backend.providers.AWSBatch {
  actor-factory = "cromwell.backend.impl.aws.AwsBatchBackendLifecycleActorFactory"
  config.root = "s3://example-runs/cromwell-execution"
}
"""


@pytest.fixture(autouse=True)
def no_config_env(monkeypatch):
    monkeypatch.delenv("BATCHSITE_CONFIG", raising=False)
    monkeypatch.delenv("BATCHSITE_TEST_QUEUE_ARN", raising=False)
    monkeypatch.delenv("BATCHSITE_TEST_SCRIPT_BUCKET", raising=False)
    get_config.cache_clear()
    yield
    get_config.cache_clear()


def load(name):
    return load_config(CONFS / name)


def error_of(name):
    with pytest.raises(ConfigError) as excinfo:
        load(name)
    return excinfo.value


def test_built_in_default_is_one_local_provider():
    cfg = load_config()
    assert cfg.default_backend == "Local"
    assert list(cfg.providers) == ["Local"]
    local = cfg.provider()
    assert local.kind == "local"
    assert local.actor_factory == "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
    assert local.root == "cromwell-executions"
    assert local.concurrent_job_limit == 16
    assert cfg.notes == () and cfg.placeholders == ()


def test_it_reads_the_file_named_by_batchsite_config(monkeypatch):
    monkeypatch.setenv("BATCHSITE_CONFIG", str(CONFS / "site_aws.conf"))
    cfg = load_config()
    assert cfg.default_backend == "AWSBatch"
    assert cfg.provider().concurrent_job_limit == 200


def test_get_config_is_loaded_once_until_the_cache_is_cleared(monkeypatch):
    assert get_config().default_backend == "Local"
    monkeypatch.setenv("BATCHSITE_CONFIG", str(CONFS / "site_aws.conf"))
    assert get_config().default_backend == "Local"
    get_config.cache_clear()
    assert get_config().default_backend == "AWSBatch"


@pytest.mark.parametrize("name", CROMWELL_FILES, ids=CROMWELL_FILES.values())
def test_cromwell_files_load_unchanged(name):
    cfg = load(name)
    assert cfg.default_backend in cfg.providers
    assert cfg.providers[cfg.default_backend].kind == ("local" if name == "local_application.conf" else "aws_batch")


def test_cromwell_ci_aws_application_conf():
    cfg = load("aws_application.conf")
    assert cfg.default_backend == "AWSBATCH"
    aws = cfg.provider()
    assert aws.kind == "aws_batch" and aws.actor_factory == AWS_FACTORY
    assert aws.root == CI_ROOT
    assert aws.queue_arn == CI_QUEUE
    assert aws.script_bucket_name == "cromwell-centaur-execution-9-25"
    assert aws.concurrent_job_limit is None
    assert (aws.num_submit_attempts, aws.num_create_definition_attempts) == (3, 3)
    assert aws.auth == "default" and aws.s3_auth == "default"
    assert cfg.aws.auth("default").scheme == "default"
    assert cfg.aws.region == "us-east-1" and cfg.aws.application_name == "cromwell"
    assert aws.duplication_strategy == "copy"
    # Unknown keys are kept, and ignored.
    assert aws.raw["docker-mirror"]["dockerhub"]["enabled"] is True
    # include required(classpath("application")) brought in the bundled Local provider.
    assert cfg.providers["Local"].concurrent_job_limit == 16
    assert cfg.notes == () and cfg.placeholders == ()


def test_cromwell_ci_include_chain_keeps_overrides_of_the_including_file():
    cfg = load("aws_tag_resources_application.conf")
    aws = cfg.provider("AWSBATCH")
    assert aws.root == CI_ROOT and aws.queue_arn == CI_QUEUE
    assert aws.raw["tagResources"] is True


def test_cromwell_example_backend_file_names_its_placeholders():
    cfg = load("AWS.conf")
    aws = cfg.providers["AWSBATCH"]
    assert aws.root == "s3://<s3-bucket-name>/cromwell-execution"
    assert aws.queue_arn == "<your arn here>"
    assert aws.script_bucket_name == "<s3-bucket-name>"
    assert aws.concurrent_job_limit is None
    assert (aws.num_submit_attempts, aws.num_create_definition_attempts) == (6, 6)
    assert aws.auth == "default" and aws.s3_auth == "default"
    assert "slow-job-warning-time" in aws.raw
    assert cfg.placeholders == (
        ("aws.region", "<your-region>"),
        ("backend.providers.AWSBATCH.config.root", "<s3-bucket-name>"),
        ("backend.providers.AWSBATCH.config.default-runtime-attributes.queueArn", "<your arn here>"),
    )
    with pytest.raises(ConfigError) as excinfo:
        cfg.provider()
    assert str(excinfo.value) == (
        f'{CONFS / "AWS.conf"}: aws.region: placeholder "<your-region>" must be replaced'
    )


def test_aws_batch_101_tutorial_config_falls_back_to_the_root_bucket_for_scripts():
    cfg = load("AwsBatch101_aws.conf")
    aws = cfg.providers["AWSBatch"]
    assert aws.script_bucket_name == "<your-s3-bucket-name>"
    assert ("backend.providers.AWSBatch.config.root", "<your-s3-bucket-name>") in cfg.placeholders
    assert cfg.notes == (
        "backend.providers.AWSBatch.config.default-runtime-attributes.scriptBucketName: "
        'not set; using "<your-s3-bucket-name>", the bucket of root',
    )
    # The placeholders are in the AWS provider and the aws stanza, not in the Local provider.
    assert cfg.provider("Local").root == "cromwell-executions"
    with pytest.raises(ConfigError, match='aws.region: placeholder "<your-region>" must be replaced'):
        cfg.provider("AWSBatch")


def test_missing_script_bucket_name_uses_the_bucket_of_root_and_says_so():
    cfg = load("dockerhub_custom_keys.conf")
    assert cfg.provider().script_bucket_name == "my-cromwell-workflows-bucket"
    assert (
        "backend.providers.AWS.config.default-runtime-attributes.scriptBucketName: "
        'not set; using "my-cromwell-workflows-bucket", the bucket of root'
    ) in cfg.notes


def test_cromwell_ci_local_config_skips_optional_includes_that_are_not_there():
    cfg = load("local_application.conf")
    assert list(cfg.providers) == ["Local", "LocalNoDocker", "LocalBourneShell", "LocalCacheableRuntimeAttribute"]
    assert {p.kind for p in cfg.providers.values()} == {"local"}
    # local_provider_config.inc.conf includes classpath("reference_local_provider_config.inc.conf").
    assert cfg.provider().concurrent_job_limit == 1000
    assert cfg.provider().root == "cromwell-executions"
    skipped = f'{CONFS / "local_application.conf"}: line 30: include "local_provider_docker_secure.conf": not found'
    assert f"{skipped}, skipped" in cfg.notes


def test_include_chain_resolves_relative_to_each_file_and_reads_env(monkeypatch):
    cfg = load("chain_main.conf")
    aws = cfg.provider()
    assert aws.queue_arn == "arn:aws:batch:us-east-1:123456789012:job-queue/default"
    assert aws.script_bucket_name == "example-scripts"
    assert aws.concurrent_job_limit == 50

    monkeypatch.setenv("BATCHSITE_TEST_QUEUE_ARN", "arn:aws:batch:us-east-1:123456789012:job-queue/from-env")
    monkeypatch.setenv("BATCHSITE_TEST_SCRIPT_BUCKET", "env-scripts")
    aws = load("chain_main.conf").provider()
    assert aws.queue_arn == "arn:aws:batch:us-east-1:123456789012:job-queue/from-env"
    assert aws.script_bucket_name == "env-scripts"


def test_classpath_include_resolves_to_the_bundled_defaults(tmp_path):
    cfg = parse_config_text(
        'include required(classpath("application"))\n'
        "backend.providers.Local.config.concurrent-job-limit = 4\n",
        base_dir=tmp_path,
    )
    assert cfg.default_backend == "Local"
    assert cfg.provider().concurrent_job_limit == 4
    assert cfg.provider().root == "cromwell-executions"


def test_optional_unknown_classpath_include_is_skipped_with_a_note(tmp_path):
    cfg = parse_config_text('include classpath("cromwell-extra")\n' + SITE, base_dir=tmp_path, source="site.conf")
    assert cfg.default_backend == "AWSBatch"
    assert 'site.conf: line 1: include classpath("cromwell-extra"): not found, skipped' in cfg.notes


@pytest.mark.parametrize(
    ("name", "file", "problem"),
    [
        ("bad_syntax.conf", "bad_syntax.conf", "HOCON syntax error at line 9, column 7: Expected ']'"),
        ("bad_syntax_included.conf", "bad_syntax.conf", "HOCON syntax error at line 9, column 7: Expected ']'"),
        (
            "bad_job_limit.conf", "bad_job_limit.conf",
            'backend.providers.AWSBatch.config.concurrent-job-limit: expected an integer, got "many"',
        ),
        ("bad_missing_root.conf", "bad_missing_root.conf", "backend.providers.AWSBatch.config.root: missing (required)"),
        (
            "bad_default_backend.conf", "bad_default_backend.conf",
            'backend.default: "AWS" is not among backend.providers (AWSBatch)',
        ),
        (
            "bad_classpath.conf", "bad_classpath.conf",
            'line 2: include required(classpath("cromwell-secrets.conf")): Batchsite bundles no resource '
            '"cromwell-secrets.conf" (it has application.conf, reference_local_provider_config.inc.conf)',
        ),
        (
            "bad_root_not_s3.conf", "bad_root_not_s3.conf",
            'backend.providers.AWSBatch.config.root: expected an S3 URL like "s3://bucket/cromwell-execution", '
            'got "/data/cromwell-execution"',
        ),
        (
            "bad_script_bucket.conf", "bad_script_bucket.conf",
            "backend.providers.AWSBatch.config.default-runtime-attributes.scriptBucketName: expected a bare bucket "
            'name like "my-bucket", got "s3://example-scripts/scripts"',
        ),
        (
            "bad_actor_factory.conf", "bad_actor_factory.conf",
            'backend.providers.PAPIv2.actor-factory: unsupported backend '
            '"cromwell.backend.google.pipelines.v2beta.PipelinesApiLifecycleActorFactory"; Batchsite runs '
            f"{AWS_FACTORY} (AWS Batch) and cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory (Local)",
        ),
        (
            "bad_auth_name.conf", "bad_auth_name.conf",
            'backend.providers.AWSBatch.config.auth: no auth named "ci-user" in aws.auths (known: default)',
        ),
        (
            "bad_missing_include.conf", "bad_missing_include.conf",
            f'line 2: include required("site_overrides.conf"): no file "{CONFS / "site_overrides.conf"}"',
        ),
    ],
)
def test_malformed_file_is_a_config_error_naming_file_and_key(name, file, problem):
    error = error_of(name)
    assert error.problem == problem
    assert Path(error.file).resolve() == (CONFS / file).resolve()
    assert str(error) == f"{error.file}: {problem}"




@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'backend.providers.AWSBatch.config.default-runtime-attributes.queueArn = "priority-queue"\n',
            "backend.providers.AWSBatch.config.default-runtime-attributes.queueArn: expected a job queue ARN like "
            '"arn:aws:batch:us-east-1:123456789012:job-queue/NAME", got "priority-queue"',
        ),
        (
            'backend.providers.AWSBatch.config.filesystems.s3.caching.duplication-strategy = "hard-link"\n',
            'backend.providers.AWSBatch.config.filesystems.s3.caching.duplication-strategy: expected "copy" or '
            '"reference", got "hard-link"',
        ),
        (
            'aws.auths = [{ name = "ci", scheme = "password" }]\n',
            'aws.auths[0].scheme: unsupported scheme "password" (expected default, custom_keys, assume_role)',
        ),
        ('aws.auths = "default"\n', 'aws.auths: expected a list, got "default"'),
        (
            'aws.auths = [{ name = "role", scheme = "assume_role", base-auth = "default" }]\n',
            "aws.auths[0].role-arn: missing (required)",
        ),
        ("backend.providers.AWSBatch.config.concurrent-job-limit = 0\n",
         "backend.providers.AWSBatch.config.concurrent-job-limit: expected a positive integer, got 0"),
        ("backend.providers.AWSBatch.config.root = [1]\n",
         "backend.providers.AWSBatch.config.root: expected a string, got a list"),
        ('backend.providers.AWSBatch.config.root = "s3://Bad_Bucket/x"\n',
         'backend.providers.AWSBatch.config.root: "Bad_Bucket" is not a valid S3 bucket name'),
        ('backend.default = null\nbackend.providers.Local.actor-factory = '
         '"cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"\n',
         "backend.default: missing; name one of AWSBatch, Local"),
        ('backend.providers.AWSBatch.config.execution-role-arn = "ecsTaskExecutionRole"\n',
         'backend.providers.AWSBatch.config.execution-role-arn: expected an IAM role ARN like '
         '"arn:aws:iam::123456789012:role/NAME", got "ecsTaskExecutionRole"'),
        ('backend.providers.AWSBatch.config.dockerhub.token = "not-a-login"\n',
         "backend.providers.AWSBatch.config.dockerhub.token: expected a Secrets Manager secret ARN, base64 of "
         '"username:password", or a token with dockerhub.account set'),
        ('include url("http://127.0.0.1:9/x.conf")\n',
         f'line {SITE.count(chr(10)) + 1}: include url("http://127.0.0.1:9/x.conf"): url(...) includes are not '
         "supported; include a file"),
    ],
)
def test_wrong_values_are_config_errors_naming_the_key(tmp_path, text, problem):
    with pytest.raises(ConfigError) as excinfo:
        parse_config_text(SITE + text, base_dir=tmp_path, source="site.conf")
    assert excinfo.value.problem == problem
    assert str(excinfo.value) == f"site.conf: {problem}"


def test_unset_substitution_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        parse_config_text("a = 1\nb = ${NOT_SET_ANYWHERE}\n", base_dir=tmp_path, source="site.conf")
    assert str(excinfo.value) == "site.conf: HOCON error: Cannot resolve variable ${NOT_SET_ANYWHERE} (line: 2, col: 5)"


def test_include_cycle_is_a_config_error(tmp_path):
    (tmp_path / "a.conf").write_text('include required("b.conf")\n')
    (tmp_path / "b.conf").write_text('include required("a.conf")\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path / "a.conf")
    assert str(excinfo.value) == (
        f"{tmp_path / 'a.conf'}: include cycle: {tmp_path / 'b.conf'} -> {tmp_path / 'a.conf'} -> {tmp_path / 'b.conf'}"
    )


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path / "missing.conf")
    assert str(excinfo.value) == f"{tmp_path / 'missing.conf'}: cannot read: No such file or directory"
    (tmp_path / "latin1.conf").write_bytes(b'backend.default = "Lok\xe4l"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path / "latin1.conf")
    assert str(excinfo.value) == f"{tmp_path / 'latin1.conf'}: cannot read: not UTF-8 text (byte 22)"


def test_tokens_and_access_keys_are_masked_everywhere_they_are_printed():
    cfg = load("dockerhub_custom_keys.conf")
    aws = cfg.provider()
    assert aws.dockerhub.account == "dockerAccount"
    assert aws.dockerhub.token.reveal() == "dockerToken"
    custom = cfg.aws.auth("user-via-refresh")
    assert custom.scheme == "custom_keys"
    assert custom.access_key.reveal() == "AKIAEXAMPLEACCESSKEY"
    assert aws.raw["dockerhub"]["token"] == Secret("dockerToken")
    for shown in (repr(cfg), str(cfg), describe(cfg), repr(aws.raw), f"{aws.dockerhub.token}"):
        for secret in ("dockerToken", "AKIAEXAMPLEACCESSKEY", "wJalrEXAMPLESECRETKEY"):
            assert secret not in shown
    assert "dockerhub: account dockerAccount, token ****" in describe(cfg)
    assert any("custom_keys are read but not used" in note for note in cfg.notes)


def test_an_assume_role_auth_is_read_and_said_to_be_unused(tmp_path):
    cfg = parse_config_text(SITE.replace('scheme = "default" }', 'scheme = "default" }, { name = "lab", '
                                         'scheme = "assume_role", role-arn = "arn:aws:iam::1:role/x", base-auth = "default" }'),
                            base_dir=tmp_path, source="site.conf")

    assert cfg.aws.auth("lab").role_arn == "arn:aws:iam::1:role/x"
    assert any('"lab": assume_role is read but not used' in note for note in cfg.notes)


def test_config_is_frozen():
    cfg = load("site_aws.conf")
    with pytest.raises(AttributeError):
        cfg.default_backend = "Local"
    with pytest.raises(TypeError):
        cfg.providers["Other"] = cfg.provider()


def test_config_check_prints_what_was_understood():
    out, err = io.StringIO(), io.StringIO()
    assert config_check(str(CONFS / "aws_application.conf"), out, err) == 0
    assert err.getvalue() == ""
    text = out.getvalue()
    assert "default backend: AWSBATCH" in text
    assert "provider AWSBATCH: aws_batch" in text
    assert f"  root: {CI_ROOT}" in text
    assert f"  queue: {CI_QUEUE}" in text
    assert "  script bucket: cromwell-centaur-execution-9-25" in text
    assert "  concurrent-job-limit: no limit" in text
    assert "  auth: default (scheme default), s3 auth: default" in text


def test_config_check_names_key_and_placeholder_and_fails():
    out, err = io.StringIO(), io.StringIO()
    path = str(CONFS / "AWS.conf")
    assert config_check(path, out, err) == 1
    assert (
        f"config_check: {path}: backend.providers.AWSBATCH.config.default-runtime-attributes.queueArn: "
        'placeholder "<your arn here>" must be replaced'
    ) in err.getvalue().splitlines()


def test_config_check_prints_the_error_and_fails():
    out, err = io.StringIO(), io.StringIO()
    path = str(CONFS / "bad_job_limit.conf")
    assert config_check(path, out, err) == 1
    assert out.getvalue() == ""
    assert err.getvalue() == (
        f'config_check: {path}: backend.providers.AWSBatch.config.concurrent-job-limit: expected an integer, got "many"\n'
    )


def test_manage_py_config_check_exits_with_the_status(tmp_path):
    env = {**os.environ, "BATCHSITE_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "batchsite.settings"}
    env.pop("BATCHSITE_CONFIG", None)
    good = subprocess.run(
        [sys.executable, "manage.py", "config_check", str(CONFS / "site_aws.conf")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert "  queue: arn:aws:batch:eu-west-1:123456789012:job-queue/batchsite" in good.stdout
    bad = subprocess.run(
        [sys.executable, "manage.py", "config_check", str(CONFS / "bad_script_bucket.conf")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith(f"config_check: {CONFS / 'bad_script_bucket.conf'}: ")
    assert "Traceback" not in bad.stderr


def test_kinds_cover_exactly_the_two_cromwell_factories():
    assert config.KINDS == {
        AWS_FACTORY: "aws_batch",
        "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory": "local",
    }
