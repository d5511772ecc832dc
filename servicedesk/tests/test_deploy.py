"""The deployment recipes in deploy/ and the Dockerfile, each checked by its own tool: the
Dockerfile by hadolint, the compose file by `docker-compose config`, the systemd units by
`systemd-analyze verify`, the Kubernetes manifests by kubernetes-validate (strict schema), the
compose stack's nginx and the plain host's deploy/nginx site by `nginx -t`; and what each
promises (two web processes and one beat, probes, a non-root image) read from the files
themselves. A broken key in any of them fails here, as the negative controls show."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
REQUIRED = os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes", "on"}


def tool(name: str, *fallbacks: str) -> str:
    found = shutil.which(name) or next((f for f in fallbacks if Path(f).exists()), None)
    if found is None:
        reason = f"{name} is not installed (.ci/run or requirements-dev.txt installs it)"
        if REQUIRED:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return found


# ------------------------------------------------------------------------------ compose


def _compose_copy(tmp_path: Path) -> Path:
    """deploy/ and the Dockerfile in a scratch tree, with the .env an operator makes from
    env.example (the compose file refuses to render without its passwords)."""
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    compose = tmp_path / "deploy" / "compose"
    shutil.copy(compose / "env.example", compose / ".env")
    return compose


def _compose_config(compose: Path) -> subprocess.CompletedProcess:
    binary = tool("docker-compose")
    return subprocess.run(
        [binary, "config"], cwd=compose, capture_output=True, text=True, timeout=60
    )


def test_the_compose_file_is_valid_and_runs_two_web_processes_one_beat(tmp_path):
    result = _compose_config(_compose_copy(tmp_path))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    webs = [name for name, s in services.items() if "daphne" in s.get("command", [])]
    beats = [name for name, s in services.items() if "beat" in s.get("command", [])]
    assert len(webs) >= 2 and beats == ["beat"]
    for name in ("postgres", "redis", "nginx", "worker", "prometheus", "grafana", "minio"):
        assert name in services
    # Start order: the desk waits for healthy databases and the finished migration.
    for name in [*webs, "worker", "beat"]:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in services[name] or name == "beat"
    assert services["nginx"]["depends_on"]["web1"]["condition"] == "service_healthy"
    # Uploads live in MinIO's bucket, made by minio-setup before the desk starts.
    for name in [*webs, "worker", "beat"]:
        environment = services[name]["environment"]
        assert environment["STORAGE_BACKEND"] == "s3"
        assert environment["S3_ENDPOINT_URL"] == "http://minio:9000"
        assert environment["S3_BUCKET"] == "welddesk-uploads"
        assert environment["S3_PUBLIC_ENDPOINT_URL"] == "https://desk.example.com"
        assert environment["S3_ACCESS_KEY"] == environment["S3_SECRET_KEY"] == "change-me"
        condition = services[name]["depends_on"]["minio-setup"]["condition"]
        assert condition == "service_completed_successfully"
    setup = services["minio-setup"]
    assert setup["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing desk/welddesk-uploads" in " ".join(setup["command"])
    # Secrets come from .env, never from the compose file itself.
    text = (DEPLOY / "compose" / "compose.yaml").read_text()
    for key in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"):
        assert not re.search(rf"^\s*{key}:", text, re.M)


def test_a_compose_file_with_an_unknown_key_is_refused(tmp_path):
    compose = _compose_copy(tmp_path)
    path = compose / "compose.yaml"
    broken = path.read_text().replace("\n  redis:\n", "\n  redis:\n    restartt: always\n", 1)
    path.write_text(broken)
    result = _compose_config(compose)
    assert result.returncode != 0 and "restartt" in result.stderr


def _nginx_t(tmp_path: Path, site: str) -> subprocess.CompletedProcess:
    """`nginx -t` of a site (http context) with the shipped locations, its certificate, snippet
    and log paths pointed at a scratch directory (a certificate made here)."""
    nginx = tool("nginx", "/usr/sbin/nginx")
    openssl = tool("openssl")
    certs = tmp_path / "certs"
    certs.mkdir(parents=True)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=desk.test", "-keyout", str(certs / "desk.key"), "-out", str(certs / "desk.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = site.replace("/etc/nginx/certs/", f"{certs}/")
    site = site.replace("/etc/ssl/certs/desk.example.com.pem", f"{certs}/desk.pem")
    site = site.replace("/etc/ssl/private/desk.example.com.key", f"{certs}/desk.key")
    site = site.replace("/etc/nginx/snippets/", f"{tmp_path}/")
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    locations = (DEPLOY / "nginx" / "welddesk-locations.conf").read_text()
    (tmp_path / "welddesk-locations.conf").write_text(locations)
    temp = "".join(
        f" {kind}_temp_path {tmp_path}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ access_log off;{temp}\n{site}\n}}\n"
    )
    return subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_the_compose_nginx_passes_nginx_t(tmp_path):
    site = (DEPLOY / "compose" / "nginx.conf").read_text()
    # The compose services' names resolve inside the stack only; here they are loopback.
    site = re.sub(r"server (web1|web2|web-backup):8000", "server 127.0.0.1:8000", site)
    site = site.replace("server minio:9000", "server 127.0.0.1:9000")
    result = _nginx_t(tmp_path, site)
    assert result.returncode == 0, result.stderr
    assert "backup" in site and "max_fails" in site
    # Uploads in MinIO are reached by their signed URLs only, without the desk's cookies.
    uploads = site.split("location /welddesk-uploads/ {", 1)[1].split("\n    }\n", 1)[0]
    assert 'proxy_set_header Cookie "";' in uploads and "limit_except GET" in uploads
    assert "nosniff" in uploads and "sandbox" in uploads


def test_the_plain_host_nginx_site_passes_nginx_t(tmp_path):
    """deploy/nginx/welddesk.conf whole, TLS servers included (test_nginx.py runs its upstream,
    log format and locations on a plain listener, not its server blocks)."""
    site = (DEPLOY / "nginx" / "welddesk.conf").read_text()
    result = _nginx_t(tmp_path, site)
    assert result.returncode == 0, result.stderr
    broken = _nginx_t(tmp_path / "broken", site.replace("listen 443 ssl", "listen 443 sll", 1))
    assert broken.returncode != 0 and "sll" in broken.stderr


# ------------------------------------------------------------------------------ systemd


def _units(tmp_path: Path) -> Path:
    """The units with their executables pointed at stand-ins that exist (verify checks that
    ExecStart can run) and nothing else changed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("daphne", "celery", "python"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/srv/welddesk/app/.venv/bin/", f"{bin_dir}/")
        (units / unit.name).write_text(text)
    return units


def _verify(units: Path, *names: str) -> subprocess.CompletedProcess:
    binary = tool("systemd-analyze")
    return subprocess.run(
        [binary, "verify", *names],
        cwd=units, capture_output=True, text=True, timeout=60,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"},
    )  # fmt: skip


UNITS = (
    "welddesk-web@8001.service",
    "welddesk-worker.service",
    "welddesk-beat.service",
    "welddesk-migrate.service",
    "welddesk.target",
)


def test_the_systemd_units_verify_without_a_warning(tmp_path):
    result = _verify(_units(tmp_path), *UNITS)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    web = (DEPLOY / "systemd" / "welddesk-web@.service").read_text()
    assert "-v 0" in web and "User=welddesk" in web and "Requires=welddesk-migrate.service" in web


def test_a_unit_with_an_unknown_key_is_caught(tmp_path):
    units = _units(tmp_path)
    path = units / "welddesk-beat.service"
    path.write_text(path.read_text().replace("[Service]\n", "[Service]\nRestartt=always\n"))
    result = _verify(units, "welddesk-beat.service")
    assert "Restartt" in result.stderr


# ------------------------------------------------------------------------------ kubernetes


def _manifests() -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] != "Kustomization":
                found[(document["kind"], document["metadata"]["name"])] = document
    return found


def _validate(*paths: Path) -> subprocess.CompletedProcess:
    binary = tool(
        "kubernetes-validate", str(Path(os.sys.executable).parent / "kubernetes-validate")
    )
    return subprocess.run(
        [binary, "--strict", "--quiet", *map(str, paths)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_kubernetes_manifests_pass_strict_schema_validation():
    paths = [p for p in sorted((DEPLOY / "kubernetes").glob("*.yaml")) if p.stem != "kustomization"]
    result = _validate(*paths)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert sorted(listed["resources"]) == sorted(p.name for p in paths)


def test_a_manifest_with_an_unknown_field_is_refused(tmp_path):
    text = (DEPLOY / "kubernetes" / "beat.yaml").read_text()
    bad = tmp_path / "beat.yaml"
    bad.write_text(text.replace("  replicas: 1\n", "  replicas: 1\n  replicaz: 2\n"))
    result = _validate(bad)
    assert result.returncode != 0 and "replicaz" in result.stdout + result.stderr


def test_kubernetes_runs_web_and_workers_scaled_one_beat_and_probes_the_health_views():
    manifests = _manifests()
    web = manifests[("Deployment", "welddesk-web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    scaled = {
        m["spec"]["scaleTargetRef"]["name"]
        for (kind, _), m in manifests.items()
        if kind == "HorizontalPodAutoscaler"
    }
    assert scaled == {"welddesk-web", "welddesk-worker"}
    beat = manifests[("Deployment", "welddesk-beat")]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"
    secret = manifests[("Secret", "welddesk-keys")]["stringData"]
    assert {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"} <= set(secret)
    assert set(secret.values()) & {"change-me"}  # placeholders, never real keys
    ingress = manifests[("Ingress", "welddesk")]["metadata"]["annotations"]
    assert int(ingress["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


# ------------------------------------------------------------------------------ the image


def test_the_image_is_slim_runs_as_a_user_and_collects_static_files_at_build():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"manage\.py collectstatic", dockerfile)
    # No secret is baked into the image's environment.
    env_block = " ".join(re.findall(r"^ENV (.*?)(?<!\\)$", dockerfile, re.M | re.S))
    for secret in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"):
        assert secret not in env_block
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)


def _hadolint(path: Path) -> subprocess.CompletedProcess:
    binary = tool("hadolint", str(Path(os.sys.executable).parent / "hadolint"))
    return subprocess.run(
        [binary, "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_the_dockerfile_passes_hadolint():
    result = _hadolint(ROOT / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_dockerfile_hadolint_objects_to_is_refused(tmp_path):
    bad = tmp_path / "Dockerfile"
    text = (ROOT / "Dockerfile").read_text()
    bad.write_text(text.replace("WORKDIR /srv/welddesk/app\n", "RUN cd /srv/welddesk/app\n", 1))
    result = _hadolint(bad)
    assert result.returncode != 0 and "DL3003" in result.stdout  # cd instead of WORKDIR


# ------------------------------------------------------------------------------ prometheus


def test_the_prometheus_config_rules_and_alertmanager_pass_their_own_checks(tmp_path):
    promtool = tool("promtool")
    amtool = tool("amtool")
    rules = DEPLOY / "prometheus" / "welddesk-rules.yml"
    config = (DEPLOY / "compose" / "prometheus.yml").read_text()
    assert "/etc/prometheus/welddesk-rules.yml" in config  # where compose mounts the rules
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/welddesk-rules.yml", str(rules))
    )
    checks = [
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        [promtool, "check", "rules", str(rules)],
        [amtool, "check-config", str(DEPLOY / "prometheus" / "alertmanager.yml")],
    ]
    for command in checks:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (command, result.stdout, result.stderr)


def test_prometheus_scrapes_every_web_process_of_the_compose_stack(tmp_path):
    """Each Daphne keeps its own request counters (no multiprocess mode, docs/operations.md
    "Several processes"), so a web process left out of the scrape is traffic never counted."""
    result = _compose_config(_compose_copy(tmp_path))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    webs = {name for name, s in services.items() if "daphne" in s.get("command", [])}
    config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "welddesk"]
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    assert len(webs) >= 3 and targets == {f"{name}:8000" for name in webs}
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_a_broken_rule_is_caught_by_promtool(tmp_path):
    promtool = tool("promtool")
    rules = (DEPLOY / "prometheus" / "welddesk-rules.yml").read_text()
    broken = tmp_path / "rules.yml"
    broken.write_text(rules.replace("expr:", "expr: sum(", 1))
    result = subprocess.run(
        [promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
