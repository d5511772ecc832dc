from __future__ import annotations

import pytest

from accounts.models import Region
from status.models import Component, ComponentGroup, ComponentKind, Severity


@pytest.fixture
def components(db):
    """Two regional hotlines and the online chat."""
    group = ComponentGroup.objects.create(key="lines", name_en="Lines", name_zh="线路")
    east, south = Region.objects.get(code="east"), Region.objects.get(code="south")
    return {
        "east": Component.objects.create(
            group=group,
            key="hotline-east",
            name_en="Hotline East",
            name_zh="华东热线",
            kind=ComponentKind.HOTLINE,
            region=east,
        ),
        "south": Component.objects.create(
            group=group,
            key="hotline-south",
            name_en="Hotline South",
            name_zh="华南热线",
            kind=ComponentKind.HOTLINE,
            region=south,
        ),
        "chat": Component.objects.create(
            group=group,
            key="chat",
            name_en="Online chat",
            name_zh="在线客服",
            kind=ComponentKind.CHAT,
        ),
    }


@pytest.fixture
def sev(db):
    return {s.key: s for s in Severity.objects.all()}


@pytest.fixture(autouse=True)
def _fresh_summary():
    """The public summary is cached across requests: start and end each test without it."""
    from status.selectors import forget_summary

    forget_summary()
    yield
    forget_summary()
