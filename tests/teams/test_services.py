import pytest
from django.core.exceptions import ValidationError

from teams.models import Project, Team
from teams.services import (
    Target, prefix_normalize, project_create, target_resolve, team_create,
)
from tests.conftest import ALICE_ROLE, ALICE_ROLE_2, CAROL_ROLE


# The seed's prefix rules, one bullet each.
def test_it_defaults_a_missing_prefix_to_scripts():
    assert prefix_normalize(None) == "scripts/"


def test_it_defaults_an_empty_prefix_to_scripts():
    assert prefix_normalize("") == "scripts/"


def test_it_adds_one_trailing_slash():
    assert prefix_normalize("my-prefix") == "my-prefix/"


def test_it_keeps_a_prefix_that_already_ends_in_a_slash():
    assert prefix_normalize("my-prefix/") == "my-prefix/"
    assert prefix_normalize("a/b/c/") == "a/b/c/"


def errors_of(exc_info) -> dict:
    return exc_info.value.message_dict


@pytest.fixture
def open_team(db):
    """A team with no prefix root: any safe prefix, default scripts/."""
    return team_create(name="Open", slug="open", allowed_role_arns=[ALICE_ROLE])


def test_a_team_without_root_gets_scripts_by_default(open_team):
    assert target_resolve(team=open_team, options={}) == Target("scripts/", "")


def test_an_empty_option_counts_as_not_given(open_team):
    target = target_resolve(team=open_team, options={"aws_batch_script_bucket_prefix": ""})
    assert target.script_prefix == "scripts/"


def test_an_explicit_prefix_is_used_as_given_plus_slash(open_team):
    target = target_resolve(team=open_team, options={"aws_batch_script_bucket_prefix": "my-prefix"})
    assert target.script_prefix == "my-prefix/"


@pytest.mark.parametrize("prefix, problem", [
    ("/abs/path", "must not start with '/'"),
    ("a/../b", "must not contain '..'"),
    ("a//b", "must not contain '//'"),
    ("a b", "characters S3 keys should not hold: ' '"),
    ("a\\b", "characters S3 keys should not hold"),
    ("tab\tprefix", "characters S3 keys should not hold"),
    ("percent%20", "characters S3 keys should not hold: '%'"),
    ("a/./b", "'.' path segment"),
    ("x" * 901, "at most 900"),
])
def test_it_rejects_unsafe_prefixes(open_team, prefix, problem):
    with pytest.raises(ValidationError) as exc_info:
        target_resolve(team=open_team, options={"aws_batch_script_bucket_prefix": prefix})
    assert problem in errors_of(exc_info)["aws_batch_script_bucket_prefix"][0]


def test_it_uses_the_team_root_when_nothing_narrower_is_set(team):
    assert target_resolve(team=team, options={}) == Target("teams/genomics/", ALICE_ROLE)


def test_option_over_workflow_over_project_over_team(team, alice):
    project = project_create(team=team, name="P", slug="p", script_prefix="teams/genomics/p",
                             job_role_arn=ALICE_ROLE_2)
    assert target_resolve(team=team, project=project, options={}) == Target("teams/genomics/p/", ALICE_ROLE_2)

    class WorkflowLike:
        script_prefix = "teams/genomics/p/wf/"
        job_role_arn = ALICE_ROLE

    assert target_resolve(team=team, project=project, workflow=WorkflowLike, options={}) == Target(
        "teams/genomics/p/wf/", ALICE_ROLE)
    explicit = {"aws_batch_script_bucket_prefix": "teams/genomics/run-1", "aws_batch_job_role_arn": ALICE_ROLE_2}
    assert target_resolve(team=team, project=project, workflow=WorkflowLike, options=explicit) == Target(
        "teams/genomics/run-1/", ALICE_ROLE_2)


def test_it_rejects_a_prefix_outside_the_team_root(team):
    with pytest.raises(ValidationError) as exc_info:
        target_resolve(team=team, options={"aws_batch_script_bucket_prefix": "teams/proteomics/x/"})
    assert "not under team genomics's prefix root 'teams/genomics/'" in errors_of(exc_info)["aws_batch_script_bucket_prefix"][0]


def test_a_sibling_with_a_common_start_is_not_under_the_root(team):
    with pytest.raises(ValidationError):
        target_resolve(team=team, options={"aws_batch_script_bucket_prefix": "teams/genomics-evil/"})


def test_the_default_scripts_prefix_is_refused_when_the_team_has_a_root(db):
    team = team_create(name="R", slug="r", prefix_root="teams/r")
    assert target_resolve(team=team, options={}).script_prefix == "teams/r/"
    with pytest.raises(ValidationError):
        target_resolve(team=team, options={"aws_batch_script_bucket_prefix": "scripts/"})


def test_it_rejects_a_foreign_role_arn(team, other_team):
    with pytest.raises(ValidationError) as exc_info:
        target_resolve(team=team, options={"aws_batch_job_role_arn": CAROL_ROLE})
    assert errors_of(exc_info)["aws_batch_job_role_arn"] == [f"role {CAROL_ROLE} is not on team genomics's allowlist"]


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::12345:role/short-account",
    "arn:aws:iam::111111111111:user/alice",
    "arn:aws:s3:::bucket",
    "role/alice-team-jobs",
    "arn:aws:iam::111111111111:role/",
    "arn:aws:iam::111111111111:role/bad name",
])
def test_it_rejects_malformed_role_arns(team, arn):
    with pytest.raises(ValidationError) as exc_info:
        target_resolve(team=team, options={"aws_batch_job_role_arn": arn})
    assert "is not an IAM role ARN" in errors_of(exc_info)["aws_batch_job_role_arn"][0]


def test_it_accepts_a_role_with_a_path(db):
    arn = "arn:aws:iam::111111111111:role/service-role/batch/jobs"
    team = team_create(name="Paths", slug="paths", allowed_role_arns=[arn])
    assert target_resolve(team=team, options={"aws_batch_job_role_arn": arn}).job_role_arn == arn


def test_it_rejects_non_string_options(team):
    with pytest.raises(ValidationError) as exc_info:
        target_resolve(team=team, options={"aws_batch_job_role_arn": 7, "aws_batch_script_bucket_prefix": ["x"]})
    assert set(errors_of(exc_info)) == {"aws_batch_job_role_arn", "aws_batch_script_bucket_prefix"}


# Projects narrow the team, never widen it.
def test_a_project_prefix_must_lie_under_the_team_root(team):
    with pytest.raises(ValidationError) as exc_info:
        project_create(team=team, name="X", slug="x", script_prefix="elsewhere/")
    assert "script_prefix" in errors_of(exc_info)
    assert not Project.objects.filter(slug="x").exists()


def test_a_project_role_must_be_on_the_allowlist(team):
    with pytest.raises(ValidationError) as exc_info:
        project_create(team=team, name="X", slug="x", job_role_arn=CAROL_ROLE)
    assert "job_role_arn" in errors_of(exc_info)


def test_a_project_cap_may_not_exceed_the_team_cap(team):
    with pytest.raises(ValidationError) as exc_info:
        project_create(team=team, name="X", slug="x", max_running_jobs=9)
    assert errors_of(exc_info)["max_running_jobs"] == ["a project cap of 9 exceeds team genomics's cap of 8"]
    assert project_create(team=team, name="Y", slug="y", max_running_jobs=8).max_running_jobs == 8


# Team guards.
def test_a_team_rejects_a_malformed_allowlist_entry(db):
    with pytest.raises(ValidationError) as exc_info:
        team_create(name="T", slug="t", allowed_role_arns=["not-an-arn"])
    assert "allowed_role_arns" in errors_of(exc_info)
    assert not Team.objects.filter(slug="t").exists()


def test_a_team_default_role_must_be_on_its_allowlist(db):
    with pytest.raises(ValidationError) as exc_info:
        team_create(name="T", slug="t", allowed_role_arns=[ALICE_ROLE], default_role_arn=CAROL_ROLE)
    assert "default_role_arn" in errors_of(exc_info)


def test_a_team_rejects_an_unsafe_prefix_root(db):
    with pytest.raises(ValidationError) as exc_info:
        team_create(name="T", slug="t", prefix_root="/root")
    assert "prefix_root" in errors_of(exc_info)


def test_a_team_cap_must_be_positive(db):
    with pytest.raises(ValidationError) as exc_info:
        team_create(name="T", slug="t", max_running_jobs=0)
    assert "max_running_jobs" in errors_of(exc_info)


@pytest.mark.django_db
@pytest.mark.parametrize("tags, problem", [
    (["CostCenter"], "must be a JSON object"),
    ({"batchsite:team": "x"}, "not aws:* or batchsite:*"),
    ({"CostCenter": "CC#42"}, "cost tag 'CostCenter': the value"),
    ({f"k{i}": "v" for i in range(11)}, "at most 10 cost tags"),
])
def test_team_cost_tags_follow_awss_tag_rules(team, tags, problem):
    from teams.services import team_validate

    team.cost_tags = tags

    with pytest.raises(ValidationError) as refused:
        team_validate(team=team)

    assert problem in refused.value.message_dict["cost_tags"][0]
