"""Configuration from the environment: refusals, production flags, check --deploy, start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 10 + "-production-secret-key-with-enough-entropy-0123456789abcdef",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "BLIND_INDEX_KEY": "b" * 64,
    "ALLOWED_HOSTS": "desk.welddesk.example",
    "SITE_URL": "https://desk.welddesk.example",
    "CLAMD_ADDRESS": "unix:///run/clamav/clamd.ctl",
    "AUDIT_SIGNING_KEY": "hYvb3Y4kTLt0X2Q7l0iS0Kx6C1cCq9e3b3rYx1H0gRk=",
    "AUDIT_CHECKPOINT_PATH": "/var/lib/welddesk-audit-anchor/checkpoints.jsonl",
}


def run(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    inherited = {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"}
    inherited |= {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SITE_URL"}
    inherited |= {"CLAMD_ADDRESS", "STORAGE_BACKEND", "S3_BUCKET", "S3_ENDPOINT_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in inherited}
    clean.update(env)
    clean.setdefault("WELDDESK_VAR_DIR", str(tmp_path / "var"))
    clean.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite3'}")
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


SETUP = (
    "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'servicedesk.settings'); "
    "import django; django.setup(); "
)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"])
def test_production_refuses_to_start_without_its_secrets(tmp_path, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run(SETUP, env, tmp_path)
    assert result.returncode != 0
    assert (
        f"{missing} is not set. With DEBUG off WeldDesk will not start without it." in result.stderr
    )


@pytest.mark.parametrize(
    "site_url", [None, "", "desk.welddesk.example", "/portal", "ftp://x.example"]
)
def test_production_refuses_to_start_without_an_absolute_site_url(tmp_path, site_url):
    """Mails carry links built on SITE_URL; without it they carried relative links."""
    env = {k: v for k, v in PRODUCTION.items() if k != "SITE_URL"}
    if site_url is not None:
        env["SITE_URL"] = site_url
    result = run(SETUP + "print('started')", env, tmp_path)
    assert result.returncode != 0 and "started" not in result.stdout
    assert "SITE_URL must be the desk's absolute public address" in result.stderr
    assert "With DEBUG off WeldDesk will not start without it" in result.stderr


def test_production_refuses_to_start_without_a_virus_scanner_unless_turned_off(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "CLAMD_ADDRESS"}
    code = SETUP + "from django.conf import settings as s; print('started', s.CLAMD_ADDRESS)"
    refused = run(code, env, tmp_path)
    assert refused.returncode != 0 and "started" not in refused.stdout
    assert "CLAMD_ADDRESS is not set. With DEBUG off WeldDesk will not start" in refused.stderr
    off = run(code, {**env, "CLAMD_ADDRESS": "off"}, tmp_path)
    assert off.returncode == 0 and off.stdout.split() == ["started", "off"], off.stderr


def test_object_storage_without_a_bucket_refuses_to_start(tmp_path):
    code = SETUP + "print('started')"
    refused = run(code, {**PRODUCTION, "STORAGE_BACKEND": "s3"}, tmp_path)
    assert refused.returncode != 0 and "started" not in refused.stdout
    assert "STORAGE_BACKEND=s3 but S3_BUCKET is not set" in refused.stderr
    assert "WeldDesk will not start without it" in refused.stderr
    unknown = run(code, {**PRODUCTION, "STORAGE_BACKEND": "ftp"}, tmp_path)
    assert unknown.returncode != 0
    assert "STORAGE_BACKEND must be 'local' or 's3' (got 'ftp')" in unknown.stderr
    bad = {"STORAGE_BACKEND": "s3", "S3_BUCKET": "desk", "S3_ENDPOINT_URL": "minio:9000"}
    refused = run(code, {**PRODUCTION, **bad}, tmp_path)
    assert refused.returncode != 0 and "S3_ENDPOINT_URL must be an absolute" in refused.stderr


def test_object_storage_settings(tmp_path):
    """Private objects, signed URLs of S3_SIGNED_URL_SECONDS, nothing overwritten, the keys
    from the environment, and chat images allowed from the store's public address."""
    code = SETUP + (
        "from django.conf import settings as s; import json; "
        "from django.core.files.storage import storages; d = storages['default']; "
        "print(json.dumps({'backend': type(d).__name__, 'acl': d.default_acl, "
        "'auth': d.querystring_auth, 'expire': d.querystring_expire, "
        "'overwrite': d.file_overwrite, 'bucket': d.bucket_name, 'location': d.location, "
        "'key': d.access_key, 'secret': d.secret_key, 'public': d.public_endpoint_url, "
        "'img': s.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']}))"
    )
    env = {
        **PRODUCTION,
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": "welddesk-uploads",
        "S3_ENDPOINT_URL": "http://minio:9000",
        "S3_PUBLIC_ENDPOINT_URL": "https://files.desk.welddesk.example",
        "S3_ACCESS_KEY": "desk-access",
        "S3_SECRET_KEY": "desk-secret",
        "S3_PREFIX": "/uploads/",
        "S3_SIGNED_URL_SECONDS": "30",
    }
    result = run(code, env, tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["backend"] == "PrivateS3Storage"
    assert found["acl"] == "private" and found["auth"] is True and found["overwrite"] is False
    assert found["expire"] == 30 and found["bucket"] == "welddesk-uploads"
    assert found["location"] == "uploads"
    assert (found["key"], found["secret"]) == ("desk-access", "desk-secret")
    assert found["public"] == "https://files.desk.welddesk.example"
    assert "https://files.desk.welddesk.example" in found["img"]
    local = run(
        SETUP + "from django.core.files.storage import storages; "
        "print(type(storages['default']).__name__)",
        PRODUCTION,
        tmp_path,
    )
    assert local.stdout.split() == ["FileSystemStorage"], local.stderr  # the default


def test_development_generates_secrets_once_into_var(tmp_path):
    code = (
        SETUP + "from django.conf import settings as s; "
        "print(s.SECRET_KEY, s.FIELD_ENCRYPTION_KEYS[0], s.BLIND_INDEX_KEY)"
    )
    first = run(code, {"DEBUG": "1"}, tmp_path)
    second = run(code, {"DEBUG": "1"}, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    secret, fernet, index = first.stdout.split()
    assert len({secret, fernet, index}) == 3
    assert (tmp_path / "var" / "secret_key").exists()


def test_production_flags(tmp_path):
    code = SETUP + (
        "from django.conf import settings as s; import json; "
        "print(json.dumps({k: getattr(s, k) for k in "
        "['SESSION_COOKIE_SECURE','SESSION_COOKIE_HTTPONLY','SESSION_COOKIE_SAMESITE','CSRF_COOKIE_SECURE',"
        "'SECURE_HSTS_SECONDS','SECURE_HSTS_INCLUDE_SUBDOMAINS','SECURE_SSL_REDIRECT','SESSION_ENGINE',"
        "'SECURE_CONTENT_TYPE_NOSNIFF','X_FRAME_OPTIONS','TIME_ZONE','CELERY_TASK_ALWAYS_EAGER']}))"
    )
    result = run(code, PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr
    flags = json.loads(result.stdout)
    assert (
        flags["SESSION_COOKIE_SECURE"]
        and flags["SESSION_COOKIE_HTTPONLY"]
        and flags["CSRF_COOKIE_SECURE"]
    )
    assert flags["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert flags["SECURE_HSTS_SECONDS"] >= 31536000 and flags["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert flags["SECURE_SSL_REDIRECT"] and flags["SECURE_CONTENT_TYPE_NOSNIFF"]
    # Sessions in the database (the record), read through the cache: accounts/sessions.py.
    assert flags["SESSION_ENGINE"] == "accounts.sessions"
    assert flags["X_FRAME_OPTIONS"] == "DENY" and flags["TIME_ZONE"] == "Asia/Shanghai"
    assert flags["CELERY_TASK_ALWAYS_EAGER"] is True  # no broker configured


def test_redis_url_switches_cache_channel_layer_and_celery(tmp_path):
    code = SETUP + (
        "from django.conf import settings as s; print(s.CACHES['default']['BACKEND'], "
        "s.CHANNEL_LAYERS['default']['BACKEND'], s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER)"
    )
    result = run(code, {**PRODUCTION, "REDIS_URL": "redis://127.0.0.1:6379/3"}, tmp_path)
    assert result.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "servicedesk.channel_layers.RedisChannelLayer",
        "redis://127.0.0.1:6379/3",
        "False",
    ]


def test_the_checkpoint_task_goes_to_the_anchor_hosts_queue_when_one_is_named(tmp_path):
    code = (
        SETUP + "from servicedesk.celery import app; route = app.amqp.router.route; "
        "print(route({}, 'audit.checkpoint')['queue'].name, route({}, 'audit.seal')['queue'].name)"
    )
    named = run(code, {"DEBUG": "1", "AUDIT_CHECKPOINT_QUEUE": "audit-anchor"}, tmp_path)
    assert named.stdout.split() == ["audit-anchor", "celery"], named.stderr
    default = run(code, {"DEBUG": "1"}, tmp_path)
    assert default.stdout.split() == ["celery", "celery"], default.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "DEBUG"},
            **PRODUCTION,
            "WELDDESK_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_refuses_the_demo_anchoring_of_the_audit_chain(tmp_path):
    """Production without AUDIT_SIGNING_KEY (derived from SECRET_KEY) fails the deploy check;
    a checkpoint store beside the desk's files is a warning."""
    env = {k: v for k, v in PRODUCTION.items() if not k.startswith("AUDIT_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "DEBUG" and not k.startswith("AUDIT_")},
            **env,
            "WELDDESK_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "welddesk.E010" in output and "welddesk.W011" in output


def test_a_server_with_the_wrong_key_refuses_to_start(tmp_path):
    db = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    env = {**PRODUCTION, "DATABASE_URL": db}
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env, "WELDDESK_VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    good = run(
        "import servicedesk.asgi; print('served')",
        {**env, "WELDDESK_STARTUP_CHECKS": "1"},
        tmp_path,
    )
    assert good.returncode == 0 and "served" in good.stdout, good.stderr
    wrong = run(
        "import servicedesk.asgi; print('served')",
        {
            **env,
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "WELDDESK_STARTUP_CHECKS": "1",
        },
        tmp_path,
    )
    assert wrong.returncode != 0 and "served" not in wrong.stdout
    assert "FIELD_ENCRYPTION_KEYS cannot decrypt the data in this database" in wrong.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_statements_are_prepared_after_repeated_runs():
    """Server-side binding (DB_SERVER_SIDE_BINDING, on by default): psycopg prepares a
    statement it has run five times on the connection, so PostgreSQL plans it once."""
    from django.db import connection

    statement = "SELECT %s::int + 1"
    with connection.cursor() as cursor:
        for n in range(8):
            cursor.execute(statement, [n])
            assert cursor.fetchone() == (n + 1,)
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        prepared = cursor.fetchone()[0]
    assert prepared >= 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_connections_do_not_jit_compile():
    """DB_JIT off by default: a millisecond statement whose size the planner overestimates
    would otherwise spend longer compiling than running (docs/performance.md, "Search")."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)


def test_a_bad_clamd_address_stops_commands_servers_and_workers_at_start(tmp_path):
    """CLAMD_ADDRESS without its scheme (a typo that would hold every upload in quarantine
    forever) or with a port out of range (which made every upload a 500): manage.py commands
    refuse by the system check, servers and workers by the start-up check."""
    for address in ("127.0.0.1:3310", "tcp://127.0.0.1:70000"):
        env = {**PRODUCTION, "CLAMD_ADDRESS": address, "WELDDESK_STARTUP_CHECKS": "1"}
        check = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT,
            env={
                **{k: v for k, v in os.environ.items() if k != "DEBUG"},
                **env,
                "WELDDESK_VAR_DIR": str(tmp_path / "var"),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode != 0
        assert f"welddesk.E005) CLAMD_ADDRESS '{address}' is not tcp://host:port" in check.stderr
        served = run("import servicedesk.wsgi; print('served')", env, tmp_path)
        assert served.returncode != 0 and "served" not in served.stdout
        assert f"CLAMD_ADDRESS '{address}' is not tcp://host:port" in served.stderr


SSO = {
    "OIDC_ENABLED": "1",
    "OIDC_RP_CLIENT_ID": "welddesk",
    "OIDC_RP_CLIENT_SECRET": "s3cret",
    "OIDC_OP_ISSUER": "https://id.welddesk.example/realms/staff",
    "OIDC_ROLE_MAP": "desk-agents=agent,desk-supervisors=supervisor",
    "OIDC_REGION_MAP": "desk-east=east",
}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"OIDC_RP_CLIENT_SECRET": ""}, "OIDC_RP_CLIENT_SECRET"),
        ({"OIDC_OP_ISSUER": ""}, "OIDC_OP_ISSUER"),
        ({"OIDC_ROLE_MAP": ""}, "OIDC_ROLE_MAP"),
        ({"OIDC_ROLE_MAP": "desk-agents"}, "OIDC_ROLE_MAP must be a comma list of key=value"),
    ],
)
def test_single_sign_on_switched_on_half_configured_refuses_to_start(tmp_path, change, named):
    result = run(SETUP, {"DEBUG": "1", **SSO, **change}, tmp_path)
    assert result.returncode != 0 and named in result.stderr


def test_single_sign_on_is_off_by_default_and_adds_its_backend_when_on(tmp_path):
    code = SETUP + (
        "from django.conf import settings; "
        "print(settings.OIDC_ENABLED, settings.AUTHENTICATION_BACKENDS[-1], "
        "settings.OIDC_ROLE_MAP)"
    )
    off = run(code, {"DEBUG": "1"}, tmp_path)
    assert off.stdout.strip() == "False accounts.backends.EmailBackend []", off.stderr
    on = run(code, {"DEBUG": "1", **SSO}, tmp_path)
    assert on.stdout.strip() == (
        "True accounts.oidc.ProviderBackend "
        "[('desk-agents', 'agent'), ('desk-supervisors', 'supervisor')]"
    ), on.stderr
