"""Compliance export: search, a streamed ZIP with a signed manifest, the standalone verifier."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit import chain, export
from audit.models import AuditEvent
from audit.services import audit_record
from testsupport import sign_in

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "verify_audit_export.py"


def _verifier():
    spec = importlib.util.spec_from_file_location("verify_audit_export", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verifier = _verifier()


@pytest.fixture
def officer(make_staff):
    return make_staff(roles=("compliance_officer",), email="officer@welddesk.example")


@pytest.fixture
def events(db):
    for n in range(12):
        audit_record(
            action="ticket.viewed" if n % 2 else "ticket.opened",
            actor=f"user:{100 + n % 3}",
            target_type="tickets.ticket",
            target_id=str(n),
            data={"n": n, "note": "=cmd|' /C calc'!A0" if n == 5 else "plain"},
        )


def download(client, **query) -> bytes:
    response = client.get(reverse("admin:audit_export"), query)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/zip"
    return b"".join(response.streaming_content)


def run_verifier(tmp_path, blob: bytes, key: str | None = None) -> tuple[int, str]:
    path = tmp_path / "export.zip"
    path.write_bytes(blob)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(path), "--public-key", key or export.public_key_b64()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_officer_exports_and_the_standalone_script_verifies_it(
    client, officer, events, tmp_path, fmt
):
    sign_in(client, officer)
    blob = download(client, format=fmt)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert sorted(archive.namelist()) == sorted([f"audit-events.{fmt}", "manifest.json"])
        manifest = json.loads(archive.read("manifest.json"))
        body = archive.read(f"audit-events.{fmt}")
    total = AuditEvent.objects.filter(seq__lte=manifest["last_seq"]).count()
    assert manifest["count"] == total and manifest["contiguous"] is True
    assert manifest["first_prev_hash"] == chain.GENESIS_HASH
    assert manifest["exporter"] == f"user:{officer.pk}"
    code, said = run_verifier(tmp_path, blob)
    assert code == 0, said
    assert f"OK: {total} events" in said and "chain linked" in said
    if fmt == "csv":
        # A cell a spreadsheet would run is quoted; the verifier still matches its hash.
        assert b"'=cmd|" not in body  # it is inside a JSON cell, which starts with {
        assert b'"{""n"":5' in body
    started = AuditEvent.objects.filter(
        action="audit.export_started", actor_ref=f"user:{officer.pk}"
    )
    finished = AuditEvent.objects.get(action="audit.exported", actor_ref=f"user:{officer.pk}")
    assert started.count() == 1
    assert finished.data["sha256"] == manifest["sha256"] and finished.data["count"] == total


def test_formula_cells_are_escaped_and_unescaped(client, officer, tmp_path):
    audit_record(action="ticket.opened", target_type="tickets.ticket", target_id="=HYPERLINK(1)")
    audit_record(action="ticket.opened", target_type="tickets.ticket", target_id="'quoted")
    sign_in(client, officer)
    blob = download(client, format="csv")
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        text = archive.read("audit-events.csv").decode()
    assert ",'=HYPERLINK(1)," in text and ",''quoted," in text
    code, said = run_verifier(tmp_path, blob)
    assert code == 0, said


def test_a_filtered_export_is_verified_event_by_event(client, officer, events, tmp_path):
    sign_in(client, officer)
    blob = download(client, format="jsonl", actor="user:101", action="ticket.*")
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(blob)).read("manifest.json"))
    assert manifest["count"] == 4 and manifest["contiguous"] is False
    assert manifest["filters"]["actor"] == "user:101"
    code, said = run_verifier(tmp_path, blob)
    assert code == 0 and "not contiguous" in said, said


def _rezip(blob: bytes, *, events=None, manifest=None) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "manifest.json" and manifest is not None:
                data = manifest(json.loads(data))
            elif name != "manifest.json" and events is not None:
                data = events(data)
            target.writestr(name, data)
    return out.getvalue()


def _signed(manifest: dict) -> bytes:
    import base64

    manifest["signature"] = base64.b64encode(
        export.signing_key().sign(export.canonical_manifest(manifest))
    ).decode()
    return json.dumps(manifest).encode()


def test_tampering_is_caught(client, officer, events, tmp_path):
    import hashlib

    sign_in(client, officer)
    blob = download(client, format="jsonl")
    lines = zipfile.ZipFile(io.BytesIO(blob)).read("audit-events.jsonl").splitlines(True)

    edited = _rezip(blob, events=lambda d: d.replace(b'"n":3', b'"n":4'))
    assert "does not match the manifest" in run_verifier(tmp_path, edited)[1]

    def resigned(drop: int):
        kept = b"".join(line for n, line in enumerate(lines) if n != drop)

        def fix(manifest):
            manifest["sha256"] = hashlib.sha256(kept).hexdigest()
            return _signed(manifest)

        return _rezip(blob, events=lambda _d: kept, manifest=fix)

    # Even an insider with the signing key cannot drop an event unnoticed: the chain breaks.
    code, said = run_verifier(tmp_path, resigned(drop=4))
    assert code == 1 and "event 5 is missing" in said, said
    # An edited event with a recomputed file digest: its own hash no longer matches.
    forged = b"".join(lines).replace(b'"n":3', b'"n":9')

    def fix_digest(manifest):
        manifest["sha256"] = hashlib.sha256(forged).hexdigest()
        return _signed(manifest)

    code, said = run_verifier(tmp_path, _rezip(blob, events=lambda _d: forged, manifest=fix_digest))
    assert code == 1 and "does not match its hash" in said, said
    # A manifest changed without the key fails its signature; another key is refused.
    unsigned = _rezip(blob, manifest=lambda m: json.dumps({**m, "count": 1}).encode())
    assert "signature is not valid" in run_verifier(tmp_path, unsigned)[1]
    other = "A" * 43 + "="
    assert "another public key" in run_verifier(tmp_path, blob, key=other)[1]


def test_the_verifier_hashes_exactly_as_the_chain_does(events):
    for row in AuditEvent.objects.order_by("seq").values(*export.COLUMNS)[:5]:
        exported = {**row, "at": chain.format_time(row["at"])}
        assert verifier.row_hash(exported) == chain.compute_hash(row) == row["hash"]


def test_only_compliance_officers_search_and_export(client, make_staff, officer, events):
    for role in ("agent", "supervisor"):
        sign_in(client, make_staff(roles=(role,)))
        assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403
        assert client.get(reverse("admin:audit_export")).status_code == 403
    sign_in(client, officer)
    page = client.get(reverse("admin:audit_auditevent_changelist"), {"action": "ticket.viewed"})
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == 6
    download(client, format="csv")  # "what did this account export?" is one search
    by_email = client.get(reverse("admin:audit_auditevent_changelist"), {"actor": officer.email})
    found = {e.action for e in by_email.context["cl"].result_list}
    assert {"audit.export_started", "audit.exported"} <= found
    assert all(e.actor_ref == f"user:{officer.pk}" for e in by_email.context["cl"].result_list)
    bad = client.get(
        reverse("admin:audit_auditevent_changelist"), {"since": "2026-12-05", "until": "2026-12-01"}
    )
    assert bad.status_code == 200 and "The last day comes before the first." in bad.content.decode()
    assert list(bad.context["cl"].result_list) == []  # an invalid search shows no events
    refused = client.get(
        reverse("admin:audit_export"), {"since": "2026-12-05", "until": "2026-12-01"}
    )
    assert refused.status_code == 400 and b"comes before the first" in refused.content
    assert client.get(reverse("admin:audit_export"), {"since": "yesterday"}).status_code == 400


def test_the_command_writes_a_verifiable_export(events, tmp_path, capsys):
    out = tmp_path / "cli.zip"
    call_command("audit_export", out=str(out), format="csv")
    said = capsys.readouterr().out
    assert "events written" in said and "--public-key" in said
    assert verifier.main([str(out), "--public-key", export.public_key_b64()]) == 0
    assert AuditEvent.objects.filter(action="audit.exported", actor_ref="system:cli").exists()
