"""Shared fixtures: the fixed users of STYLE.md and their teams."""
import pytest

from teams.models import Membership
from teams.services import membership_set, project_create, team_create, user_create

ALICE_ROLE = "arn:aws:iam::111111111111:role/alice-team-jobs"
ALICE_ROLE_2 = "arn:aws:iam::111111111111:role/alice-team-other"
CAROL_ROLE = "arn:aws:iam::222222222222:role/carol-team-jobs"


@pytest.fixture
def alice(db):
    return user_create(username="alice", password="pw-alice")


@pytest.fixture
def bob(db):
    return user_create(username="bob", password="pw-bob")


@pytest.fixture
def carol(db):
    return user_create(username="carol", password="pw-carol")


@pytest.fixture
def operator(db):
    return user_create(username="operator", password="pw-operator", is_staff=True)


@pytest.fixture
def team(alice, bob):
    """Alice's team: alice is team admin, bob a viewer."""
    team = team_create(name="Genomics", slug="genomics", prefix_root="teams/genomics/",
                       allowed_role_arns=[ALICE_ROLE, ALICE_ROLE_2], default_role_arn=ALICE_ROLE,
                       max_running_jobs=8)
    membership_set(team=team, user=alice, role=Membership.Role.ADMIN)
    membership_set(team=team, user=bob, role=Membership.Role.VIEWER)
    return team


@pytest.fixture
def other_team(carol):
    """Carol's team, which alice and bob are not in."""
    team = team_create(name="Proteomics", slug="proteomics", prefix_root="teams/proteomics/",
                       allowed_role_arns=[CAROL_ROLE], default_role_arn=CAROL_ROLE, max_running_jobs=4)
    membership_set(team=team, user=carol, role=Membership.Role.ADMIN)
    return team


@pytest.fixture
def project(team):
    return project_create(team=team, name="Exomes", slug="exomes")
