"""A selector's queryset compiled to SQL once, its varying values given per call.

A detail (or the fetch before a write) is one row by primary key, cut to what the user
may see; a list page is the same rows filtered, ordered and sliced. Through the ORM,
building and compiling such a queryset costs more than running it, and PostgreSQL plans
the statement again on every call. `statement` (one row by ids) and `page_statement`
(any queryset of values) build the selector's queryset once per `key` with a random
stand-in for each value it depends on (the primary key, the visibility filter's values,
a list's filter values), compile it with Django's public
`QuerySet.query.sql_with_params()`, and find each stand-in among the parameters; each
call then puts the real values in their places and runs the statement prepared once per
connection (core.db.bound). For a page that also saves its planning (about 0.6 ms on
the bench data, more than running it); PostgreSQL keeps custom plans for the first five
calls and uses a generic plan after only when it does not cost more than those, the
usual trade of prepared statements (psycopg's and JDBC's `prepare_threshold` make it
for every repeated query). Where a list's data is skewed enough to need a plan per
value, `plan_cache_mode=force_custom_plan` on the database role restores that. The SQL
is Django's, made from the selector's queryset: nothing here knows who may see what, and
nothing of the SQL text is read.

A queryset whose values do not all come out as plain parameters (each as itself) is not
compiled: the caller reads it through the ORM on every call, with the same answer.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import models, router

from core.db import bound

# The page statements kept per process: one per list shape (filters used, ordering, page).
MAX_PAGE_STATEMENTS = 512


@dataclass(frozen=True)
class Statement:
    """A selector's queryset as SQL: its parameters are constants, or the name of the
    value to put there at each call."""

    sql: str
    slots: tuple[tuple[str | None, Any], ...]
    model: type[models.Model]

    def _run(self, cursor, values: dict[str, Any]) -> None:
        params = [_as_sent(values[name]) if name is not None else constant for name, constant in self.slots]
        cursor.execute(self.sql, params)

    def first_row(self, **values: Any) -> tuple | None:
        """The row for these values, or None; values as the database driver returns them
        (the caller converts what the ORM would: core.db.rows.instance_from_row)."""
        with bound.cursor(router.db_for_read(self.model)) as cursor:
            self._run(cursor, values)
            row = cursor.fetchone()
        return None if row is None else tuple(row)

    def rows(self, **values: Any) -> list[tuple]:
        """Every row for these values, in the queryset's order."""
        with bound.cursor(router.db_for_read(self.model)) as cursor:
            self._run(cursor, values)
            return [tuple(row) for row in cursor.fetchall()]


def _as_sent(value: Any) -> Any:
    """A value as the ORM sends it: an aware date-time in UTC, the same instant (the
    stand-in is found by equality, which for date-times is the instant's)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def stand_in_for(value: Any) -> Any | None:
    """A random value of `value`'s type that no query holds by chance, or None for a
    type that cannot be told apart among a statement's parameters."""
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    if type(value) is str:
        return f"stand-in-{uuid.uuid4().hex}"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return datetime(2001, 1, 1, tzinfo=UTC) + timedelta(microseconds=secrets.randbelow(10**15))
    return None


def _text_forms(value: Any) -> tuple[str, ...]:
    """How a stand-in could appear inside a text parameter once altered."""
    if isinstance(value, uuid.UUID):
        return (str(value), value.hex)
    if isinstance(value, datetime):
        return (value.isoformat(), str(value), value.astimezone(UTC).isoformat())
    return (str(value),)


def _compile(queryset: models.QuerySet, stand_ins: dict[str, Any]) -> Statement | None:
    """`queryset` (built with `stand_ins` for its varying values) as a Statement whose
    slots name those values, or None unless each stand-in is found among the parameters."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return None
    by_value = {(type(value), value): name for name, value in stand_ins.items()}
    slots = tuple(
        (by_value.get((type(param), param)) if isinstance(param, (uuid.UUID, str, datetime)) else None, param)
        for param in params
    )
    # Each value must be found, as itself (a filter may use it more than once, e.g. in the
    # page and in its count), and nowhere made into something else (`%value%`, an id as
    # text for a JSON key): a constant holding it would keep the stand-in at every call.
    texts = [form for value in stand_ins.values() for form in _text_forms(value)]
    altered = any(text in param for name, param in slots if name is None and isinstance(param, str) for text in texts)
    found = {name for name, _ in slots if name is not None}
    if found != set(stand_ins) or altered:
        return None
    return Statement(sql, slots, queryset.model)


# key -> the statement, or None when the queryset could not be compiled with stand-ins.
_COMPILED: dict[Hashable, Statement | None] = {}
_PAGES: dict[Hashable, Statement | None] = {}
_PAGES_LOCK = threading.Lock()
_UNKNOWN: Any = object()


def statement(key: Hashable, build: Callable[..., models.QuerySet], names: tuple[str, ...]) -> Statement | None:
    """The statement of `build(**ids)` (a values_list queryset of one row by id) for ids
    named `names`, compiled once per `key`; None when it cannot be (the caller then
    reads `build(**ids)` through the ORM). `key` names everything else the queryset
    depends on (e.g. the rendering, which filters apply)."""
    if key not in _COMPILED:
        stand_ins = {name: uuid.uuid4() for name in names}
        _COMPILED[key] = _compile(build(**stand_ins).order_by()[:1], stand_ins)  # unordered, as get() is
    return _COMPILED[key]


def page_statement(key: Hashable, build: Callable[..., models.QuerySet], values: dict[str, Any]) -> Statement | None:
    """The statement of `build(**values)` (a queryset of values: a list's page), compiled
    once per `key` with a stand-in for each of `values`; None when it cannot be. `key`
    names everything else the SQL depends on (the list, which filters apply and with how
    many values, the ordering, the offset and the limit: Django writes those two into the
    SQL). At most MAX_PAGE_STATEMENTS are kept, the oldest dropped first."""
    known = _PAGES.get(key, _UNKNOWN)  # one read: another thread may drop the key meanwhile
    if known is not _UNKNOWN:
        return known
    stand_ins = {name: stand_in_for(value) for name, value in values.items()}
    compiled = None if None in stand_ins.values() else _compile(build(**stand_ins), stand_ins)
    with _PAGES_LOCK:
        while len(_PAGES) >= MAX_PAGE_STATEMENTS:
            _PAGES.pop(next(iter(_PAGES)))
        _PAGES[key] = compiled
    return compiled
