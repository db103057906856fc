"""One-row reads by id through a selector's queryset, compiled to SQL once.

A detail (or the fetch before a write) is one row by primary key, cut to what the user
may see. Through the ORM, building and compiling that queryset costs more than running
it, and PostgreSQL plans the statement again on every call. `statement` builds the
selector's queryset once per `key` with a random stand-in for each id it depends on (the
primary key, the visibility filter's values), compiles it with Django's public
`QuerySet.query.sql_with_params()`, and finds each stand-in among the parameters; each
call then puts the real ids in their places and runs the statement prepared once per
connection (core.db.prepared). The SQL is Django's, made from the selector's queryset:
nothing here knows who may see what, and nothing of the SQL text is read.

A queryset whose ids do not come out as plain parameters (each exactly once) is not
compiled: the caller reads it through the ORM on every call, with the same answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, models, router

from core.db import prepared


@dataclass(frozen=True)
class Statement:
    """A selector's one-row queryset as SQL: its parameters are constants, or the name of
    the id to put there at each call."""

    sql: str
    slots: tuple[tuple[str | None, Any], ...]
    model: type[models.Model]

    def first_row(self, **ids: uuid.UUID) -> tuple | None:
        """The row for these ids, or None; values as the database driver returns them
        (the caller converts what the ORM would: core.db.prepared.instance_from_row)."""
        params = [ids[name] if name is not None else constant for name, constant in self.slots]
        with connections[router.db_for_read(self.model)].cursor() as cursor:
            prepared.execute(cursor, self.sql, params)
            row = cursor.fetchone()
        return None if row is None else tuple(row)


# key -> the statement, or None when the queryset could not be compiled with stand-ins.
_COMPILED: dict[Hashable, Statement | None] = {}


def _compile(build: Callable[..., models.QuerySet], names: tuple[str, ...]) -> Statement | None:
    stand_ins = {name: uuid.uuid4() for name in names}
    rows = build(**stand_ins).order_by()[:1]  # unordered, as QuerySet.get() is
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:
        return None
    by_value = {value: name for name, value in stand_ins.items()}
    slots = tuple((by_value.get(param), param) if isinstance(param, uuid.UUID) else (None, param) for param in params)
    filled = sorted(name for name, _ in slots if name is not None)
    return Statement(sql, slots, rows.model) if filled == sorted(names) else None


def statement(key: Hashable, build: Callable[..., models.QuerySet], names: tuple[str, ...]) -> Statement | None:
    """The statement of `build(**ids)` (a values_list queryset of one row by id) for ids
    named `names`, compiled once per `key`; None when it cannot be (the caller then
    reads `build(**ids)` through the ORM). `key` names everything else the queryset
    depends on (e.g. the rendering, which filters apply)."""
    if key not in _COMPILED:
        _COMPILED[key] = _compile(build, names)
    return _COMPILED[key]
