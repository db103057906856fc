"""Bad input derived from the OpenAPI document, one class at a time, for tests/test_fuzz.py:
for each field of a request body the wrong JSON type, unstorable text (a lone surrogate,
NUL) and, for dates, values at the calendar's edge; deep nesting; and edge dates for the
date query parameters. Plus a row count of every table, to prove a refused request
wrote nothing."""

import json
import uuid

from django.db import connection

EDGE_DATETIMES = ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59.999999Z"]
EDGE_DATES = ["9999-12-31", "0001-01-01"]
DEEP = 200  # well past core.parsers.MAX_JSON_DEPTH


def resolve(spec: dict, node: dict) -> dict:
    """Follow $ref (and a single-item allOf/oneOf wrapper, as drf-spectacular writes enums)."""
    for _ in range(10):
        if "$ref" in node:
            node = _lookup(spec, node["$ref"])
        elif len(node.get("allOf", [])) == 1:
            node = {**node, **resolve(spec, node["allOf"][0])}
            node.pop("allOf", None)
        elif node.get("oneOf"):
            node = resolve(spec, node["oneOf"][0])
        else:
            return node
    return node


def _lookup(spec: dict, ref: str) -> dict:
    node = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _kind(field: dict) -> str:
    if "enum" in field and "type" not in field:
        return "string"
    return field.get("type", "any")


def _valid(field: dict):
    kind, fmt = _kind(field), field.get("format")
    if field.get("enum"):
        return next((v for v in field["enum"] if v is not None), None)
    if kind == "string":
        return {
            "date-time": "2026-01-01T00:00:00Z",
            "date": "2026-01-01",
            "uuid": str(uuid.uuid4()),
            "email": "fuzz@example.com",
            "decimal": "1.00",
        }.get(fmt, "x")
    if kind in ("integer", "number"):
        return max(1, field.get("minimum", 1))
    return {"boolean": True, "array": [], "object": {}}.get(kind)


def _invalid(field: dict):
    kind, fmt = _kind(field), field.get("format")
    if kind == "string":
        yield "a number for a string", 123
        yield "a boolean for a string", True
        yield "a lone surrogate", "a\ud800b"
        yield "NUL", "a\x00b"
        if fmt == "date-time":
            yield from ((f"edge date-time {v}", v) for v in EDGE_DATETIMES)
        if fmt == "date":
            yield from ((f"edge date {v}", v) for v in EDGE_DATES)
    elif kind in ("integer", "number"):
        yield "a string for a number", "10"
        yield "a boolean for a number", True
    elif kind == "boolean":
        yield "a string for a boolean", "true"
        yield "a number for a boolean", 1
    elif kind == "object":
        yield "a surrogate in a key", {"k\udc00": 1}
        yield "NUL in a value", {"k": ["\x00"]}
        yield "a string for an object", "x"
    elif kind == "array":
        yield "a surrogate in an item", ["\ud800"]
        yield "a string for an array", "x"


def bad_bodies(spec: dict, operation: dict):
    """(label, JSON text) of bodies that each break the operation's schema in one way."""
    body = resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
    fields = {name: resolve(spec, f) for name, f in body.get("properties", {}).items()}
    fields = {name: f for name, f in fields.items() if not f.get("readOnly")}
    base = {name: _valid(fields[name]) for name in body.get("required", []) if name in fields}
    for name, field in fields.items():
        for label, value in _invalid(field):
            yield f"{name}: {label}", json.dumps({**base, name: value})
    yield "the whole body nested", '{"a":' * DEEP + "1" + "}" * DEEP
    if fields:
        first = next(iter(fields))
        head = json.dumps(base)[:-1] + (", " if base else "")
        yield f"{first}: nested arrays", head + json.dumps(first) + ": " + "[" * DEEP + "1" + "]" * DEEP + "}"


def bad_queries(spec: dict, operation: dict):
    """(name, value) of date and date-time query parameters at the calendar's edge."""
    for parameter in operation.get("parameters", []):
        parameter = resolve(spec, parameter)
        if parameter.get("in") != "query":
            continue
        fmt = resolve(spec, parameter.get("schema", {})).get("format")
        if fmt == "date-time":
            yield from ((parameter["name"], v) for v in EDGE_DATETIMES)
        elif fmt == "date":
            yield from ((parameter["name"], v) for v in EDGE_DATES)


_TABLES: list[str] = []


def row_counts() -> dict[str, int]:
    """{table: rows} of every table of the project (partitioned tables as a whole)."""
    with connection.cursor() as cursor:
        if not _TABLES:
            cursor.execute(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN "
                "('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1"
            )
            _TABLES.extend(name for (name,) in cursor.fetchall())
        cursor.execute(" UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in _TABLES))
        return dict(cursor.fetchall())
