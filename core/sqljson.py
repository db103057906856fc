"""Rows rendered to JSON by PostgreSQL, exactly as their output serializer would render them.

A page of fifty rows through the ORM and DRF costs, in Python, a model instance per row
(every column converted), a serializer pass per row and a JSON encoding of the lot: about
as much as the page's SQL itself. For read-only output serializers made only of plain
columns (`core.serializers.CachedFieldsOutput` with ids, foreign keys, text, choices, JSON,
booleans, integers and ISO 8601 date-times), `row_document` writes, once per serializer,
the SQL that renders a row as the JSON object the serializer would produce: same keys, in the
same order, equal values. Anything else (a decimal, a nested serializer, a method field
the view does not give as SQL) makes it return None, and the caller keeps the Python path.

The document is computed in a correlated subquery on the primary key: PostgreSQL puts off
such target-list expressions until after ORDER BY ... LIMIT (planner's
make_sort_input_target), so only the rows of the page are rendered, however many rows the
filter matched before the sort.

Equal means equal once parsed: PostgreSQL writes `{"id" : "…"}` with spaces and keeps the
digits of a stored JSON number as written (`0.50`), where Python would print `0.5`.
Date-times follow DRF's ISO 8601 form (UTC, "Z", microseconds only when not zero) and are
only rendered in SQL while the current time zone is UTC (the default); otherwise callers
fall back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import connection, connections, models
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.db import prepared
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
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The row the document is rendered from is aliased ROW in the SQL of row_document.
ROW = "_row"


def iso_datetime_sql(column: str) -> str:
    """A timestamptz column as DRF writes it: 2026-11-22T10:00:00.123456Z, without the
    fraction when the microseconds are zero (datetime.isoformat); NULL for NULL. (One
    to_char and a replace: half the cost of testing the microseconds first.)"""
    return f"replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"


def _model_field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:  # an annotation or a property
        return None


def _column_sql(field, model, alias: str) -> str | None:
    """The SQL rendering of one serializer field over the row aliased `alias`, or None
    when only Python can render it."""
    kind = plain_kind(field)
    if kind is None:
        return None
    column = _model_field(model, field.source_attrs[0])
    if column is None or not getattr(column, "concrete", False):
        return None
    ref = f"{alias}.{connection.ops.quote_name(column.column)}"
    if kind == "pk":
        if not column.is_relation or column.many_to_many:
            return None
        return ref if column.target_field.get_internal_type() in _TEXT_COLUMNS + _INTEGER_COLUMNS else None
    if column.is_relation:
        return None
    internal = column.get_internal_type()
    if kind == "datetime":
        return iso_datetime_sql(ref) if internal == "DateTimeField" else None
    if kind == "json_text":  # json keeps the text as written (its key order); jsonb would sort the keys
        return f"{ref}::json" if internal == "TextField" else None
    # A ChoiceField renders a stored text value as itself.
    columns = {
        "uuid": ("UUIDField",),
        "text": _TEXT_COLUMNS,
        "choice": _TEXT_COLUMNS,
        "json": ("JSONField",),
        "boolean": ("BooleanField",),
        "integer": _INTEGER_COLUMNS,
        "biginteger": _INTEGER_COLUMNS,
    }[kind]
    return ref if internal in columns else None


def object_sql(serializer_class, model, alias: str, extra: dict[str, str] | None = None) -> str | None:
    """json_build_object(...) over the row of `model` aliased `alias`, rendering it as
    `serializer_class` renders it, or None. `extra` gives SQL for fields the serializer
    computes itself (a SerializerMethodField reading an annotation, a nested list)."""
    extra = extra or {}
    arguments = []
    for name, field in serializer_class().fields.items():
        if field.write_only:
            continue
        sql = extra.get(name) or _column_sql(field, model, alias)
        if sql is None or not _KEY.match(name):
            return None
        arguments.append(f"'{name}', {sql}")
    return f"json_build_object({', '.join(arguments)})"


def row_document(serializer_class, model, extra: dict[str, str] | None = None) -> str | None:
    """A correlated subquery (SQL text) rendering, as JSON text, the row of `model` the
    outer query is on, as `serializer_class` renders it; or None. `extra` as for
    object_sql, over the row aliased ROW."""
    document = object_sql(serializer_class, model, ROW, extra)
    if document is None:
        return None
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    return f"(SELECT {document}::text FROM {table} AS {ROW} WHERE {ROW}.{pk} = {table}.{pk})"


def list_sql(serializer_class, model, alias: str, where: str, order_by: str) -> str | None:
    """A JSON array (never NULL) of the rows of `model` aliased `alias` matching `where`
    (SQL over `alias` and the enclosing query), in `order_by` order, each rendered as
    `serializer_class` renders it; or None. For nested lists such as a session's tasks."""
    document = object_sql(serializer_class, model, alias)
    if document is None:
        return None
    table = connection.ops.quote_name(model._meta.db_table)
    return (
        f"(SELECT coalesce(json_agg({document} ORDER BY {order_by}), '[]'::json) FROM {table} AS {alias} WHERE {where})"
    )


def fetch_document(model, sql: str, params) -> str | None:
    """The JSON text a one-row rendering query returns, read where reads of `model` go
    (the replica router), or None when the query finds no row. `sql` must be fixed text
    (a rendering built once from a serializer, with %s parameters): it is prepared once
    per connection (core.db.prepared)."""
    from django.db import router

    with connections[router.db_for_read(model)].cursor() as cursor:
        prepared.execute(cursor, sql, params)  # a fixed rendering: planned once per connection
        row = cursor.fetchone()
    return None if row is None else row[0]


def renders_in_sql() -> bool:
    """Whether date-times may be rendered in SQL now (the current time zone is UTC)."""
    return timezone.get_current_timezone_name() == "UTC"


def documents(queryset: models.QuerySet, document: str) -> models.QuerySet:
    """`queryset` (filtered and ordered, not yet sliced) as a queryset of JSON texts, one
    per row, in the same order: slice it like the original. The outer query must name
    its model's table by the table's own name (Django does, unless the table is joined
    to itself)."""
    return (
        queryset.prefetch_related(None)
        .annotate(_document=RawSQL(document, (), output_field=models.TextField()))  # noqa: S611 (SQL made from model metadata)
        .values_list("_document", flat=True)
    )


def counted_page(
    queryset: models.QuerySet, document: str, offset: int, limit: int, *, count: tuple[str, Sequence[Any]] | None = None
) -> tuple[int, list[str]]:
    """(how many rows `queryset` has, the JSON texts of rows offset..offset+limit) in one
    query and one round trip, instead of a COUNT and then the page. For a queryset of
    filtered rows, as the list selectors return (no DISTINCT, GROUP BY, slice or set
    operation: its count is then the count of its primary keys). The page keeps its
    order: its rows are numbered as they leave the subquery that sorts and cuts them,
    and read back in that order. `count`, when given,
    is (SQL, params) of a query that yields the same number more cheaply (a tally:
    core.db.tallies); it is read in the same statement, so in the same snapshot."""
    try:
        if count is None:
            count_sql, count_params = queryset.order_by().values("pk").query.sql_with_params()
            count = (f"SELECT count(*) FROM ({count_sql}) AS rows", count_params)
        page_sql, page_params = documents(queryset, document)[offset : offset + limit].query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (e.g. queryset.none())
        return 0, []
    sql = (
        f"SELECT counted.total, page.document FROM ({count[0]}) AS counted (total) "
        "LEFT JOIN LATERAL (SELECT row_number() OVER () AS position, cut._document AS document "
        f"FROM ({page_sql}) AS cut) AS page ON true ORDER BY page.position"
    )
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, (*count[1], *page_params))
        rows = cursor.fetchall()
    return rows[0][0], [row[1] for row in rows if row[1] is not None]
