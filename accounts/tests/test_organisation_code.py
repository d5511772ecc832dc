"""Organisation codes: the ERP's customer number, or WD-<id> for the desk's own."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import Organisation, Region
from core.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_an_organisation_without_a_code_gets_one_and_codes_are_unique(make_org):
    org = make_org("Desk-made Co")
    assert org.code == f"WD-{org.pk}"
    assert Organisation.objects.get(pk=org.pk).code == f"WD-{org.pk}"
    erp = make_org("ERP Co", code="C-1001")
    assert erp.code == "C-1001"
    with pytest.raises(ApplicationError) as exc:
        make_org("Copy Co", code="C-1001")
    assert "code" in exc.value.fields
    with pytest.raises(ApplicationError):
        services.organisation_update(organisation=erp, actor=None, code="bad code!")
    with pytest.raises(ApplicationError):
        services.organisation_update(organisation=erp, actor=None, code="")


def test_bulk_import_refuses_a_contact_of_another_organisation(make_org, make_customer):
    east = Region.objects.get(code="east")
    ids, counts = services.organisations_import(
        actor=None, wanted=[services.WantedOrganisation(code="C-1", name="One", region=east)]
    )
    assert counts == {"created": 1, "changed": 0, "unchanged": 0}
    make_customer(email="someone@elsewhere.example")
    with pytest.raises(ApplicationError):
        services.contacts_import(
            actor=None,
            wanted=[
                services.WantedContact(
                    email="someone@elsewhere.example",
                    full_name="Someone",
                    phone="",
                    organisation_id=ids["C-1"],
                )
            ],
        )
