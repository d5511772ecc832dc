"""docs/security.md names, for each item of the shared security checklist, the tests that prove
it: every item is there, and every test it names exists (a renamed or deleted test fails here
instead of leaving the table pointing at nothing)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

CHECKLIST_ITEMS = 50
ROW = re.compile(r"^\| (\d+) \| [^|]+ \| (.+) \|$")
NODE = re.compile(r"`([\w/]+\.py)(?:::(\w+))?`")


def _table() -> dict[int, list[tuple[str, str | None]]]:
    text = (Path(settings.BASE_DIR) / "docs" / "security.md").read_text(encoding="utf-8")
    section = text.split("## The security checklist, item by item", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            rows[int(match.group(1))] = NODE.findall(match.group(2))
    return rows


def test_every_checklist_item_has_a_row():
    assert sorted(_table()) == list(range(1, CHECKLIST_ITEMS + 1))


def test_every_test_the_table_names_exists():
    root = Path(settings.BASE_DIR)
    missing = []
    named = 0
    for item, nodes in _table().items():
        for path, name in nodes:
            named += 1
            source = root / path
            if not source.is_file():
                missing.append((item, path))
            elif name and not re.search(rf"^(async )?def {name}\(", source.read_text(), re.M):
                missing.append((item, f"{path}::{name}"))
    assert named >= CHECKLIST_ITEMS
    assert missing == []
