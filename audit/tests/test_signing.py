"""The one audit signing key: exports and checkpoints, under its new and its old name."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import export, signing

ROOT = Path(__file__).resolve().parents[2]
PRINT_KEY = (
    "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'servicedesk.settings'); "
    "import django; django.setup(); from audit import signing; print(signing.public_key_b64())"
)


def seed_and_public() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(seed).decode(), signing.public_key_b64(key)


def start(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AUDIT_SIGNING_KEY", "AUDIT_EXPORT_SIGNING_KEY", "DATABASE_URL")
    }
    env.update(DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", **variables)
    return subprocess.run(
        [sys.executable, "-c", PRINT_KEY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_old_setting_name_still_sets_the_audit_signing_key(tmp_path):
    seed, public = seed_and_public()
    old_name = start(tmp_path, AUDIT_EXPORT_SIGNING_KEY=seed)
    assert old_name.returncode == 0, old_name.stderr
    assert old_name.stdout.strip() == public
    other, _ = seed_and_public()
    both = start(tmp_path, AUDIT_SIGNING_KEY=other, AUDIT_EXPORT_SIGNING_KEY=seed)
    assert both.returncode != 0
    assert "AUDIT_SIGNING_KEY and AUDIT_EXPORT_SIGNING_KEY differ" in both.stderr


def test_exports_and_checkpoints_are_signed_by_the_same_key(settings):
    seed, public = seed_and_public()
    settings.AUDIT_SIGNING_KEY = seed
    assert export.public_key_b64() == signing.public_key_b64() == public
    assert signing.trusted_public_keys() == {public}
