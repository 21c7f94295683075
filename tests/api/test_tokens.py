"""API tokens: created on the user's page and shown once, stored hashed, revoked for good."""
import hashlib

import pytest
from django.urls import reverse

from teams.models import ApiToken
from teams.services import api_token_authenticate, api_token_create, api_token_revoke
from tests.api.conftest import basic


def test_the_secret_is_stored_only_as_a_hash(alice):
    token, secret = api_token_create(user=alice, name="laptop")
    assert secret.startswith("bst_") and len(secret) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert stored.prefix == secret[:12]


def test_a_token_authenticates_its_user_only_with_the_right_user_name(alice, bob):
    _, secret = api_token_create(user=alice, name="laptop")
    assert api_token_authenticate(username="alice", secret=secret) == alice
    assert api_token_authenticate(username="bob", secret=secret) is None
    assert api_token_authenticate(username="alice", secret=secret + "x") is None


def test_a_revoked_token_no_longer_authenticates(client, alice, team, project):
    token, secret = api_token_create(user=alice, name="laptop")
    assert client.get("/api/workflows/v1/backends", **basic("alice", secret)).status_code == 200
    api_token_revoke(user=alice, pk=token.pk)
    response = client.get("/api/workflows/v1/backends", **basic("alice", secret))
    assert response.status_code == 401
    assert response.json()["status"] == "fail"


def test_the_tokens_page_shows_a_new_secret_once(client, alice):
    client.force_login(alice)
    page = client.post(reverse("tokens"), {"name": "cromshell on my laptop"}).content.decode()
    token = ApiToken.objects.get(user=alice)
    secret = page.split('id="token-secret">')[1].split("<")[0]
    assert api_token_authenticate(username="alice", secret=secret) == alice
    again = client.get(reverse("tokens")).content.decode()
    assert "cromshell on my laptop" in again and token.prefix in again
    assert secret not in again


def test_a_token_needs_a_name(client, alice):
    client.force_login(alice)
    response = client.post(reverse("tokens"), {"name": "  "})
    assert response.status_code == 400
    assert "give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_on_the_page_stops_the_token(client, alice, team, project):
    token, secret = api_token_create(user=alice, name="old")
    client.force_login(alice)
    response = client.post(reverse("token_revoke", args=[token.pk]), follow=True)
    assert "is revoked" in response.content.decode()
    assert client.get("/api/workflows/v1/backends", **basic("alice", secret)).status_code == 401


def test_an_outsider_cannot_revoke_someone_elses_token(client, alice, carol):
    token, secret = api_token_create(user=alice, name="mine")
    client.force_login(carol)
    assert client.post(reverse("token_revoke", args=[token.pk])).status_code == 404
    assert api_token_authenticate(username="alice", secret=secret) == alice


def test_the_tokens_page_needs_a_login(client, db):
    response = client.get(reverse("tokens"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("header", [
    None, "Basic", "Basic !!!", "Basic " + "YWxpY2U=", "Bearer nope", "Digest abc",
])
def test_requests_without_a_valid_token_get_401_json(client, alice, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/workflows/v1/backends", **extra)
    assert response.status_code == 401
    assert response.json()["status"] == "fail"
    assert response["WWW-Authenticate"].startswith("Basic")


def test_a_bearer_token_works_too(client, alice, team):
    _, secret = api_token_create(user=alice, name="script")
    response = client.get("/api/workflows/v1/backends", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200


def test_the_tokens_page_shows_only_ones_own_tokens(client, alice, carol):
    token, secret = api_token_create(user=alice, name="alice's laptop")
    client.force_login(carol)
    page = client.get(reverse("tokens")).content.decode()
    assert "alice&#x27;s laptop" not in page and token.prefix not in page and "No tokens yet." in page
    assert f'action="{reverse("token_revoke", args=[token.pk])}"' not in page


def test_an_outsider_can_neither_revoke_nor_see_a_token_by_its_number(client, alice, carol):
    token, secret = api_token_create(user=alice, name="mine")
    client.force_login(carol)
    response = client.post(reverse("token_revoke", args=[token.pk]), follow=True)
    assert response.status_code == 404 and "mine" not in response.content.decode()
    assert client.get(reverse("token_revoke", args=[token.pk])).status_code == 405  # revoking is a POST only
    token.refresh_from_db()
    assert token.revoked is None and api_token_authenticate(username="alice", secret=secret) == alice
