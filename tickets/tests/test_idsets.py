"""Sets of ids as one parameter: only integers reach the literal."""

from __future__ import annotations

import pytest

from tickets.models import Ticket
from tickets.services.idsets import among, ids_param


@pytest.mark.django_db
def test_a_string_cannot_widen_the_set_of_ids():
    with pytest.raises(ValueError):
        ids_param(["5,6"])
    with pytest.raises(ValueError):
        ids_param(["1]"])


@pytest.mark.django_db
def test_ids_given_as_digits_are_sorted_as_numbers_and_select_those_rows():
    assert ids_param(["10", 9, "2"]) in ("{2,9,10}", "[2,9,10]")
    assert list(Ticket.objects.filter(pk__in=among(["1", 2]))) == []
