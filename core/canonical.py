"""Canonical JSON: one byte string per JSON value, whatever the key order or whitespace.

Sorted keys, no insignificant whitespace, UTF-8 (non-ASCII kept as is), and numbers by
value: a float with no fractional part is written as an integer (1.0 → 1), as in RFC 8785,
so that a value read back from PostgreSQL's jsonb (which may print 1e20 as an integer)
canonicalises to the same bytes it was signed or hashed with. NaN and Infinity are not
JSON and are refused.
"""

import hashlib
import json
from typing import Any


def normalize(value: Any) -> Any:
    """The same JSON value with integral floats turned into ints (recursively)."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and Infinity are not JSON numbers")
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(normalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(value: Any) -> str:
    return sha256_hex_of_text(dumps(value))


def sha256_hex_of_text(text: str) -> str:
    """sha256_hex of a value whose canonical text (dumps) is already at hand."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
