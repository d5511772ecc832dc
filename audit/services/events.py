"""Writing the audit chain: one event, many events, sealing pending events, staff reads."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from audit import chain
from audit.models import AuditEvent, ChainHead, Outcome, PendingAuditEvent
from core import context, pii


def actor_ref_for(actor: Any) -> str:
    """Return the reference stored for an actor: 'user:<id>', 'api_key:<id>', 'system'..."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    ref = getattr(actor, "audit_ref", None)
    if ref:
        return ref
    if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) is not None:
        return f"user:{actor.pk}"
    return "anonymous"


def target_ref_for(target: models.Model | None) -> tuple[str, str]:
    if target is None:
        return "", ""
    return target._meta.label_lower, str(target.pk)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


log = logging.getLogger(__name__)
# Columns of an event that exist before it is sealed (everything but seq and the hashes).
EVENT_FIELDS = (
    "at",
    "actor_ref",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "changed_fields",
    "data",
    "ip",
    "request_id",
)


def deferred() -> bool:
    """True when events are sealed after commit (AUDIT_SEALING=deferred)."""
    return settings.AUDIT_SEALING == "deferred"


def _lock_head(*, skip_locked: bool = False) -> ChainHead | None:
    """Lock the chain head; with skip_locked, return None if another sealer holds it."""
    if skip_locked and connection.features.has_select_for_update_skip_locked:
        head = ChainHead.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if head is not None:
            return head
        if ChainHead.objects.filter(pk=1).exists():
            return None  # locked by another sealer
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # The head row is missing (a fresh or flushed database): rebuild it from the last event.
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, digest = last if last else (0, chain.GENESIS_HASH)
        ChainHead.objects.bulk_create(
            [ChainHead(pk=1, seq=seq, hash=digest)], ignore_conflicts=True
        )
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def _payload(
    *,
    model: type[models.Model] | None,
    changes: Mapping[str, Any] | Iterable[str] | None,
    data: Mapping[str, Any] | None,
) -> tuple[list[str], dict[str, Any]]:
    changed: list[str] = []
    values: dict[str, Any] = {}
    if changes:
        items = (
            changes.items() if isinstance(changes, Mapping) else ((name, None) for name in changes)
        )
        for name, value in items:
            changed.append(name)
            if isinstance(changes, Mapping) and not pii.is_personal(model, name):
                values[name] = value
    payload = dict(data or {})
    if values:
        payload["values"] = values
    return sorted(changed), _json_safe(payload)


def audit_record(
    *,
    action: str,
    actor: Any = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    changes: Mapping[str, Any] | Iterable[str] | None = None,
    data: Mapping[str, Any] | None = None,
    outcome: str = Outcome.SUCCESS,
    ip: str | None = None,
    request_id: str | None = None,
    batch: Any = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    `changes` maps changed field names to their new values (or is a list of names); values of
    personal-data fields are dropped and only their names kept. `data` is context that the
    caller guarantees is free of personal data (reason codes, counts, references).
    The chain head is locked until the caller commits, so concurrent writers queue in order
    and the sequence has no gaps and no forks.

    With deferred sealing, a `core.batch.InsertBatch` queues the pending row for the caller's
    flush (the target's pk must be known already), so it travels with the caller's own rows.
    """
    model = type(target) if target is not None else None
    if target is not None:
        target_type, target_id = target_ref_for(target)
    changed, payload = _payload(model=model, changes=changes, data=data)
    ctx = context.current()
    if deferred():
        pending = PendingAuditEvent(
            at=timezone.now(),
            actor_ref=actor_ref_for(actor),
            action=action,
            outcome=str(outcome),
            target_type=target_type,
            target_id=str(target_id),
            changed_fields=changed,
            data=payload,
            ip=ip if ip is not None else ctx.ip,
            request_id=request_id if request_id is not None else ctx.request_id,
        )
        if batch is not None:
            batch.add(PendingAuditEvent, [pending])
        else:
            pending.save(force_insert=True)
        _seal_after_commit()
        return pending
    # No savepoint: if the audit row cannot be written, the caller's whole transaction fails.
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        ip = _stored_ip(ip if ip is not None else ctx.ip)
        if connection.vendor == "postgresql" and (_has_float(payload) or ":" in (ip or "")):
            # jsonb and inet store their own form of floats and IPv6 addresses: hash that.
            stored_data, stored_ips = _stored_forms_postgresql(
                [json.dumps(payload)], [ip] if ip else []
            )
            payload, ip = stored_data[json.dumps(payload)], stored_ips.get(ip, ip)
        row = {
            "seq": head.seq + 1,
            "at": timezone.now(),
            "actor_ref": actor_ref_for(actor),
            "action": action,
            "outcome": str(outcome),
            "target_type": target_type,
            "target_id": str(target_id),
            "changed_fields": changed,
            "data": payload,
            "ip": ip,
            "request_id": request_id if request_id is not None else ctx.request_id,
            "prev_hash": head.hash,
        }
        row["hash"] = chain.compute_hash(row)
        event = AuditEvent.objects.create(**row)
        ChainHead.objects.filter(pk=1).update(seq=row["seq"], hash=row["hash"])
    return event


def audit_record_many(
    *,
    action: str,
    actor: Any = None,
    targets: Iterable[models.Model] = (),
    model: type[models.Model] | None = None,
    target_ids: Iterable[Any] = (),
    changes: Mapping[str, Any] | Iterable[str] | None = None,
    data: Mapping[str, Any] | None = None,
    per_target: Mapping[Any, Mapping[str, Any]] | None = None,
    per_target_changes: Mapping[Any, Mapping[str, Any]] | None = None,
    batch_size: int = 1000,
    seal: bool = False,
) -> int:
    """Append one event per target in a single locked pass; return how many were written.

    For set-based operations (an escalation scan, a bulk action): the same action, actor and
    changes for every target, optional extra data per target pk. Targets are model instances,
    or, for a caller that holds only primary keys (a scan of thousands of rows), `model` and
    `target_ids`: each event still names its own target, as `audit_record` would.
    `per_target_changes` gives a target its own new values (a warranty end per unit) in place
    of `changes`; every target's changes name the same fields.

    With deferred sealing the events are pending rows, written on PostgreSQL in one
    statement (INSERT ... SELECT FROM unnest, or COPY when the data differs per target).
    With seal=True they are chained in the caller's transaction whatever AUDIT_SEALING says
    (see audit_record_sets).
    """
    return audit_record_sets(
        [
            {
                "action": action,
                "actor": actor,
                "targets": targets,
                "model": model,
                "target_ids": target_ids,
                "changes": changes,
                "data": data,
                "per_target": per_target,
                "per_target_changes": per_target_changes,
            }
        ],
        batch_size=batch_size,
        seal=seal,
    )


def audit_record_sets(
    sets: Iterable[Mapping[str, Any]], *, batch_size: int = 1000, seal: bool = False
) -> int:
    """Write several audit_record_many calls at once (each set is its keyword arguments).

    With seal=True the events are chained in the caller's transaction, after the head it
    locks until the caller commits, even with deferred sealing: for a background writer of
    thousands of events at a time (the SLA scan), which would otherwise write them as pending
    rows for the sealer to read back, hash and move. The events are hashed from the values in
    hand, as inline sealing does, and on PostgreSQL written in one statement. Events of other
    transactions still pending are chained after them: one order still, that of sealing.
    Requests must not use it: they would queue on the head, which deferred sealing avoids.
    """
    parts = [_prepare(**dict(one)) for one in sets]
    parts = [part for part in parts if part[1]]
    if not parts:
        return 0
    count = sum(len(part[1]) for part in parts)
    if deferred() and not seal:
        if connection.vendor == "postgresql":
            for part in parts:
                _insert_pending_postgresql(*part)
        else:
            PendingAuditEvent.objects.bulk_create(
                [PendingAuditEvent(**event) for event in _events(parts)], batch_size=batch_size
            )
        _seal_after_commit()
        return count
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        if connection.vendor == "postgresql":
            _append_postgresql(head, parts)
        else:
            _append(head, list(_events(parts)), batch_size=batch_size)
    return count


# What _prepare returns: the fields all events of a set share, and per event its target type,
# target id and the JSON text of its data.
_Part = tuple[dict[str, Any], list[str], list[str], list[str]]


def _prepare(
    *,
    action: str,
    actor: Any = None,
    targets: Iterable[models.Model] = (),
    model: type[models.Model] | None = None,
    target_ids: Iterable[Any] = (),
    changes: Mapping[str, Any] | Iterable[str] | None = None,
    data: Mapping[str, Any] | None = None,
    per_target: Mapping[Any, Mapping[str, Any]] | None = None,
    per_target_changes: Mapping[Any, Mapping[str, Any]] | None = None,
) -> _Part:
    if changes is not None and not isinstance(changes, Mapping):
        changes = list(changes)  # read once per model below
    refs = [(type(target), target.pk) for target in targets]
    if model is not None:
        refs += [(model, pk) for pk in target_ids]
    elif target_ids:
        raise TypeError("audit_record_many: target_ids need the model they belong to")
    if not refs:
        return {}, [], [], []
    # One JSON payload per model (personal-data rules depend on it), one more per target
    # that has extra data: thousands of identical events cost one serialisation.
    shared: dict[type[models.Model], tuple[list[str], str]] = {}
    payloads: list[str] = []
    own_changes = per_target_changes or {}
    for target_model, pk in refs:
        if (per_target and pk in per_target) or pk in own_changes:
            extra = per_target.get(pk, {}) if per_target else {}
            payloads.append(
                _payload_text(
                    target_model, own_changes.get(pk, changes), {**(data or {}), **extra}
                )[1]
            )
            continue
        if target_model not in shared:
            shared[target_model] = _payload_text(target_model, changes, data or {})
        payloads.append(shared[target_model][1])
    names = {frozenset(c) for c in own_changes.values()}
    if len(names) > 1 or (names and changes and names != {frozenset(_changed_names(changes))}):
        raise ValueError("audit_record_many: every target's changes must name the same fields")
    changed = sorted(_changed_names(changes) if changes else next(iter(names), ()))
    ctx = context.current()
    common = {
        "at": timezone.now(),
        "actor_ref": actor_ref_for(actor),
        "action": action,
        "outcome": str(Outcome.SUCCESS),
        "changed_fields": changed,
        "ip": ctx.ip,
        "request_id": ctx.request_id,
    }
    types = [target_model._meta.label_lower for target_model, _pk in refs]
    ids = [str(pk) for _model, pk in refs]
    return common, types, ids, payloads


def _events(parts: list[_Part]) -> Iterator[dict[str, Any]]:
    """The events of the sets as dicts of EVENT_FIELDS, each distinct payload decoded once."""
    decoded: dict[str, Any] = {}
    for common, types, ids, payloads in parts:
        for target_type, target_id, text in zip(types, ids, payloads, strict=True):
            if text not in decoded:
                decoded[text] = json.loads(text)
            yield {
                **common,
                "target_type": target_type,
                "target_id": target_id,
                "data": decoded[text],
            }


def _changed_names(changes: Mapping[str, Any] | Iterable[str] | None) -> Iterable[str]:
    if not changes:
        return ()
    return changes.keys() if isinstance(changes, Mapping) else changes


def _payload_text(
    model: type[models.Model],
    changes: Mapping[str, Any] | Iterable[str] | None,
    data: Mapping[str, Any],
) -> tuple[list[str], str]:
    """Return the changed field names and the JSON text of the data, as `_payload` builds it."""
    changed, payload = _payload(model=model, changes=changes, data=data)
    return changed, json.dumps(payload)


def _text_array(values: list[str]) -> str:
    """Return a PostgreSQL array literal: one parameter instead of one per value.

    Letters and digits (ids, hashes) go as they are, unless NULL may be among them; anything
    else is quoted, each distinct value once (a bulk write repeats one payload thousands of
    times).
    """
    joined = "".join(values)  # one check of the whole, not one per value
    if all(values) and joined.isascii() and joined.isalnum() and "null" not in joined.lower():
        return "{" + ",".join(values) + "}"
    quoted = {
        value: '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in set(values)
    }
    return "{" + ",".join(map(quoted.__getitem__, values)) + "}"


def _stored_ip(ip: str | None) -> str | None:
    """The address as Django sends it to the database (an IPv6 address compressed)."""
    return AuditEvent._meta.get_field("ip").get_prep_value(ip)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    return False


def _stored_forms_postgresql(
    payloads: Iterable[str], ips: Iterable[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return each payload and address as PostgreSQL stores them, in one statement.

    The hash must cover what verification reads back, and jsonb and inet normalise their
    input: 1e16 is stored as 10000000000000000 (an integer when read), -0.0 as 0, and
    2001:0DB8::0001 as 2001:db8::1. A sealed write hashes the values in hand, so each distinct
    one is converted first (a bulk write has a handful, however many events).
    """
    payloads, ips = sorted(set(payloads)), sorted(set(ips))
    if not payloads and not ips:
        return {}, {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v, v::jsonb::text, NULL::inet FROM unnest(%s::text[]) AS v "
            "UNION ALL SELECT v, NULL, v::inet FROM unnest(%s::text[]) AS v",
            [payloads, ips],
        )
        rows = cursor.fetchall()
    data = {given: json.loads(text) for given, text, ip in rows if text is not None}
    addresses = {given: str(ip) for given, text, ip in rows if ip is not None}
    return data, addresses


def _insert_pending_postgresql(
    common: dict[str, Any], types: list[str], ids: list[str], payloads: list[str]
) -> None:
    """Write pending events in one statement: INSERT ... SELECT FROM unnest, or COPY.

    Binding thousands of values one by one costs more than the insert itself, so the target
    ids travel as one array literal; when the data differs per target, COPY streams the rows.
    """
    table = connection.ops.quote_name(PendingAuditEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in EVENT_FIELDS)
    changed = json.dumps(common["changed_fields"])
    with connection.cursor() as cursor:
        if len(set(types)) == 1 and len(set(payloads)) == 1:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608 - names from the model
                "SELECT %s, %s, %s, %s, %s, t.id, %s::jsonb, %s::jsonb, %s::inet, %s "
                "FROM unnest(%s::text[]) WITH ORDINALITY AS t(id, n) ORDER BY t.n",
                [
                    common["at"],
                    common["actor_ref"],
                    common["action"],
                    common["outcome"],
                    types[0],
                    changed,
                    payloads[0],
                    common["ip"],
                    common["request_id"],
                    _text_array(ids),
                ],
            )
            return
        head = (common["at"], common["actor_ref"], common["action"], common["outcome"])
        tail = (common["ip"], common["request_id"])
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for target_type, target_id, text in zip(types, ids, payloads, strict=True):
                copy.write_row((*head, target_type, target_id, changed, text, *tail))


def _append(head: ChainHead, events: list[dict[str, Any]], *, batch_size: int = 1000) -> None:
    """Chain events after the locked head, insert them and move the head."""
    seq, prev = head.seq, head.hash
    rows = []
    for event in events:
        seq += 1
        row = {**event, "seq": seq, "prev_hash": prev, "ip": _stored_ip(event["ip"])}
        row["hash"] = prev = chain.compute_hash(row)
        rows.append(AuditEvent(**row))
    AuditEvent.objects.bulk_create(rows, batch_size=batch_size)
    ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)


def _append_postgresql(head: ChainHead, parts: list[_Part]) -> None:
    """Chain the sets' events after the locked head from the values in hand, in one INSERT
    (after one SELECT giving the stored form of each distinct payload and address).

    Events of a set sharing a payload differ only in seq, prev_hash and target id, so each
    is hashed from one canonical JSON built for them all (chain.hasher). The varying columns
    travel as array literals (one parameter each), the shared ones as arrays of the sets.
    The rows need no order (each carries its seq): sorting 20,000 of them took a tenth of
    the statement.
    """
    seq, prev = head.seq, head.hash
    columns: dict[str, list[str]] = {name: [] for name in ("part", "type", "id", "data")}
    hashes: list[str] = []
    stored_data, stored_ips = _stored_forms_postgresql(
        (text for _common, _types, _ids, payloads in parts for text in payloads),
        (common["ip"] for common, *_rest in parts if common["ip"]),
    )
    for number, (common, types, ids, payloads) in enumerate(parts):
        hashers: dict[tuple[str, str], Callable[[int, str, str], str]] = {}
        stored = {**common, "ip": stored_ips.get(common["ip"], common["ip"])}
        for target_type, target_id, text in zip(types, ids, payloads, strict=True):
            hash_of = hashers.get((target_type, text))
            if hash_of is None:
                row = {**stored, "target_type": target_type, "data": stored_data[text]}
                hash_of = hashers[target_type, text] = chain.hasher(
                    {**row, "seq": 0, "prev_hash": "", "target_id": ""}
                )
            seq += 1
            prev = hash_of(seq, prev, target_id)
            hashes.append(prev)
        columns["part"] += [str(number + 1)] * len(ids)
        columns["type"] += types
        columns["id"] += ids
        columns["data"] += payloads
    columns["seq"] = [str(n) for n in range(head.seq + 1, seq + 1)]
    prevs = [head.hash, *hashes[:-1]]
    quote = connection.ops.quote_name
    table = quote(AuditEvent._meta.db_table)
    names = ", ".join(quote(name) for name in ("seq", *EVENT_FIELDS, "prev_hash", "hash"))

    def shared(name: str) -> list[Any]:
        return [common[name] for common, *_rest in parts]

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({names}) "  # noqa: S608 - names from the model
            "SELECT e.seq, s.at, s.actor_ref, s.action, s.outcome, e.type, e.id, "
            "s.changed::jsonb, e.data::jsonb, s.ip, s.request_id, e.prev_hash, e.hash "
            "FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
            "%s::text[], %s::text[]) AS e(part, type, id, data, seq, prev_hash, hash) "
            "JOIN unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::inet[], %s::text[]) WITH ORDINALITY AS s(at, actor_ref, action, outcome, "
            "changed, ip, request_id, part) USING (part)",
            [
                *(_text_array(columns[name]) for name in ("part", "type", "id", "data", "seq")),
                _text_array(prevs),
                _text_array(hashes),
                *(shared(name) for name in ("at", "actor_ref", "action", "outcome")),
                [json.dumps(changed) for changed in shared("changed_fields")],
                shared("ip"),
                shared("request_id"),
            ],
        )
    ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)


def audit_seal(*, limit: int = 5000, wait: bool = True) -> int:
    """Move pending events into the chain, oldest first, in locked batches; return how many.

    With wait=False a sealer that finds the head locked returns at once: the sealer holding
    it, or the next one, takes the rows.
    """
    sealed = 0
    while True:
        with transaction.atomic():
            head = _lock_head(skip_locked=not wait)
            if head is None:
                return sealed
            if connection.vendor == "postgresql":
                moved = _seal_batch_postgresql(head, limit)
            else:
                moved = _seal_batch(head, limit)
        sealed += moved
        if moved < limit:
            return sealed


def _seal_batch(head: ChainHead, limit: int) -> int:
    pending = list(PendingAuditEvent.objects.order_by("id")[:limit])
    if pending:
        events = [{name: getattr(p, name) for name in EVENT_FIELDS} for p in pending]
        _append(head, events)
        PendingAuditEvent.objects.filter(id__in=[p.id for p in pending]).delete()
    return len(pending)


# chain.format_time's form of an instant, made by PostgreSQL: 2026-03-02T14:01:00.000123Z.
_PG_TIME = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _seal_batch_postgresql(head: ChainHead, limit: int) -> int:
    """Seal a batch with the rows staying in the database: only the hashes travel.

    The pending rows are read once to compute the chain (the hash covers every column), then
    one statement deletes them and inserts them into the chain with their seq and hashes.
    """
    quote = connection.ops.quote_name
    pending = quote(PendingAuditEvent._meta.db_table)
    table = quote(AuditEvent._meta.db_table)
    columns = [quote(name) for name in EVENT_FIELDS]
    # The hash covers the canonical text of each column: jsonb and the instant are read as
    # text (the instant in chain.format_time's form), so no row is decoded or parsed.
    read = [
        f"{column}::text"
        if name in ("changed_fields", "data")
        else f"to_char({column} AT TIME ZONE 'UTC', '{_PG_TIME}')"
        if name == "at"
        else column
        for name, column in zip(EVENT_FIELDS, columns, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {', '.join(read)} FROM {pending} ORDER BY id LIMIT %s",  # noqa: S608
            [limit],
        )
        rows = cursor.fetchall()
        if not rows:
            return 0
        seq, prev = head.seq, head.hash
        ids, seqs, prevs, hashes = [], [], [], []
        # Events written together share everything but their target: one hasher (the
        # canonical JSON built once, chain.hasher) per distinct rest of the row that repeats.
        # A request's event has its own instant: building a hasher for it would cost more
        # than compute_hash (22 µs against 13), so events of a shape met once use the latter.
        target_at = EVENT_FIELDS.index("target_id")
        shapes = [(*values[:target_at], *values[target_at + 1 :]) for _pk, *values in rows]
        repeated = {shape for shape, count in Counter(shapes).items() if count > 1}
        hashers: dict[tuple, Any] = {}
        for (pk, *values), shape in zip(rows, shapes, strict=True):
            seq += 1
            target_id = values[target_at]
            hash_of = hashers.get(shape)
            if hash_of is None:
                event = dict(zip(EVENT_FIELDS, values, strict=True))
                for name in ("changed_fields", "data"):
                    event[name] = json.loads(event[name])
                if shape not in repeated:
                    digest = chain.compute_hash({**event, "seq": seq, "prev_hash": prev})
                else:
                    event.update(seq=0, prev_hash="", target_id="")
                    hash_of = hashers[shape] = chain.hasher(event)
            if hash_of is not None:
                digest = hash_of(seq, prev, target_id)
            ids.append(str(pk))
            seqs.append(str(seq))
            prevs.append(prev)
            hashes.append(digest)
            prev = digest
        moved = ", ".join(f"p.{column}" for column in columns)
        cursor.execute(
            f"WITH moved AS (DELETE FROM {pending} AS p "  # noqa: S608 - names from the models
            "USING unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
            "AS c(id, seq, prev_hash, hash) WHERE p.id = c.id "
            f"RETURNING c.seq, {moved}, c.prev_hash, c.hash) "
            f"INSERT INTO {table} ({quote('seq')}, {', '.join(columns)}, "
            f"{quote('prev_hash')}, {quote('hash')}) SELECT * FROM moved",
            [_text_array(ids), _text_array(seqs), _text_array(prevs), _text_array(hashes)],
        )
        if cursor.rowcount != len(ids):  # only sealers delete pending rows, under the head lock
            raise RuntimeError(f"sealed {cursor.rowcount} of {len(ids)} pending audit events")
    ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
    return len(ids)


def _seal_quietly() -> None:
    try:
        audit_seal(wait=False)
    except Exception:  # the periodic sealer retries; the request has committed already
        log.exception("audit sealing after commit failed; beat will retry")


def _seal_after_commit() -> None:
    """Seal once after the current transaction commits (one callback per transaction).

    Only with AUDIT_SEAL_AFTER_COMMIT: by default the periodic sealer (beat, every few
    seconds) does it, so a request spends no statements on the chain at all.
    """
    if not settings.AUDIT_SEAL_AFTER_COMMIT:
        return
    if any(entry[1] is _seal_quietly for entry in connection.run_on_commit):
        return
    transaction.on_commit(_seal_quietly)


def audit_read(*, actor: Any, target_type: str, target_id: Any, via: str = "page") -> None:
    """Record that a staff member read a record holding personal data ("ticket.viewed").

    Reads are events like any other, so "what did account X read or export between T1 and
    T2" is one search of the chain. Customers reading their own records are not recorded.
    """
    if not getattr(actor, "is_staff", False):
        return
    audit_record(
        action=f"{target_type.rsplit('.', 1)[-1]}.viewed",
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        data={"via": via},
    )
