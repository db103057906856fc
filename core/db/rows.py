"""One row's INSERT or UPDATE as a fixed statement, for write paths that send it together
with other statements (core.db.prepared.run_together) instead of through save().

save() compiles its INSERT anew on every call and sends it alone; on an audited create
that compiling was the largest single piece of the writer's Python. These statements are
built from the model's fields once per shape, so they can be prepared (core.db.prepared)
and sent in the same message as the write's locks and checks. Values are prepared for the
database by each field's own get_db_prep_save(), as save() and QuerySet.update() do.

For models whose every column gets its value in Python and whose row is one row: a field
with a database default (db_default) or a generated column, or a model with a parent
(multi-table inheritance), is refused when the statement is built.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)

# (model, shape) -> (SQL, the fields whose values fill its placeholders, in order). Shapes
# are few and written in the code (a model's INSERT, an UPDATE of named fields), so the
# cache stays small.
_shapes: dict[tuple, tuple[str, tuple[Field, ...]]] = {}


def _quoted(connection, name: str) -> str:
    return connection.ops.quote_name(name)


def _insert_shape(model, connection) -> tuple[str, tuple[Field, ...]]:
    if model._meta.parents:
        raise ValueError(f"{model.__name__}: a child of another model is two rows; save() it")
    fields = tuple(model._meta.concrete_fields)
    for field in fields:
        if getattr(field, "generated", False) or field.has_db_default():
            raise ValueError(f"{model.__name__}.{field.name}: its value comes from the database; save() it")
    columns = ", ".join(_quoted(connection, field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {_quoted(connection, model._meta.db_table)} ({columns}) VALUES ({placeholders})", fields


def _update_shape(model, connection, names: tuple[str, ...], where: tuple[str, ...]) -> tuple[str, tuple[Field, ...]]:
    meta = model._meta
    assigned = tuple(meta.get_field(name) for name in names)
    matched = (meta.pk, *(meta.get_field(name) for name in where))
    assignments = ", ".join(f"{_quoted(connection, field.column)} = %s" for field in assigned)
    conditions = " AND ".join(f"{_quoted(connection, field.column)} = %s" for field in matched)
    return f"UPDATE {_quoted(connection, meta.db_table)} SET {assignments} WHERE {conditions}", assigned + matched


def insert_statement(instance: Model, *, using: str = DEFAULT_DB_ALIAS) -> tuple[str, list]:
    """(sql, params) inserting `instance` as a new row, every concrete column named. Fields
    with a pre_save() step (auto_now, auto_now_add) set their value on the instance here,
    as save() does. Call mark_saved(instance) once the statement ran."""
    model = type(instance)
    connection = connections[using]
    key = (model, "insert")
    shape = _shapes.get(key)
    if shape is None:
        shape = _shapes[key] = _insert_shape(model, connection)
    sql, fields = shape
    return sql, [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]


def update_statement(
    model, pk, values: dict, *, where: dict | None = None, using: str = DEFAULT_DB_ALIAS
) -> tuple[str, list]:
    """(sql, params) setting `values` ({field name: value}) on the row whose primary key is
    `pk` and whose fields equal `where` ({field name: value}), as
    model.objects.filter(pk=pk, **where).update(**values) would."""
    where = where or {}
    connection = connections[using]
    key = (model, "update", tuple(values), tuple(where))
    shape = _shapes.get(key)
    if shape is None:
        shape = _shapes[key] = _update_shape(model, connection, tuple(values), tuple(where))
    sql, fields = shape
    given = (*values.values(), pk, *where.values())
    return sql, [field.get_db_prep_save(value, connection) for field, value in zip(fields, given, strict=True)]


def mark_saved(instance: M, *, using: str = DEFAULT_DB_ALIAS) -> M:
    """Mark an instance whose insert_statement() ran as a saved row of `using` (the
    documented ModelState flags that save() and Model.from_db() set)."""
    instance._state.adding = False
    instance._state.db = using
    return instance
