"""Deployment security: the README's production variables pass check --deploy, every page carries
a Content Security Policy the templates keep, and logins are throttled by django-axes."""
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.test import override_settings
from django.urls import reverse

from teams.services import api_token_create
from tests.api.conftest import basic

REPO = Path(__file__).resolve().parents[2]
DEPLOY_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def documented_production_env() -> dict:
    """Return the variables of the README's "Production settings" block, with dummy secrets and the
    test's own PostgreSQL and Redis in place of the example hosts."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Production settings", 1)[1]
    block = section.split("```", 2)[1]
    env = dict(line.split("=", 1) for line in block.strip().splitlines())
    assert {"DJANGO_SECRET_KEY", "ALLOWED_HOSTS", "BATCHSITE_SECURE", "SECURE_PROXY_SSL_HEADER"} <= set(env)
    env.update(DJANGO_SECRET_KEY="k3y-" + "x7Qp2Lm9Zt" * 6, DATABASE_URL=os.environ["DATABASE_URL"],
               REDIS_URL=os.environ["REDIS_URL"])
    return env


def manage(tmp_path, *args: str, **variables: str) -> subprocess.CompletedProcess:
    """Run manage.py with the production settings module and only the given variables."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "DJANGO_SETTINGS_MODULE": "batchsite.settings", "BATCHSITE_VAR_DIR": str(tmp_path / "var"),
           "DATABASE_URL": os.environ["DATABASE_URL"], **variables}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


SHOW_SETTINGS = """
import json
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in (
    "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER",
    "BATCHSITE_PROXY_COUNT", "AXES_ENABLED", "AXES_FAILURE_LIMIT")} | {"cooloff": s.AXES_COOLOFF_TIME.seconds}))
"""


def test_check_deploy_is_clean_under_the_documented_production_variables(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **documented_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_them_check_deploy_names_each_missing_https_setting(tmp_path):
    env = documented_production_env()
    for name in ("BATCHSITE_SECURE", "SECURE_PROXY_SSL_HEADER", "BATCHSITE_PROXY_COUNT"):
        env.pop(name)
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert set(re.findall(r"\(security\.W\d+\)", result.stderr)) == {f"({w})" for w in DEPLOY_WARNINGS}


def show_settings(tmp_path, **variables: str) -> dict:
    result = manage(tmp_path, "shell", "--no-imports", "-c", SHOW_SETTINGS, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_variables_set_the_settings_and_make_run_gets_plain_http(tmp_path):
    production = show_settings(tmp_path, **documented_production_env())
    assert production == {
        "SECURE_SSL_REDIRECT": True, "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"], "BATCHSITE_PROXY_COUNT": 1,
        "AXES_ENABLED": True, "AXES_FAILURE_LIMIT": 5, "cooloff": 900,
    }
    overridden = show_settings(tmp_path, BATCHSITE_SECURE="1", SECURE_HSTS_SECONDS="300", SECURE_HSTS_PRELOAD="0",
                               BATCHSITE_LOGIN_FAILURES="3", BATCHSITE_LOGIN_LOCKOUT_MINUTES="2")
    assert (overridden["SECURE_SSL_REDIRECT"], overridden["SECURE_HSTS_SECONDS"], overridden["SECURE_HSTS_PRELOAD"],
            overridden["AXES_FAILURE_LIMIT"], overridden["cooloff"]) == (True, 300, False, 3, 120)
    quick_start = show_settings(tmp_path)
    assert not any(quick_start[name] for name in (
        "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER", "BATCHSITE_PROXY_COUNT"))


@pytest.mark.parametrize("name, value, problem", [
    ("BATCHSITE_SECURE", "maybe", "BATCHSITE_SECURE must be 1 or 0"),
    ("SECURE_HSTS_SECONDS", "1y", "SECURE_HSTS_SECONDS must be a whole number of at least 0, not '1y'"),
    ("BATCHSITE_LOGIN_FAILURES", "0", "BATCHSITE_LOGIN_FAILURES must be a whole number of at least 1, not '0'"),
    ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https", "SECURE_PROXY_SSL_HEADER must be a header name"),
])
def test_a_bad_value_stops_the_start_naming_the_variable(tmp_path, name, value, problem):
    result = manage(tmp_path, "check", **{name: value})
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and problem in result.stderr


@override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31_536_000, SESSION_COOKIE_SECURE=True,
                   SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_the_proxy_http_is_redirected_and_https_gets_hsts(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/accounts/login/"
    response = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"


# ---- Content Security Policy --------------------------------------------------------------

def test_every_page_carries_a_policy_without_inline_script_or_style(client, alice, team):
    client.force_login(alice)
    for url in ("/accounts/login/", reverse("teams:dashboard"), reverse("tokens")):
        policy = dict(part.strip().split(" ", 1) for part in client.get(url)["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'", url
        assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
        assert "unsafe" not in str(policy)


INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)


def test_no_template_holds_what_the_policy_refuses():
    """Inline <script> bodies, <style>, style="" and on*="" handlers would be blocked in the browser."""
    offending = [f"{path.relative_to(REPO)}: {match.group(0)!r}"
                 for path in sorted((REPO / "templates").rglob("*.html"))
                 for match in INLINE.finditer(path.read_text())]
    assert offending == []


# ---- login throttling (django-axes) -------------------------------------------------------

def log_in(client, username: str, password: str, url: str = "/accounts/login/", **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def logged_in_as(client) -> str | None:
    response = client.get(reverse("teams:dashboard"))
    return response.context["user"].username if response.status_code == 200 else None


def test_after_five_wrong_passwords_even_the_right_one_is_refused_for_15_minutes(client, alice, team):
    answers = [log_in(client, "alice", f"guess-{i}") for i in range(20)]
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 16
    assert "Please enter a correct username and password" in answers[0].content.decode()
    response = log_in(client, "alice", "pw-alice")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page and "5 wrong passwords in a row for <strong>alice</strong>" in page
    assert "15 m 00 s" in page
    assert logged_in_as(client) is None
    # 15 minutes later the pair may try again.
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16))
    assert log_in(client, "alice", "pw-alice").status_code == 302
    assert logged_in_as(client) == "alice"


def test_a_lockout_holds_one_user_name_at_one_address_only(client, alice, bob, team):
    for i in range(5):
        log_in(client, "alice", f"guess-{i}", REMOTE_ADDR="127.0.0.7")
    assert log_in(client, "alice", "pw-alice", REMOTE_ADDR="127.0.0.7").status_code == 429
    assert log_in(client, "bob", "pw-bob", REMOTE_ADDR="127.0.0.7").status_code == 302  # another user name
    client.logout()
    assert log_in(client, "alice", "pw-alice", REMOTE_ADDR="127.0.0.8").status_code == 302  # another address
    assert logged_in_as(client) == "alice"


def test_a_good_login_starts_the_count_again(client, alice, team):
    for _ in range(2):
        for i in range(4):
            assert log_in(client, "alice", f"guess-{i}").status_code == 200
        assert log_in(client, "alice", "pw-alice").status_code == 302
        client.logout()


def test_the_admin_login_is_throttled_too(client, operator):
    for i in range(5):
        log_in(client, "operator", f"guess-{i}", url="/admin/login/")
    assert log_in(client, "operator", "pw-operator", url="/admin/login/").status_code == 429
    assert client.get("/admin/").status_code == 302  # still sent to the login page


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_a_user_name_too_long_for_any_account_is_a_failed_login_not_an_error(client, db, url):
    for _ in range(6):
        response = client.post(url, {"username": "x" * 20_000, "password": "wrong"})
        assert response.status_code in (200, 429)
    assert response.status_code == 429  # counted like any other name, cut to 150 characters
    assert AccessAttempt.objects.get().username == "x" * 150


def test_an_api_token_keeps_working_while_its_users_login_is_locked(client, alice, team, project):
    _, secret = api_token_create(user=alice, name="laptop")
    for i in range(6):
        log_in(client, "alice", f"guess-{i}")
    assert log_in(client, "alice", "pw-alice").status_code == 429
    assert client.get("/api/workflows/v1/backends", **basic("alice", secret)).status_code == 200


def test_x_forwarded_for_counts_only_as_far_as_the_configured_proxies(client, alice, team):
    # No proxy configured: a client cannot dodge the lockout by sending another X-Forwarded-For.
    for i in range(5):
        log_in(client, "alice", f"guess-{i}", HTTP_X_FORWARDED_FOR=f"127.0.1.{i}")
    assert log_in(client, "alice", "pw-alice", HTTP_X_FORWARDED_FOR="127.0.1.99").status_code == 429
    with override_settings(BATCHSITE_PROXY_COUNT=1):
        # One proxy: the address it appended is the client's; what the client put before it is not.
        for i in range(5):
            log_in(client, "alice", f"guess-{i}", HTTP_X_FORWARDED_FOR=f"127.0.2.{i}, 127.0.0.9")
        assert log_in(client, "alice", "pw-alice", HTTP_X_FORWARDED_FOR="127.0.2.99, 127.0.0.9").status_code == 429
        assert log_in(client, "alice", "pw-alice", HTTP_X_FORWARDED_FOR="127.0.0.10").status_code == 302


@pytest.mark.parametrize("forwarded, count, expected", [
    ("", 1, "127.0.0.1"), ("127.0.0.5", 0, "127.0.0.1"), ("127.0.0.5", 1, "127.0.0.5"),
    ("a, 127.0.0.5, 127.0.0.6", 2, "127.0.0.5"), ("127.0.0.6", 2, "127.0.0.1"),
])
def test_the_client_address_is_that_many_proxies_from_the_end(rf, forwarded, count, expected):
    from batchsite.security import client_ip

    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded) if forwarded else rf.get("/")
    with override_settings(BATCHSITE_PROXY_COUNT=count):
        assert client_ip(request) == expected
