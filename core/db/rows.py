"""Rows as fixed statements and back: one row's INSERT or UPDATE, for write paths that send
it inside a statement of their own (an audited write: audits.services.audited) instead of
through save(); and model instances from the rows of statements that name their columns.

save() compiles its INSERT anew on every call and sends it alone; on an audited create
that compiling was the largest single piece of the writer's Python. These statements are
built from the model's fields once per shape, so they can be prepared (core.db.bound)
and sent in the same statement as the write's locks and checks. Values are prepared for the
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


def columns(fields, alias: str | None = None) -> str:
    """The quoted column list of `fields` (concrete fields), each qualified by `alias`
    when given: the select list of a statement that names its columns."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{field.column}"' for field in fields)


# (id(fields), alias) -> (fields, attnames, per-column converters). The entry holds
# `fields` itself, so the id cannot be reused by another list while it is cached.
_loaders: dict[tuple[int, str], tuple[list, list[str], list[tuple]]] = {}


def _loader(fields, connection):
    key = (id(fields), connection.alias)
    entry = _loaders.get(key)
    if entry is None or entry[0] is not fields:
        converters = [tuple(field.get_db_converters(connection)) for field in fields]
        entry = _loaders[key] = (fields, [field.attname for field in fields], converters)
    return entry


def instance_from_row(model, fields, values, alias: str):
    """A `model` instance from one row of `fields` (concrete fields, in the statement's
    column order), each value converted as the ORM converts it (the field's converters,
    e.g. from_db_value). `fields` should be a list kept for reuse (a module constant):
    its converters are looked up once per connection alias."""
    connection = connections[alias]
    _, attnames, converters = _loader(fields, connection)
    converted = []
    for field_converters, value in zip(converters, values, strict=True):
        for converter in field_converters:
            value = converter(value, None, connection)
        converted.append(value)
    return model.from_db(alias, attnames, converted)
