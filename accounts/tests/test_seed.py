"""Demo data: three organisations, their users and the staff; loading twice changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts import demo
from accounts.models import Organisation, User
from audit.selectors import chain_verify
from testsupport import current_code

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_staff_can_get_a_code(settings):
    settings.DEBUG = True
    first = StringIO()
    call_command("seed_demo", stdout=first)
    counts = (Organisation.objects.count(), User.objects.count())
    assert counts == (3, 6 + len(demo.STAFF))
    assert "make otp EMAIL=li.na@welddesk.example" in first.getvalue()
    second = StringIO()
    call_command("seed_demo", stdout=second)
    assert "(0 records created)" in second.getvalue()
    assert (Organisation.objects.count(), User.objects.count()) == counts

    agent = User.objects.get_by_natural_key("li.na@welddesk.example")
    assert agent.check_password(demo.DEMO_PASSWORD)
    assert sorted(agent.groups.values_list("name", flat=True)) == ["agent"]
    assert list(agent.regions.values_list("code", flat=True)) == ["east"]
    # The agent of the nationwide queues is given every region (an agent without one sees
    # nothing).
    national = User.objects.get_by_natural_key("daniel.wu@welddesk.example")
    assert national.regions.count() == len(demo.ALL_REGIONS) == 7
    code = StringIO()
    call_command("demo_otp", "li.na@welddesk.example", stdout=code)
    assert code.getvalue().strip() == current_code(agent.totpdevice_set.get())
    assert chain_verify().ok


def test_seed_demo_refuses_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_demo")
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("demo_otp", "li.na@welddesk.example")
