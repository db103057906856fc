"""Rows rendered to JSON by PostgreSQL, exactly as their output serializer would render them.

A page of fifty rows through the ORM and DRF costs, in Python, a model instance per row
(every column converted), a serializer pass per row and a JSON encoding of the lot: about
as much as the page's SQL itself. For read-only output serializers made only of plain
columns (`core.serializers.CachedFieldsOutput` with ids, foreign keys, text, choices, JSON,
booleans, integers and ISO 8601 date-times), `document` builds, once per serializer, an
ORM expression (Django's public `Func`, `F` and `Cast`) that renders a row as the JSON
object the serializer would produce: same keys, in the same order, equal values. Anything
else (a decimal, a nested serializer, a method field the caller does not give as an
expression) makes it return None, and the caller keeps the Python path.

The expression is evaluated on the selector's own queryset (`documents`, `counted_page`,
`first_document`): the rows, their visibility and their annotations are the selector's, and
nothing here knows who may see what. A field the serializer computes (a method field
reading an annotation, a nested list) is given by the caller as an expression over that
queryset, e.g. `F("verdict")` for the selector's `verdict` annotation.

Keys keep their order because the object is built by `json_build_object`, not by Django's
`JSONObject` (jsonb on PostgreSQL, which sorts keys). Equal means equal once parsed:
PostgreSQL writes `{"id" : "…"}` with spaces and keeps the digits of a stored JSON number
as written (`0.50`), where Python would print `0.5`. Date-times follow DRF's ISO 8601 form
(UTC, "Z", microseconds only when not zero) and are only rendered in SQL while the current
time zone is UTC (the default); otherwise callers fall back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Hashable
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import models
from django.db.models import Expression, F, Func, Subquery
from django.db.models.expressions import Combinable
from django.utils import timezone

from core import lookups
from core.serializers import plain_kind

_TEXT_COLUMNS = ("CharField", "TextField", "EmailField", "SlugField", "URLField", "UUIDField")
_INTEGER_COLUMNS = (
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
)
_COLUMNS_OF_KIND = {
    "uuid": ("UUIDField",),
    "text": _TEXT_COLUMNS,
    "choice": _TEXT_COLUMNS,  # a ChoiceField renders a stored text value as itself
    "json": ("JSONField",),
    "boolean": ("BooleanField",),
    "integer": _INTEGER_COLUMNS,
    "biginteger": _INTEGER_COLUMNS,
}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class JSONBuildObject(Func):
    """json_build_object('key', value, ...) of the keyword arguments, in their order. The
    keys are identifiers (checked) written into the SQL: a parameter for each would be
    an expression more to resolve and compile per query, and, with server-side binding,
    an untyped parameter that PostgreSQL cannot resolve."""

    function = "json_build_object"
    output_field = models.JSONField()

    def __init__(self, **values):
        bad = [key for key in values if not _KEY.match(key)]
        if bad:
            raise ValueError(f"JSON keys must be identifiers: {bad}")
        self.keys = tuple(values)
        super().__init__(*values.values())

    def as_sql(self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context):
        arguments: list[str] = []
        params: list[Any] = []
        for key, expression in zip(self.keys, self.get_source_expressions(), strict=True):
            sql, expression_params = compiler.compile(expression)
            arguments.append(f"'{key}', {sql}")
            params.extend(expression_params)
        return f"{self.function}({', '.join(arguments)})", tuple(params)


class JSONText(Func):
    """A JSON value as its text, as the response carries it."""

    template = "(%(expressions)s)::text"
    output_field = models.TextField()


class IsoDateTime(Func):
    """A timestamptz as DRF writes it: 2026-11-22T10:00:00.123456Z, without the fraction
    when the microseconds are zero (datetime.isoformat); NULL for NULL. (One to_char and
    a replace: half the cost of testing the microseconds first.)"""

    template = (
        "replace(to_char((%(expressions)s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )
    output_field = models.TextField()


class TextAsJSON(Func):
    """JSON text (a text column) as json, which keeps the text as written, key order
    included (jsonb would sort the keys)."""

    template = "(%(expressions)s)::json"
    output_field = models.JSONField()


class ArrayToJSON(Func):
    """array_to_json(array): a JSON array, `[]` for an empty array."""

    function = "array_to_json"
    output_field = models.JSONField()


def _model_field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:  # an annotation or a property
        return None


def _column_expression(field, model) -> Combinable | None:
    """The rendering of one serializer field over a row of `model`, or None when only
    Python can render it."""
    kind = plain_kind(field)
    if kind is None:
        return None
    column = _model_field(model, field.source_attrs[0])
    if column is None or not getattr(column, "concrete", False):
        return None
    if kind == "pk":
        if not column.is_relation or column.many_to_many:
            return None
        target = column.target_field.get_internal_type()
        return F(column.attname) if target in _TEXT_COLUMNS + _INTEGER_COLUMNS else None
    if column.is_relation:
        return None
    internal = column.get_internal_type()
    if kind == "datetime":
        return IsoDateTime(F(column.attname)) if internal == "DateTimeField" else None
    if kind == "json_text":
        return TextAsJSON(F(column.attname)) if internal == "TextField" else None
    return F(column.attname) if internal in _COLUMNS_OF_KIND[kind] else None


def json_object(serializer_class, model, extra: dict[str, Any] | None = None) -> JSONBuildObject | None:
    """An expression rendering a row of `model` as `serializer_class` renders it (JSON),
    or None. `extra` gives expressions for fields the serializer computes itself (a
    SerializerMethodField reading the selector's annotation, a nested list)."""
    extra = extra or {}
    values: dict[str, Any] = {}
    for name, field in serializer_class().fields.items():
        if field.write_only:
            continue
        expression = extra.get(name)
        if expression is None:
            expression = _column_expression(field, model)
        if expression is None or not _KEY.match(name):
            return None
        values[name] = expression
    return JSONBuildObject(**values)


def document(serializer_class, model, extra: dict[str, Any] | None = None) -> JSONText | None:
    """json_object as JSON text (what the response carries), or None."""
    built = json_object(serializer_class, model, extra)
    return None if built is None else JSONText(built)


def json_list(queryset: models.QuerySet, serializer_class, extra: dict[str, Any] | None = None) -> Func | None:
    """A JSON array (never NULL) of the rows of `queryset`, in its order, each rendered as
    `serializer_class` renders it; or None. For nested lists such as a session's tasks:
    `queryset` then filters on an OuterRef of the enclosing row."""
    built = json_object(serializer_class, queryset.model, extra)
    if built is None:
        return None
    return ArrayToJSON(ArraySubquery(queryset.values(json=built)))


def documents(queryset: models.QuerySet, text: Expression) -> models.QuerySet:
    """`queryset` (filtered and ordered, not yet sliced) as a queryset of JSON texts (the
    `document` expression `text`), one per row, in the same order: slice it like the
    original."""
    return queryset.prefetch_related(None).values_list(text, flat=True)


def first_document(texts: models.QuerySet) -> str | None:
    """The JSON text of the one row a queryset of `documents` finds (a lookup by primary
    key), or None. Unordered, as QuerySet.get() is: a model's default ordering with
    LIMIT 1 can make PostgreSQL walk that ordering's index instead of the primary key's."""
    return next(iter(texts.order_by()[:1]), None)


def first_document_compiled(key: Hashable, build: Callable[..., models.QuerySet], **ids: uuid.UUID) -> str | None:
    """first_document(build(**ids)), with the queryset compiled to SQL once per `key`
    and the statement prepared once per connection (core.lookups): a detail then costs
    no ORM work and no planning per request. `build` makes the selector's queryset of
    documents from `ids` (the primary key, the visibility filter's values); `key` names
    everything else it depends on (the rendering, which filters apply)."""
    compiled = lookups.statement(key, build, tuple(ids))
    if compiled is None:
        return first_document(build(**ids))
    row = compiled.first_row(**ids)
    return None if row is None else row[0]


def counted_page_rows(
    queryset: models.QuerySet, text: Expression, offset: int, limit: int, *, count: Combinable | None = None
) -> models.QuerySet:
    """The query of counted_page, not yet run: rows of (the count, a JSON text)."""
    total: Combinable
    if count is not None:
        total = count
    else:
        # COUNT as a plain function, not an aggregate: Django adds no GROUP BY and the
        # subquery stays the selector's filtered rows.
        counted = queryset.order_by().values(
            total=Func(F("pk"), function="count", output_field=models.BigIntegerField())
        )
        total = Subquery(counted, output_field=models.BigIntegerField())
    return queryset.prefetch_related(None).values_list(total, text)[offset : offset + limit]


def count_and_texts(rows: list[tuple], offset: int) -> tuple[int | None, list[str]]:
    """counted_page's answer from the rows of counted_page_rows."""
    if not rows:
        return (0 if offset == 0 else None), []
    return rows[0][0], [row[1] for row in rows]


def counted_page(
    queryset: models.QuerySet, text: Expression, offset: int, limit: int, *, count: Combinable | None = None
) -> tuple[int | None, list[str]]:
    """(how many rows `queryset` has, the JSON texts of rows offset..offset+limit) in one
    query, instead of a COUNT and then the page: the count rides on each row of the page
    as an uncorrelated subquery of the same queryset (planned once, run once). When the
    page is empty the count is not read: 0 for the first page (nothing matched), None
    past the first (the page is out of range whatever the count). `count`, when given, is
    an expression that yields the same number more cheaply (a tally: core.db.tallies),
    read in the same statement, so in the same snapshot."""
    try:
        rows = list(counted_page_rows(queryset, text, offset, limit, count=count))
    except EmptyResultSet:  # a filter that can match nothing (e.g. queryset.none())
        return 0, []
    return count_and_texts(rows, offset)


def renders_in_sql() -> bool:
    """Whether date-times may be rendered in SQL now (the current time zone is UTC)."""
    return timezone.get_current_timezone_name() == "UTC"
