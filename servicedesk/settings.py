"""WeldDesk settings: every value comes from the environment (see docs/operations.md)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from servicedesk.env import (
    absolute_http_url,
    env_bool,
    env_int,
    env_list,
    env_pairs,
    env_str,
    make_fernet_key,
    make_index_key,
    make_secret_key,
    s3_storage_options,
    secret_or_generated,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("WELDDESK_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = secret_or_generated(
    "SECRET_KEY",
    debug=DEBUG,
    var_dir=VAR_DIR,
    make=make_secret_key,
    hint="Set SECRET_KEY to a random string of 50+ characters (python -c "
    "'import secrets; print(secrets.token_urlsafe(50))').",
)
# Personal-data encryption keys: the first encrypts, all decrypt (rotation: put the new key first).
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in secret_or_generated(
        "FIELD_ENCRYPTION_KEYS",
        debug=DEBUG,
        var_dir=VAR_DIR,
        make=make_fernet_key,
        hint="Set FIELD_ENCRYPTION_KEYS to one or more comma-separated Fernet keys (python -c "
        "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())').",
    ).split(",")
    if key.strip()
]
# django-encrypted-model-fields reads this name when its module is imported.
FIELD_ENCRYPTION_KEY = FIELD_ENCRYPTION_KEYS
# Key for the blind indexes (HMAC over normalised email/phone); never the same as the above.
BLIND_INDEX_KEY = secret_or_generated(
    "BLIND_INDEX_KEY",
    debug=DEBUG,
    var_dir=VAR_DIR,
    make=make_index_key,
    hint="Set BLIND_INDEX_KEY to 64 random hex characters (python -c "
    "'import secrets; print(secrets.token_hex(32))').",
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
# Mails, SMS and push notices carry absolute links built on SITE_URL (never on the request's
# Host header): without it they would carry relative links that lead nowhere.
if not absolute_http_url(SITE_URL) and (SITE_URL or not DEBUG):
    raise ImproperlyConfigured(
        f"SITE_URL must be the desk's absolute public address (got {SITE_URL!r}). With DEBUG "
        "off WeldDesk will not start without it: e-mails carry links built on it. Set it, e.g. "
        "SITE_URL=https://desk.example.com."
    )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # its widget templates, for FORM_RENDERER below
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "core",
    "audit",
    "accounts",
    "notifications",
    "equipment",
    "tickets",
    "knowledge",
    "chat",
    "logistics",
    "status",
    "intake",
    "compensation",
    "compliance",
    "portal",
]

MIDDLEWARE = [
    "core.middleware.RequestContextMiddleware",
    "core.middleware.NoStoreMiddleware",
    "core.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.BadInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.OTPMiddleware",
    "accounts.middleware.RefusalAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SessionPolicyMiddleware",
    "accounts.oidc.ProviderSessionMiddleware",
    "accounts.middleware.SecondFactorMiddleware",
    "accounts.middleware.ApiKeyAuditMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "servicedesk.urls"
ASGI_APPLICATION = "servicedesk.asgi.application"
WSGI_APPLICATION = "servicedesk.wsgi.application"

# Widgets render through TEMPLATES, so templates/admin/widgets/ can give the admin's own widgets
# the labels they lack (accessibility: docs/accessibility.md).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'welddesk.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of failing.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (threaded tests share it); SQLITE_TEST_NAME lets parallel runs use their own.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / env_str("SQLITE_TEST_NAME", "test-welddesk.sqlite3"))
    }
elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    if env_bool("DB_SERVER_SIDE_BINDING", True):
        # Server-side parameters: PostgreSQL receives the statement and its values apart, and
        # psycopg prepares a statement it has run five times, so the hot statements (opening
        # a ticket, the lists) are parsed and planned once per connection instead of every time.
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=5
        )
    if not env_bool("DB_JIT", False):
        # No JIT compilation: the desk's statements run for milliseconds, and a join whose
        # size the planner overestimates (the search's per-term aggregates) crossed
        # jit_above_cost and spent 18-110 ms compiling a 30 ms query (docs/performance.md).
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Live chat: an agent without a heartbeat for this long counts as offline.
CHAT_PRESENCE_TIMEOUT_SECONDS = env_int("CHAT_PRESENCE_TIMEOUT_SECONDS", 60)
# A surge (a promotion, an outage): this many chats waiting, or one waiting this long, calls
# the standby roster, at most once per CHAT_SURGE_REPEAT_SECONDS.
CHAT_SURGE_WAITING = env_int("CHAT_SURGE_WAITING", 10)
CHAT_SURGE_WAIT_SECONDS = env_int("CHAT_SURGE_WAIT_SECONDS", 300)
CHAT_SURGE_REPEAT_SECONDS = env_int("CHAT_SURGE_REPEAT_SECONDS", 900)
# Audit chain: "inline" seals each event in the writer's transaction (one writer at a time
# holds the chain head until it commits); "deferred" writes pending rows and seals them in
# batches right after commit, so writers never queue on the head (docs/architecture.md).
AUDIT_SEALING = env_str(
    "AUDIT_SEALING",
    "inline" if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else "deferred",
)
if AUDIT_SEALING not in ("inline", "deferred"):
    raise ImproperlyConfigured("AUDIT_SEALING must be 'inline' or 'deferred'.")
# The audit signing key (audit/signing.py) signs compliance exports and the chain's
# checkpoints with Ed25519: PEM or base64 of the 32-byte seed. Empty: derived from SECRET_KEY;
# `manage.py audit_export --public-key` prints the public key. AUDIT_EXPORT_SIGNING_KEY is the
# name it had before checkpoints used it too, still read.
AUDIT_SIGNING_KEY = env_str("AUDIT_SIGNING_KEY", "")
if not AUDIT_SIGNING_KEY:
    AUDIT_SIGNING_KEY = env_str("AUDIT_EXPORT_SIGNING_KEY", "")
elif env_str("AUDIT_EXPORT_SIGNING_KEY", "") not in ("", AUDIT_SIGNING_KEY):
    raise ImproperlyConfigured(
        "AUDIT_SIGNING_KEY and AUDIT_EXPORT_SIGNING_KEY differ: set only AUDIT_SIGNING_KEY."
    )
# Public keys (base64) of earlier audit signing keys whose checkpoints still count after a
# rotation.
AUDIT_TRUSTED_PUBLIC_KEYS = env_list("AUDIT_TRUSTED_PUBLIC_KEYS")
# Signed checkpoints of the chain (seq, hash, time) are appended to this JSON Lines file, which
# in production lives where the database owner cannot rewrite it (docs/security.md).
# Where `manage.py restore_drill` looks for the newest pg_dump (docs/operations.md, Backups).
BACKUP_DIR = env_str("BACKUP_DIR", str(VAR_DIR / "backups"))
AUDIT_CHECKPOINT_PATH = env_str("AUDIT_CHECKPOINT_PATH", str(VAR_DIR / "audit-checkpoints.jsonl"))
AUDIT_CHECKPOINT_EVERY_SECONDS = env_int("AUDIT_CHECKPOINT_EVERY_SECONDS", 300)
# The queue of the checkpoint task: with workers on several hosts, one worker on the host that
# holds AUDIT_CHECKPOINT_PATH consumes it (`celery worker -Q celery,<queue>`), so every
# checkpoint lands in the one store. Empty: the default queue (one host, the embedded defaults).
AUDIT_CHECKPOINT_QUEUE = env_str("AUDIT_CHECKPOINT_QUEUE", "")
# Retention of personal data (compliance/retention.py; the registry is core/privacy.py).
RETENTION_CHAT_DAYS = env_int("RETENTION_CHAT_DAYS", 365)
RETENTION_TICKET_DAYS = env_int("RETENTION_TICKET_DAYS", 3 * 365)
RETENTION_CALL_DAYS = env_int("RETENTION_CALL_DAYS", 90)
RETENTION_OUTBOX_DAYS = env_int("RETENTION_OUTBOX_DAYS", 90)
RETENTION_DELIVERY_DAYS = env_int("RETENTION_DELIVERY_DAYS", 365)
RETENTION_ALARM_DAYS = env_int("RETENTION_ALARM_DAYS", 180)
# Deferred events are sealed by beat (AUDIT_SEAL_EVERY_SECONDS); with this on, also right
# after each commit by the request that wrote them (sooner, at a few statements per request).
AUDIT_SEAL_AFTER_COMMIT = env_bool("AUDIT_SEAL_AFTER_COMMIT", False)
AUDIT_SEAL_EVERY_SECONDS = env_int("AUDIT_SEAL_EVERY_SECONDS", 2)

# Incident notices (status/notify.py): the first notice and the resolution go out at once;
# the updates in between once an incident has been quiet this long, and at most once per
# interval per incident.
STATUS_NOTIFY_QUIET_SECONDS = env_int("STATUS_NOTIFY_QUIET_SECONDS", 60)
STATUS_NOTIFY_MIN_INTERVAL_SECONDS = env_int("STATUS_NOTIFY_MIN_INTERVAL_SECONDS", 600)
# Subscribers are reminded of a maintenance window this long before it starts.
STATUS_MAINTENANCE_REMINDER_MINUTES = env_int("STATUS_MAINTENANCE_REMINDER_MINUTES", 60)
# Bearer token of Prometheus Alertmanager's webhook (/api/v1/alerts/alertmanager); empty: off.
ALERTMANAGER_TOKEN = env_str("ALERTMANAGER_TOKEN", "")
# The phone system's call events (/api/v1/telephony/events): bearer token (empty: off); a
# line whose answer rate over the window falls under the threshold (with at least the minimum
# of calls) counts as overloaded: its missed callers get an SMS and a callback ticket.
TELEPHONY_TOKEN = env_str("TELEPHONY_TOKEN", "")
TELEPHONY_ANSWER_RATE_THRESHOLD = float(env_str("TELEPHONY_ANSWER_RATE_THRESHOLD", "0.9"))
TELEPHONY_WINDOW_MINUTES = env_int("TELEPHONY_WINDOW_MINUTES", 15)
TELEPHONY_MIN_CALLS = env_int("TELEPHONY_MIN_CALLS", 5)

# Inbound e-mail (docs/email.md). The raw-MIME endpoint's bearer token (empty: endpoint off)
# and the largest mail it or the poller takes.
MAIL_INGEST_TOKEN = env_str("MAIL_INGEST_TOKEN", "")
MAIL_MAX_BYTES = env_int("MAIL_MAX_BYTES", 25 * 1024 * 1024)
# Mail from an address the desk does not know: "contact" files it under an unidentified
# contact (one organisation per region, for agents to match), "reject" drops it (audited).
MAIL_UNKNOWN_SENDERS = env_str("MAIL_UNKNOWN_SENDERS", "contact")
# Where customers' mail programs send their answers (Reply-To of ticket e-mail); empty: From.
MAIL_REPLY_ADDRESS = env_str("MAIL_REPLY_ADDRESS", "")
# The authserv-id of the desk's own mail server's Authentication-Results headers (RFC 8601):
# set, a mail answers a ticket only when that server verified its sender (DMARC, or aligned
# DKIM/SPF); empty, the From address is believed (development only; check --deploy warns).
MAIL_AUTHSERV_ID = env_str("MAIL_AUTHSERV_ID", "")
# Acknowledgements to one sender per hour at most (loop protection, RFC 3834).
MAIL_AUTOREPLY_PER_HOUR = env_int("MAIL_AUTOREPLY_PER_HOUR", 3)
# Mailboxes the poller reads, as JSON: [{"name", "host", "port", "user", "password_env",
# "folder", "queue", "done": "flag" | "move:<folder>"}]; each password is read from the
# environment variable named by password_env, never from this value.
MAIL_IMAP_MAILBOXES = env_str("MAIL_IMAP_MAILBOXES", "[]")
MAIL_IMAP_TIMEOUT = env_int("MAIL_IMAP_TIMEOUT", 30)

# Redis: absent means in-memory channel layer, local-memory cache and eager Celery.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "wd",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's pub/sub layer with pooled publishes: why, and what it gives up,
            # in servicedesk/channel_layers.py.
            "BACKEND": "servicedesk.channel_layers.RedisChannelLayer",
            # CHANNEL_LAYER_PREFIX keeps two desks (or two test runs) on one Redis apart:
            # pub/sub channels ignore the database number.
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNEL_LAYER_PREFIX", "wd:asgi")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: a broker from CELERY_BROKER_URL or REDIS_URL; with neither, tasks run eagerly in-process.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL) or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_EAGER", CELERY_BROKER_URL.startswith("memory://"))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_PUBLISH_RETRY = False  # a failed publish leaves the outbox row for the sweep
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers and beat wait for the broker as long as it takes (Celery's default gives up after
# 100 attempts, about 45 minutes, and the process exits); they retry every 2 s, growing to
# every 30 s, and resume by themselves (servicedesk/tests/test_fault_drills.py).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# On a connection loss, tasks already running finish (their ack fails and the message comes
# back after the visibility timeout, finding its row sent) instead of being cancelled halfway
# through a delivery. Set explicitly: Celery 6 turns it on by default.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport with a fix for a worker crash on connection loss (why, in
    # servicedesk/broker.py).
    CELERY_BROKER_TRANSPORT = "servicedesk.broker:RedisTransport"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,  # longer than any retry countdown (checklist 44)
    # Publishing must fail fast when the broker is down: the request still commits and the
    # outbox sweep delivers later. One quick reconnect attempt, then give up.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
    "socket_connect_timeout": 0.4,
    "socket_timeout": 5,
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ROUTES = (
    {"audit.checkpoint": {"queue": AUDIT_CHECKPOINT_QUEUE}} if AUDIT_CHECKPOINT_QUEUE else {}
)
# django-celery-beat's scheduler behind a lock: a second beat waits (servicedesk/beat.py).
CELERY_BEAT_SCHEDULER = "servicedesk.beat:SingleBeatScheduler"
CELERY_WORKER_SEND_TASK_EVENTS = False

# Authentication.
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (accounts/lockout.py, docs/security.md "Signing in"): this many failed
# passwords per account and client network lock that network out, and as many from any
# networks soft-lock the account for networks it never signed in from; the lock lasts
# LOGIN_LOCKOUT_SECONDS. At most LOGIN_ACCOUNT_HOURLY_LIMIT failures per account and hour.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)
LOGIN_ACCOUNT_HOURLY_LIMIT = env_int("LOGIN_ACCOUNT_HOURLY_LIMIT", 100)
LOGIN_KNOWN_NETWORK_DAYS = env_int("LOGIN_KNOWN_NETWORK_DAYS", 90)
STAFF_SESSION_IDLE_SECONDS = env_int("STAFF_SESSION_IDLE_SECONDS", 30 * 60)
STAFF_SESSION_MAX_SECONDS = env_int("STAFF_SESSION_MAX_SECONDS", 12 * 60 * 60)

# Staff single sign-on with OpenID Connect (accounts/oidc.py; docs/security.md "Staff single
# sign-on", docs/operations.md). Off by default; customers always sign in with their e-mail.
# mozilla-django-oidc reads the OIDC_* names below; the desk adds the maps and trust lists.
OIDC_ENABLED = env_bool("OIDC_ENABLED", False)
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "") or "SSO"
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "")
# The issuer: its discovery document gives the endpoints not set explicitly below, and the
# ID token's `iss` must equal it.
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER", "").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile groups")
# Provider groups (the claim named here, in the ID token or the userinfo answer) give desk
# roles and regions: "desk-agents=agent,desk-supervisors=supervisor", "desk-east=east" (region
# codes). A sign-in with no group of OIDC_ROLE_MAP is refused.
OIDC_GROUP_CLAIM = env_str("OIDC_GROUP_CLAIM", "groups")
OIDC_ROLE_MAP = env_pairs("OIDC_ROLE_MAP")
OIDC_REGION_MAP = env_pairs("OIDC_REGION_MAP")
# `amr` methods (RFC 8176) or `acr` values of the ID token that count as the desk's second
# factor; empty: the desk's own TOTP is always asked.
OIDC_TRUSTED_AMR = env_list("OIDC_TRUSTED_AMR", [])
OIDC_TRUSTED_ACR = env_list("OIDC_TRUSTED_ACR", [])
# A single-sign-on session asks the provider again this often whether the account still
# exists (accounts.oidc.ProviderSessionMiddleware).
OIDC_RECHECK_SECONDS = env_int("OIDC_RECHECK_SECONDS", 300)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 5)
OIDC_USE_PKCE = True
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:oidc_callback"
if OIDC_ENABLED:
    _oidc_endpoints = (
        OIDC_OP_AUTHORIZATION_ENDPOINT,
        OIDC_OP_TOKEN_ENDPOINT,
        OIDC_OP_USER_ENDPOINT,
        OIDC_OP_JWKS_ENDPOINT,
    )
    if not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "OIDC_ENABLED is on: set OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET (the desk's "
            "client at the identity provider)."
        )
    if not OIDC_OP_ISSUER and not all(_oidc_endpoints):
        raise ImproperlyConfigured(
            "OIDC_ENABLED is on: set OIDC_OP_ISSUER, or all of OIDC_OP_AUTHORIZATION_ENDPOINT, "
            "OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT and OIDC_OP_JWKS_ENDPOINT."
        )
    if not OIDC_ROLE_MAP:
        raise ImproperlyConfigured(
            "OIDC_ENABLED is on: set OIDC_ROLE_MAP (provider groups to desk roles, e.g. "
            "desk-agents=agent); without it nobody could sign in."
        )
    AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "accounts.oidc.ProviderBackend"]

# Two-factor authentication (django-otp).
OTP_TOTP_ISSUER = "WeldDesk"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# TOTP tolerance: a code is accepted for its own 30-second step and one step either side
# (±30 s), a documented exception to tolerance=0: phone clocks drift and a code typed as its
# step ends would otherwise fail often. Each step is accepted once (django-otp's last_t), so
# a code used once is refused again, and a code two steps old is refused. Drift is not
# followed (OTP_TOTP_SYNC off): the window stays around the server's clock and cannot wander.
OTP_TOTP_TOLERANCE = 1
OTP_TOTP_SYNC = False
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
OTP_BACKUP_CODE_COUNT = 10

# Sessions live in the database so a Redis outage logs nobody out, read through the shared
# cache so a page does not pay a round trip for them (accounts/sessions.py).
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
if SECURE_COOKIES:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# Transport security (production defaults; TLS terminates at nginx).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env_bool("BEHIND_TLS_PROXY", not DEBUG):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# WebSockets (accounts/sockets.py): plain ws:// is refused where HTTP is redirected to HTTPS;
# behind nginx, `X-Forwarded-Proto: https` counts only from TRUSTED_PROXIES. An open socket's
# session is checked again at least this often (signed out elsewhere, limits, second factor).
WEBSOCKET_REQUIRE_TLS = env_bool("WEBSOCKET_REQUIRE_TLS", SECURE_SSL_REDIRECT)
WEBSOCKET_SESSION_CHECK_SECONDS = env_int("WEBSOCKET_SESSION_CHECK_SECONDS", 60)
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Internationalisation.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# Static files ship with the project (no CDN); uploads live outside the static roots.
STATIC_URL = "/static/"
# STATIC_ROOT apart from var/ lets an image collect them at build while var/ is a volume.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# whitenoise warns about a missing root; a read-only image layer was collected at build.
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"
# Uploads (ticket attachments, chat files): the local disk under MEDIA_ROOT (the embedded
# default), or a private bucket of an S3-compatible store (AWS S3, Alibaba OSS, MinIO). With
# s3 a download is answered, after the permission check, by a redirect to a URL signed for
# S3_SIGNED_URL_SECONDS (docs/operations.md, "Uploads in object storage").
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local").strip().lower() or "local"
S3_SIGNED_URL_SECONDS = env_int("S3_SIGNED_URL_SECONDS", 60)
if STORAGE_BACKEND == "local":
    UPLOAD_STORAGE: dict = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif STORAGE_BACKEND == "s3":
    UPLOAD_STORAGE = {
        "BACKEND": "core.s3.PrivateS3Storage",
        "OPTIONS": s3_storage_options(signed_url_seconds=S3_SIGNED_URL_SECONDS),
    }
    # A chat image is shown from its signed URL: the store's public address may serve images.
    _s3 = UPLOAD_STORAGE["OPTIONS"]
    _store = _s3["public_endpoint_url"] or _s3["endpoint_url"]
    if _store:
        _store_origins = [f"{urlsplit(_store).scheme}://{urlsplit(_store).netloc}"]
    else:  # AWS itself: the bucket's virtual-hosted address, with or without the region
        _store_origins = [f"https://{_s3['bucket_name']}.s3.amazonaws.com"]
        if _s3["region_name"]:
            _store_origins.append(
                f"https://{_s3['bucket_name']}.s3.{_s3['region_name']}.amazonaws.com"
            )
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"] += _store_origins
else:
    raise ImproperlyConfigured(
        f"STORAGE_BACKEND must be 'local' or 's3' (got {STORAGE_BACKEND!r})."
    )
STORAGES = {
    "default": UPLOAD_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Ticket attachments: per-file limit, per-user quota, and nginx X-Accel-Redirect for downloads.
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024)
ATTACHMENT_QUOTA_BYTES = env_int("ATTACHMENT_QUOTA_BYTES", 500 * 1024 * 1024)
ATTACHMENT_X_ACCEL_PREFIX = env_str("ATTACHMENT_X_ACCEL_PREFIX", "")
# clamd scans every upload before anyone sees it (core/malware.py): tcp://host:port or
# unix:///path; "off" turns scanning off. With DEBUG off it must be set, so a forgotten
# scanner is a refusal to start, not silently unscanned files.
CLAMD_ADDRESS = env_str("CLAMD_ADDRESS", "").strip()
if not CLAMD_ADDRESS and not DEBUG:
    raise ImproperlyConfigured(
        "CLAMD_ADDRESS is not set. With DEBUG off WeldDesk will not start without it: uploads "
        "are scanned by clamd. Set it to clamd's address (e.g. unix:///run/clamav/clamd.ctl or "
        "tcp://127.0.0.1:3310), or to 'off' to accept files unscanned."
    )
CLAMD_TIMEOUT_SECONDS = env_int("CLAMD_TIMEOUT_SECONDS", 30)
# A customer reply reopens a resolved ticket within this many days; later it is closed.
TICKET_REOPEN_DAYS = env_int("TICKET_REOPEN_DAYS", 7)
# REST API: requests per minute per API key (and per signed-in user), Idempotency-Key lifetime.
API_KEY_RATE_PER_MINUTE = env_int("API_KEY_RATE_PER_MINUTE", 600)
API_USER_RATE_PER_MINUTE = env_int("API_USER_RATE_PER_MINUTE", 300)
# 403s to anonymous callers (no user, no API key) audited per client network a minute; every one
# is counted in welddesk_refusals_total (accounts.permissions.refusal_noted).
REFUSAL_AUDIT_ANONYMOUS_PER_MINUTE = env_int("REFUSAL_AUDIT_ANONYMOUS_PER_MINUTE", 10)
IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24)
# An in-flight Idempotency-Key claim older than this is taken to be abandoned (its process was
# killed mid-request): until then a retry gets 409 (docs/operations.md "nginx in front").
IDEMPOTENCY_STALE_SECONDS = env_int("IDEMPOTENCY_STALE_SECONDS", 300)

# Email and SMS: console by default, SMTP / an HTTP provider when configured.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "WeldDesk <service@welddesk.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SMS_BACKEND = env_str("SMS_BACKEND", "notifications.sms.ConsoleSMSBackend")
SMS_API_URL = env_str("SMS_API_URL", "")
SMS_API_TOKEN = env_str("SMS_API_TOKEN", "")
# WeCom (企业微信) application messages (notifications/wecom.py): the console backend prints.
WECOM_BACKEND = env_str("WECOM_BACKEND", "notifications.wecom.ConsoleWeComBackend")
WECOM_API_BASE = env_str("WECOM_API_BASE", "https://qyapi.weixin.qq.com").rstrip("/")
WECOM_CORP_ID = env_str("WECOM_CORP_ID", "")
WECOM_SECRET = env_str("WECOM_SECRET", "")
WECOM_AGENT_ID = env_str("WECOM_AGENT_ID", "")
# The WeCom application's callback (intake/wechat, POST /api/v1/wecom/callback: messages its
# users send to the application): its Token and EncodingAESKey. Empty: the callback is off.
WECOM_CALLBACK_TOKEN = env_str("WECOM_CALLBACK_TOKEN", "")
WECOM_ENCODING_AES_KEY = env_str("WECOM_ENCODING_AES_KEY", "")
# The WeChat official account (公众号, docs/wechat.md): its AppID, AppSecret (for answers by the
# customer-service API, notifications/wechat.py), the callback Token (empty: the callback,
# POST /api/v1/wechat/callback, is off) and EncodingAESKey (empty: plain mode; set: safe
# mode, every message encrypted). The console backend prints answers.
WECHAT_BACKEND = env_str("WECHAT_BACKEND", "notifications.wechat.ConsoleWeChatBackend")
WECHAT_API_BASE = env_str("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/")
WECHAT_APP_ID = env_str("WECHAT_APP_ID", "")
WECHAT_APP_SECRET = env_str("WECHAT_APP_SECRET", "")
WECHAT_TOKEN = env_str("WECHAT_TOKEN", "")
WECHAT_ENCODING_AES_KEY = env_str("WECHAT_ENCODING_AES_KEY", "")
# Signed webhooks (notifications/webhooks.py): the key each receiving URL's secret is derived
# from (empty: derived from SECRET_KEY); plain http and private addresses only when allowed.
WEBHOOK_SIGNING_KEY = env_str("WEBHOOK_SIGNING_KEY", "")
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# Web push (notifications/webpush.py): the desk's VAPID private key (base64url raw or PEM;
# empty: browser notifications are off) and the contact push services may write to.
WEBPUSH_VAPID_PRIVATE_KEY = env_str("WEBPUSH_VAPID_PRIVATE_KEY", "")
WEBPUSH_SUBJECT = env_str("WEBPUSH_SUBJECT", "mailto:ops@welddesk.example")
# Courier tracking (logistics/carriers.py). The sandbox carrier is built in; Kuaidi100 (快递100)
# is on when its customer id and key are set; its push callbacks are signed with the salt.
KUAIDI100_URL = env_str("KUAIDI100_URL", "https://poll.kuaidi100.com/poll/query.do")
KUAIDI100_CUSTOMER = env_str("KUAIDI100_CUSTOMER", "")
KUAIDI100_KEY = env_str("KUAIDI100_KEY", "")
KUAIDI100_SALT = env_str("KUAIDI100_SALT", "")
KUAIDI100_TIMEOUT_SECONDS = env_int("KUAIDI100_TIMEOUT_SECONDS", 10)
# Polling of shipments not yet delivered: the usual interval and the longest backoff.
TRACKING_POLL_MINUTES = env_int("TRACKING_POLL_MINUTES", 30)
TRACKING_BACKOFF_MAX_MINUTES = env_int("TRACKING_BACKOFF_MAX_MINUTES", 360)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8)
OUTBOX_SWEEP_AFTER_SECONDS = env_int("OUTBOX_SWEEP_AFTER_SECONDS", 30)

# REST API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api_auth.ApiKeyScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api_auth.PerCallerThrottle"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "core.parsers.FormParser",
        "core.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WeldDesk API",
    "DESCRIPTION": "After-sales service desk for laser-welding equipment.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TierEnum": "accounts.models.Tier",
        "AlertStatusEnum": ["firing", "resolved"],
        "TicketStatusEnum": "tickets.models.Status",
        "MachineStateEnum": ["running", "warning", "stopped"],
        "UnitStateEnum": ["running", "warning", "stopped", "unknown"],
    },
    # /api/schema/ and /api/docs/: a signed-in person or an API key, unless API_DOCS_PUBLIC.
    "SERVE_PERMISSIONS": ["core.schema.DocsAccess"],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "MachineBearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The shared token of a machine caller (Alertmanager, the phone "
                "system, the mail relay): ALERTMANAGER_TOKEN, TELEPHONY_TOKEN, MAIL_INGEST_TOKEN.",
            }
        }
    },
}
# Serve the API schema and its documentation to anyone (default: only with DEBUG); else only
# to a signed-in person or an API key.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", DEBUG)

# Operations.
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
# Proxies (e.g. nginx) whose X-Forwarded-For is believed when finding the client address.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "core.logging.RequestContextFilter"}},
    "formatters": {
        "line": {
            "()": "core.logging.SafeFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_context"],
            "formatter": "line",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Our own access log replaces Django's, which would print raw paths and query strings.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # The development server's own access log prints raw paths and query strings.
        "django.channels.server": {"level": "ERROR"},
    },
}

# Workers, beat and commands started while the database does not answer wait this long for it
# (to check the encryption keys) before they exit with 75 to be restarted (servicedesk/startup.py).
STARTUP_DATABASE_WAIT_SECONDS = env_int("STARTUP_DATABASE_WAIT_SECONDS", 60)

# Tests and drills.
REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", False)
SILENCED_SYSTEM_CHECKS = ["auth.W004"]  # email is unique through email_bidx, checked by the backend
