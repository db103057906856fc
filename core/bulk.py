"""Per-row outcomes of the bulk write paths (`*_import` services used by the legacy import).

A bulk service validates every row with the same rules as its one-row sibling, writes the
valid ones in a few set-based statements and records one audit entry for the batch. It
does not raise for a bad row: it answers, row by row, what happened."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class RowResult:
    id: Any = None  # the row written (or, with existed=True, the row already there)
    error: str | None = None  # why the row was refused; nothing was written for it
    existed: bool = False  # its natural key was already present: nothing written

    @property
    def ok(self) -> bool:
        return self.error is None


def refused(message: str) -> RowResult:
    return RowResult(error=message)


def created(row_id) -> RowResult:
    return RowResult(id=row_id)


def existing(row_id) -> RowResult:
    return RowResult(id=row_id, existed=True)


def error_text(exc: Exception) -> str:
    """A ValidationFailed's message with its field details, as one line."""
    details = getattr(exc, "details", None) or {}
    message = getattr(exc, "message", None) or str(exc)
    parts = []
    for field, messages in details.items():
        if isinstance(messages, list | tuple):
            parts.append(f"{field}: {'; '.join(str(m) for m in messages)}")
        elif isinstance(messages, dict):
            parts.append(f"{field}: {messages}")
    if parts and all(message not in p for p in parts):
        return f"{message} ({', '.join(parts)})"
    return ", ".join(parts) if parts else message


def _json_default(value):
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_rows(rows) -> str:
    """Rows (lists of values) as one JSON text, the parameter of a set-based statement:

        INSERT ... SELECT (r->>0)::uuid, r->>1, (r->>2)::timestamptz, r->3 ...
        FROM jsonb_array_elements(%s::jsonb) AS r

    Several times faster than one array parameter per column (psycopg adapts those
    element by element in Python; the server parses one JSON text). UUIDs and Decimals
    travel as text (exact), datetimes and dates in ISO 8601 (with their offset), nested
    JSON as itself (read with r->k)."""
    return json.dumps(rows, default=_json_default, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
