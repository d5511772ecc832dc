"""core.batch.InsertBatch: one WITH ... INSERT statement on PostgreSQL, bulk_create elsewhere.

Whatever the database, a flushed batch leaves the same rows and the same Python objects as the
ordinary inserts would: keys given are kept, keys drawn are set, personal data is encrypted
and blind-indexed, database defaults apply, and a failure leaves nothing of the batch behind.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.expressions import DatabaseDefault

from accounts.models import Organisation, Region, User
from accounts.selectors import user_by_email
from core.batch import InsertBatch
from tickets.models import Message, SearchTerm, Tag, Ticket

pytestmark = pytest.mark.django_db

# Far above any key the test database draws from its sequences.
GIVEN_PK = 900_000_000


def _ticket() -> Ticket:
    organisation = Organisation.objects.create(
        name="Batch Co", region=Region.objects.get(code="east")
    )
    return Ticket.objects.create(
        reference="WD-2026-990001", organisation=organisation, subject="batch"
    )


def test_rows_with_their_keys_given_keep_them_when_nothing_is_returned():
    """A batch that reads back no keys at all (every group's keys given, or not wanted)."""
    tag = Tag(pk=GIVEN_PK, name="given-key")
    batch = InsertBatch()
    batch.add(Tag, [tag], returning=False)
    batch.flush()
    assert tag.pk == GIVEN_PK
    assert Tag.objects.filter(pk=GIVEN_PK, name="given-key").exists()


def test_rows_written_by_a_batch_belong_to_the_database_like_saved_ones():
    """As after save() or bulk_create: a relation to another saved row is allowed."""
    ticket = _ticket()
    tag = Tag(name="from-a-batch")
    batch = InsertBatch()
    batch.add(Tag, [tag])
    batch.flush()
    assert tag._state.db == ticket._state.db == "default"
    ticket.tags.add(tag)
    assert list(ticket.tags.values_list("name", flat=True)) == ["from-a-batch"]


def test_a_group_where_only_some_keys_are_given_keeps_those_and_draws_the_others():
    given, drawn = Tag(pk=GIVEN_PK + 1, name="given"), Tag(name="drawn")
    batch = InsertBatch()
    batch.add(Tag, [given, drawn])
    batch.flush()
    assert given.pk == GIVEN_PK + 1
    assert drawn.pk is not None and drawn.pk != given.pk
    assert dict(Tag.objects.filter(name__in=["given", "drawn"]).values_list("name", "pk")) == {
        "given": GIVEN_PK + 1,
        "drawn": drawn.pk,
    }


def test_a_database_default_is_the_databases():
    """A field with only a db_default holds DatabaseDefault until saved: the database's
    DEFAULT is written, not the expression sent as a value."""
    ticket = _ticket()
    field = Message._meta.get_field("erased")
    message = Message(ticket=ticket, body="Nozzle clogged.")
    message.erased = DatabaseDefault(Value(False), output_field=field)
    batch = InsertBatch()
    batch.add(Message, [message])
    batch.flush()
    stored = Message.objects.get(pk=message.pk)
    assert stored.erased is False and stored.body == "Nozzle clogged."


def test_personal_data_is_encrypted_and_blind_indexed_as_by_save(make_org):
    person = User(
        email="wang.batch@factory.example",
        full_name="王建国",
        phone="+86 138 0000 0000",
        organisation=make_org(),
    )
    batch = InsertBatch()
    batch.add(User, [person])
    batch.flush()
    assert user_by_email("wang.batch@factory.example").pk == person.pk
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT email, full_name, phone FROM {User._meta.db_table} WHERE id = %s",  # noqa: S608
            [person.pk],
        )
        raw = cursor.fetchone()
    assert all(value and "wang" not in value and "王" not in value for value in raw)
    stored = User.objects.get(pk=person.pk)
    assert (stored.full_name, stored.phone) == ("王建国", "+86 138 0000 0000")
    assert stored.date_joined is not None  # a default callable, as save() would


def test_a_conflict_target_skips_rows_already_there_and_reports_the_new_ones(make_staff):
    User.objects.filter(pk=make_staff().pk).update(oidc_subject="sub-taken")
    make_staff()  # without a subject
    taken = User(email="other@welddesk.example", full_name="A", oidc_subject="sub-taken")
    fresh = User(email="fresh@welddesk.example", full_name="B", oidc_subject="sub-fresh")
    # NULL never conflicts (a unique index holds many): the row is written, as by
    # PostgreSQL's ON CONFLICT, though other users have no subject either.
    without = User(email="without@welddesk.example", full_name="C", oidc_subject=None)
    assert User.objects.filter(oidc_subject=None).exists()
    new: list[int] = []
    batch = InsertBatch()
    batch.add(User, [taken, fresh, without], conflict_target=("oidc_subject",), on_pks=new.extend)
    batch.flush()
    assert user_by_email("other@welddesk.example") is None
    written = [user_by_email(f"{name}@welddesk.example") for name in ("fresh", "without")]
    assert all(written)
    assert sorted(new) == sorted(user.pk for user in written)


def test_more_rows_than_one_statement_may_bind_are_all_written():
    """PostgreSQL binds at most 65,535 parameters per statement; a batch over that (rows
    whose new keys are read back go as VALUES, a parameter per value) is split into several
    statements instead of failing."""
    ticket = _ticket()
    terms = [SearchTerm(ticket=ticket, term=n, source=6) for n in range(22_000)]  # 66,000
    tag = Tag(name="after-the-terms")
    batch = InsertBatch()
    batch.add(SearchTerm, terms)
    batch.add(Tag, [tag])
    batch.flush()
    assert SearchTerm.objects.filter(ticket=ticket).count() == 22_000
    assert all(term.pk is not None for term in terms)
    assert Tag.objects.get(pk=tag.pk).name == "after-the-terms"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statement")
def test_rows_whose_keys_are_not_read_go_as_one_array_per_column():
    """Many rows nobody reads the keys of (a ticket's search terms and timers) are sent as
    `unnest` of one array per column: one statement text whatever the number of rows (so it
    is prepared once per connection), and the rows as VALUES would write them."""
    ticket = _ticket()
    sent: list[tuple[str, int]] = []

    def record(execute, sql, params, many, context):
        sent.append((sql, len(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        for count in (3, 40):
            batch = InsertBatch()
            rows = [
                SearchTerm(ticket=ticket, term=-count * 100 - n, source=6) for n in range(count)
            ]
            batch.add(SearchTerm, rows, returning=False)
            batch.add(Tag, [Tag(name=f"with-{count}-terms")])
            batch.flush()
    assert len(sent) == 2
    assert sent[0] == sent[1]  # the same text and 3 arrays + the tag's values, at any count
    assert "unnest(" in sent[0][0]
    terms = SearchTerm.objects.filter(ticket=ticket).values_list("term", "source")
    assert sorted(terms) == sorted(
        [(-300 - n, 6) for n in range(3)] + [(-4000 - n, 6) for n in range(40)]
    )


def test_no_rows_from_an_iterator_is_nothing_to_write():
    batch = InsertBatch()
    batch.add(Tag, iter(()))
    batch.flush()


def test_a_failing_row_leaves_nothing_of_the_batch_and_the_transaction_usable():
    Tag.objects.create(name="exists")
    batch = InsertBatch()
    batch.add(Tag, [Tag(name="fresh")])
    batch.add(Tag, [Tag(name="exists")])
    with pytest.raises(IntegrityError), transaction.atomic():
        batch.flush()
    assert not Tag.objects.filter(name="fresh").exists()
    assert batch.groups == []
    assert Tag.objects.filter(name="exists").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="elsewhere bulk_create writes")
def test_plain_values_go_as_they_are_and_the_others_through_their_field(monkeypatch):
    """An int for an integer column or a key, a str for a text column: passed unchanged,
    without a get_db_prep_save call per value; a field of its own (the term's keyed hash)
    still prepares its values."""
    from django.db import models

    ticket = _ticket()
    prepared: list[str] = []

    def counting(cls):
        real = cls.get_db_prep_save

        def get_db_prep_save(self, value, connection):
            prepared.append(type(self).__name__)
            return real(self, value, connection)

        monkeypatch.setattr(cls, "get_db_prep_save", get_db_prep_save)

    counting(models.Field)
    counting(models.ForeignKey)  # its own get_db_prep_save (the target field's)
    batch = InsertBatch()
    batch.add(SearchTerm, [SearchTerm(ticket=ticket, term=n, source=6) for n in (7, 8)])
    batch.flush()
    monkeypatch.undo()
    assert "PositiveSmallIntegerField" not in prepared and "ForeignKey" not in prepared
    assert prepared.count("TermHashField") == 2
    stored = SearchTerm.objects.filter(ticket=ticket).values_list("term", "source")
    assert sorted(stored) == [(7, 6), (8, 6)]
