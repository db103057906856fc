"""Render a JSON value exactly as PostgreSQL prints it back from a jsonb column.

Entries are signed over this text. The verifier then reads `payload::text` straight from
the database and hashes it as is: no JSON parsing or re-serialising per row, which is
what makes verification fast. The rules (PostgreSQL's jsonb_out / escape_json):

- objects: keys ordered by byte length, then bytewise; `{"k": v, "k2": v2}`
- arrays: `[a, b]`; `true`, `false`, `null`
- strings: `"` `\\` `\\b` `\\f` `\\n` `\\r` `\\t` escaped, other control characters as
  `\\u00xx` (lower-case hex), everything else (all non-ASCII) as raw UTF-8
- numbers: jsonb keeps them as numeric; numeric prints in plain notation. Floats with
  no fractional part are written as integers first (1.0 → 1, 1e20 → 100000000000000000000);
  the others print as the plain-notation decimal of Python's shortest repr
  (1.5e-07 → 0.00000015), which is what numeric prints for that input.

audits/tests/test_jsonb.py checks this against the server for many generated values.
"""

from __future__ import annotations

from decimal import Decimal

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _code in range(0x20):
    _ESCAPES.setdefault(chr(_code), f"\\u{_code:04x}")
_NEEDS_ESCAPE = frozenset(_ESCAPES)


class NotStorable(ValueError):
    """A value jsonb cannot hold (NUL character, NaN/Infinity, non-JSON type)."""


def _string(text: str) -> str:
    if "\x00" in text:
        raise NotStorable("NUL characters cannot be stored")
    if _NEEDS_ESCAPE.isdisjoint(text):
        return f'"{text}"'
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def _number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise NotStorable("NaN and Infinity are not JSON numbers")
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode("utf-8")
    return len(raw), raw


def render(value) -> str:
    """jsonb text of a JSON value (dict/list/str/int/float/bool/None)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise NotStorable(f"object keys must be strings, not {type(key).__name__}")
        items = sorted(value.items(), key=lambda kv: _key_order(kv[0]))
        return "{" + ", ".join(f"{_string(k)}: {render(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render(v) for v in value) + "]"
    raise NotStorable(f"{type(value).__name__} is not a JSON type")
