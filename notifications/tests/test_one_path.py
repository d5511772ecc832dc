"""Only notifications writes outbox rows: every other app composes a Message and names people.

A static scan of every app's modules (tests and migrations aside) fails on an import or use of
the outbox writer, the Outbox model or the channel list outside notifications, on the
outbox's table named in SQL, and on the model fetched by name; and at run time the writer
refuses a caller from another app.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from notifications import services

ROOT = Path(__file__).resolve().parents[2]
WRITERS = {
    "_enqueue",
    "_enqueue_new",
    "_enqueue_in_batch",
    "_enqueue_new_many",
    "_write",
    "notification_enqueue",
    "_insert_unless_key_exists",
    "_insert_many_unless_key_exists",
}
MODEL_NAMES = {"Outbox", "Channel"}  # writing rows, or picking channels


def apps() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [p for p in config["tool"]["importlinter"]["root_packages"] if p != "notifications"]


def modules(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if "tests" in parts or "migrations" in parts or path.name == "conftest.py":
            continue
        yield path


def offences(source: str) -> list[str]:
    """What in this module writes outbox rows or picks channels, one line per finding."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("notifications"):
            for alias in node.names:
                if alias.name in WRITERS:
                    found.append(f"{where}: imports {node.module}.{alias.name}")
                if node.module == "notifications.models" and alias.name in MODEL_NAMES:
                    found.append(f"{where}: imports notifications.models.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "notifications.models":
                    found.append(f"{where}: imports notifications.models")
        elif isinstance(node, ast.Attribute) and node.attr in WRITERS:
            found.append(f"{where}: uses .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.lower()
            if "notifications_outbox" in text:
                found.append(f"{where}: names the outbox table in SQL")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get_model":
            # (A label alone, as in core.privacy's register of personal data, writes nothing.)
            names = ".".join(str(a.value) for a in node.args if isinstance(a, ast.Constant))
            if names.lower() == "notifications.outbox":
                found.append(f"{where}: fetches the Outbox model by name")
    return found


def test_no_app_outside_notifications_writes_outbox_rows_or_picks_channels():
    found = {
        str(path.relative_to(ROOT)): offences(path.read_text())
        for app in apps()
        for path in modules(app)
    }
    found = {path: lines for path, lines in found.items() if lines}
    assert found == {}, "compose a notifications.messages.Message and call notify() instead"


@pytest.mark.parametrize(
    "source",
    [
        "from notifications.services import notification_enqueue",
        "from notifications.services import _enqueue as enqueue",
        "from notifications import services\nservices._enqueue(key='x')",
        "from notifications.models import Outbox",
        "from notifications.models import Channel",
        "import notifications.models",
        "cursor.execute('INSERT INTO notifications_outbox (key) VALUES (%s)', ['x'])",
        "apps.get_model('notifications', 'Outbox').objects.create()",
        "apps.get_model('notifications.Outbox').objects.create()",
    ],
)
def test_the_scan_finds_each_way_around_the_path(source):
    assert offences(source), source


def test_the_scan_lets_a_message_through():
    source = (
        "from notifications.messages import Message, notify\n"
        "notify(to=user, message=Message(template='ticket_reply', key='k'))\n"
    )
    assert offences(source) == []


def test_the_writer_refuses_a_caller_from_another_app():
    """A module of another app that reaches the private writer anyway is stopped at once."""
    outsider = {"__name__": "tickets.services.sneaky", "services": services}
    with pytest.raises(RuntimeError, match=r"notifications\.messages\.notify"):
        exec(  # noqa: S102 - a module of another app, simulated
            "services._enqueue(key='k', channel='email', recipient='a@b.example', body='x')",
            outsider,
        )
    with pytest.raises(RuntimeError):
        exec("services._enqueue_new(key='k')", outsider)  # noqa: S102
