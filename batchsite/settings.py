"""Batchsite settings: embedded defaults (SQLite, local files, local backend) unless the
environment names real services (DATABASE_URL, REDIS_URL, storage, BATCHSITE_CONFIG)."""
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BATCHSITE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in ("1", "true", "yes")
# The embedded default key is for local use only; the Docker image requires a real one.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "batchsite-embedded-insecure-key-change-me")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value:
        raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {value!r}")
    return default


def _number(name: str, default: int, minimum: int = 0) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return int(value)


# HTTPS (README, "Production settings"): all off by default, so `make run` serves plain HTTP on
# 127.0.0.1; BATCHSITE_SECURE=1 turns every one on, and each Django name below overrides it alone.
_SECURE = _flag("BATCHSITE_SECURE")
SECURE_SSL_REDIRECT = _flag("SECURE_SSL_REDIRECT", _SECURE)
SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", _SECURE)
CSRF_COOKIE_SECURE = _flag("CSRF_COOKIE_SECURE", _SECURE)
SECURE_HSTS_SECONDS = _number("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if _SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", _SECURE)
SECURE_HSTS_PRELOAD = _flag("SECURE_HSTS_PRELOAD", _SECURE)
# The header a TLS-terminating proxy sets to "https" (e.g. X-Forwarded-Proto). Name it only when
# that proxy always sets or strips it: a client could otherwise claim HTTPS.
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_header and not re.fullmatch(r"[A-Za-z0-9-]{1,100}", _proxy_header):
    raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto, "
                               f"not {_proxy_header!r}")
SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https") if _proxy_header else None
# Reverse proxies in front that append the client's address to X-Forwarded-For (login throttling
# counts per address: batchsite.security.client_ip).
BATCHSITE_PROXY_COUNT = _number("BATCHSITE_PROXY_COUNT", 0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "django_htmx",
    "django_celery_beat",
    "batchsite",
    "teams",
    "workflows",
    "notifications",
]

MIDDLEWARE = [
    # First, so every error under the API's paths leaves as JSON, whichever middleware answered it.
    "workflows.api.middleware.ApiExceptionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# Content Security Policy (django-csp): scripts and styles only from our static files, so
# templates carry no inline <script>, <style> or style="" (bars are sized by static/batchsite/bars.js).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

ROOT_URLCONF = "batchsite.urls"
WSGI_APPLICATION = "batchsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'batchsite.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: wait for the lock instead of failing, and take
    # the write lock up front so read-then-write transactions never deadlock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": float(os.environ.get("BATCHSITE_SQLITE_TIMEOUT", "30")),  # seconds to wait for the write lock
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a login for a user name and address with too many recent failures.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = _flag("BATCHSITE_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = _number("BATCHSITE_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=_number("BATCHSITE_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# Per user name and address: an attacker elsewhere cannot lock a user out of their own machine.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "batchsite.security.client_ip"
AXES_USERNAME_CALLABLE = "batchsite.security.login_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_DISABLE_ACCESS_LOG = True  # failures are what throttling needs; successful logins are not kept
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "teams:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

# Uploaded WDL sources and scripts of the local backend: local files unless an S3 bucket is named.
_storage_bucket = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": _storage_bucket,
                "location": os.environ.get("AWS_STORAGE_LOCATION", "batchsite"),
                "file_overwrite": False,
            },
        }
        if _storage_bucket
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or os.environ.get("BATCHSITE_PLAIN_STATIC")
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Celery: Redis when REDIS_URL is set, else kombu's filesystem transport under var/ so the
# quick start needs no server.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # A message a killed worker held comes back after this; every task is safe to run twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
else:
    _queue_dir = VAR_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fix-up would close the database connection around every task (a new PostgreSQL
# backend for each): workers keep it as the web does instead, under CONN_MAX_AGE, checked before it
# is used again and dropped after a task that broke it (batchsite/celery.py).
CELERY_DB_REUSE_MAX = 10_000
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # Polls the backends and restarts anything a lost message left waiting.
    "tick": {"task": "workflows.tick", "schedule": float(os.environ.get("BATCHSITE_TICK_SECONDS", "3"))},
    # Merges the rows the database adds to the call tallies, so the run page sums a few rows.
    "compact-call-tallies": {"task": "workflows.compact_call_tallies", "schedule": 5.0},
    # Each team's retention policy, then job definitions unused for a month (django-celery-beat
    # copies these entries into the database, where operators edit them in the admin).
    "cleanup-old-scripts": {"task": "workflows.cleanup_old_scripts", "schedule": crontab(minute=30, hour=3)},
    # Batch jobs tagged by Batchsite whose run has ended or is unknown.
    "reconcile-orphans": {"task": "workflows.reconcile_orphans", "schedule": crontab(minute="*/5")},
    # Notifications whose task was lost (a worker killed while sending, a message gone with Redis).
    "recover-deliveries": {"task": "notifications.recover_deliveries", "schedule": 60.0},
}
# How soon after a change a backend is polled again while it has active jobs.
BATCHSITE_POLL_SECONDS = {"local": float(os.environ.get("BATCHSITE_LOCAL_POLL_SECONDS", "0.1")), "aws_batch": 5.0}
# Host folders whose files runs may take as File and Directory inputs (README, "Inputs"), separated
# by ":". Outside them, a run may read only its team's runs' files: never another team's, nor var/.
BATCHSITE_INPUT_PATHS = [p for p in os.environ.get("BATCHSITE_INPUT_PATHS", "").split(":") if p]
# Files workflow expressions write for runs whose root is an object store (S3) stay here.
BATCHSITE_RUN_FILES = VAR_DIR / "run-files"
# A call claimed for submission is taken over (looked up on its backend by name, adopted or queued
# again) once its worker has not renewed its lease for this long: the worker died.
BATCHSITE_CLAIM_LEASE_SECONDS = float(os.environ.get("BATCHSITE_CLAIM_LEASE_SECONDS", "8"))
# The same for a claim without a lease (made by a version before leases), after this long.
BATCHSITE_SUBMIT_TIMEOUT = int(os.environ.get("BATCHSITE_SUBMIT_TIMEOUT", "120"))

# Notifications (see the README's "Notifications"). With no EMAIL_HOST, mail is written to the log
# (Django's console backend) and never leaves the machine.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend")
EMAIL_PORT = _number("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _flag("EMAIL_USE_TLS")
EMAIL_USE_SSL = _flag("EMAIL_USE_SSL")
EMAIL_TIMEOUT = _number("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "batchsite@localhost")
# The address people reach the site at, for links in emails and webhook bodies.
BATCHSITE_SITE_URL = os.environ.get("BATCHSITE_SITE_URL", "http://localhost:8000").rstrip("/")
# Webhooks to loopback, private and link-local addresses (the cloud's metadata service) are refused
# unless this is set: a team admin must not reach the site's own network through them.
BATCHSITE_WEBHOOK_ALLOW_PRIVATE = _flag("BATCHSITE_WEBHOOK_ALLOW_PRIVATE")

# Per-team limits: a team's own value (set by operators in the admin) wins; these apply where it has
# none. Generous enough for real genomics (tens of thousands of shards), never unbounded.
BATCHSITE_DEFAULT_LIMITS = {
    "max_calls_per_run": int(os.environ.get("BATCHSITE_MAX_CALLS_PER_RUN", "100000")),
    "max_engine_state_bytes": int(os.environ.get("BATCHSITE_MAX_ENGINE_STATE_BYTES", str(256 * 2**20))),
    "max_input_bytes_per_run": 10 * 1024 * 1024,  # a 20,000-sample joint call's inputs are about 5 MB
    "max_input_bytes_per_value": 5 * 1024 * 1024,
    "max_labels_per_run": 100,
    "max_runs_per_batch": 100,
    "max_queued_runs": 1000,
}
# One step of one run's workflow (loading its state, feeding it finished calls, saving it) must end
# within this time and grow the worker by at most this much memory, or the run fails saying so.
BATCHSITE_STEP_SECONDS = float(os.environ.get("BATCHSITE_STEP_SECONDS", "300"))
BATCHSITE_STEP_MEMORY_BYTES = int(os.environ.get("BATCHSITE_STEP_MEMORY_BYTES", str(2 * 2**30)))
# A worker child that grew past the step budget anyway (fragmentation, a leak) is replaced after its task.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = (BATCHSITE_STEP_MEMORY_BYTES + 2**30) // 1024  # KiB

# Shared by web and workers through Redis; each process on its own without it.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "batchsite"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# The Cromwell-style HOCON file; without one, a built-in Local backend is used.
BATCHSITE_CONFIG = os.environ.get("BATCHSITE_CONFIG", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # axes logs every login at INFO; its failures and lockouts are WARNING.
    "loggers": {"WDL": {"level": "WARNING"}, "miniwdl": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
