"""A read the ORM composes once per process and database, then runs with new values.

Building a queryset and compiling it to SQL (resolving the lookups, the joins of a
`select_related`, the select list) costs more than running a one-row statement by a unique
key: for the unit lookup of every ticket opened through the API it was about 0.4 of the
lookup's 0.7 ms. A `CompiledRead` asks the ORM for the statement once, with marker values in
place of the caller's, notes where the markers sit among the parameters, and afterwards binds
the caller's values there and builds the objects the way the ORM's own iterator does
(`Model.from_db`, the related objects of `select_related`, the database's converters).

What it is for: a hot read whose shape never changes, only its values. The values are bound
as given, so each must be of the plain type its marker declares (an int for a key, a str for a
text column): no field preparation runs for them, as none would change such a value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

# One marker per parameter kind: unlikely values, so a marker found twice is the caller's.
_MARKERS = {int: -(2**62) + 7919, str: "\x00compiled-read-marker\x00"}


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: tuple[Any, ...]  # the constants, with None where a value is bound
    slots: tuple[tuple[int, str], ...]  # (position in params, name of the value)
    model: type[Model]
    fields: slice  # the model's columns in a row
    init_list: tuple[str, ...]
    populators: tuple[Any, ...]
    converters: tuple[tuple[int, tuple[Callable, ...], Any], ...]


class CompiledRead:
    """`build(**markers)` returns the queryset; `first(**values)` runs it for those values.

    `kinds` names each value and its plain type (int or str). Each name is compiled on its own
    (one name's marker at a time), so two values of one type cannot be mistaken for each
    other.
    """

    def __init__(self, build: Callable[..., QuerySet], **kinds: type) -> None:
        unknown = {name: kind for name, kind in kinds.items() if kind not in _MARKERS}
        if unknown:
            raise TypeError(f"CompiledRead values must be int or str: {unknown}")
        self._build = build
        self._kinds = kinds
        self._statements: dict[str, _Statement] = {}
        self._lock = threading.Lock()

    def first(self, *, using: str = "default", **values: Any) -> Any:
        """The first object the queryset gives for these values, or None."""
        if values.keys() != self._kinds.keys():
            raise TypeError(f"CompiledRead needs exactly {sorted(self._kinds)}")
        for name, kind in self._kinds.items():
            if type(values[name]) is not kind:
                raise TypeError(f"{name} must be a plain {kind.__name__}")
        statement = self._statements.get(using) or self._compile(using)
        params = list(statement.params)
        for position, name in statement.slots:
            params[position] = values[name]
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if statement.converters:
            row = list(row)
            for position, functions, expression in statement.converters:
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
        obj = statement.model.from_db(using, statement.init_list, row[statement.fields])
        for populator in statement.populators:
            populator.populate(row, obj)
        return obj

    def _compile(self, using: str) -> _Statement:
        markers = {name: _MARKERS[kind] for name, kind in self._kinds.items()}
        queryset = self._build(**markers).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots = []
        for name in self._kinds:
            # Compile again with this name's marker alone beside neutral values of the
            # others, so each position is known to belong to one name.
            alone = {
                other: (markers[other] if other == name else _neutral(kind))
                for other, kind in self._kinds.items()
            }
            _sql, own = self._build(**alone).using(using).query.get_compiler(using=using).as_sql()
            if _sql != sql:
                raise ValueError("CompiledRead: the statement's text depends on the values")
            found = [i for i, value in enumerate(own) if value == markers[name]]
            if not found:
                raise ValueError(f"CompiledRead: {name} is not a parameter of the statement")
            slots.extend((i, name) for i in found)
        bound = {position for position, _name in slots}
        constants = tuple(None if i in bound else p for i, p in enumerate(params))
        select, klass_info = compiler.select, compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])
        statement = _Statement(
            sql=sql,
            params=constants,
            slots=tuple(slots),
            model=klass_info["model"],
            fields=slice(start, end),
            init_list=tuple(f[0].target.attname for f in select[start:end]),
            populators=tuple(get_related_populators(klass_info, select, using)),
            converters=tuple(
                (position, tuple(functions), expression)
                for position, (functions, expression) in converters.items()
            ),
        )
        with self._lock:
            self._statements[using] = statement
        return statement


def _neutral(kind: type) -> Any:
    return 0 if kind is int else ""
