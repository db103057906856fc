"""JSON parser that refuses what would otherwise fail later as a 500, so it is a 400:

- nesting deeper than MAX_JSON_DEPTH, counted on the raw bytes before json.loads (which,
  like everything after it that walks the document, recurses per level);
- text PostgreSQL cannot store: NUL (text and jsonb cannot hold U+0000) and lone UTF-16
  surrogates (U+D800..U+DFFF, which a JSON "\\ud800" escape can produce but UTF-8 cannot
  encode), in any string or key, reported with the JSON path;
- NaN/Infinity (not JSON) and invalid UTF-8.
"""

import json
import re
from itertools import accumulate

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Deep enough for every legitimate document (configs, metadata, settings), shallow
# enough that no recursive walk over it (ours, Django's, psycopg's) comes near
# Python's recursion limit.
MAX_JSON_DEPTH = 64

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A JSON string, as an unrolled loop (a run of plain characters, then one escape at a
# time). An unterminated string (with or without a last lone backslash) runs to the end
# of the text: every opening quote then matches, so the scan is linear whatever the
# input (a pattern that can fail at one quote is retried from each later one, and a
# body of escaped quotes without a closing one took quadratic time). Malformed text
# is json.loads' to refuse.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1, +1, -1, -1


def _refuse_constant(name):
    raise ValueError(f"{name} is not a valid JSON number")


def nesting_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Does the JSON text nest arrays/objects deeper than `limit`? Brackets inside
    strings do not count. Malformed text is left to json.loads to report.

    The brackets left once strings are removed become +1/-1 bytes; the deepest level is
    the largest running sum (computed in C: accumulate over a signed-byte view)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    steps = _STRING.sub(b"", raw).translate(_STEP, _NOT_A_BRACKET)
    return bool(steps) and max(accumulate(memoryview(steps).cast("b"))) > limit


def _describe(text: str) -> str:
    return "NUL characters" if "\x00" in text else "unpaired UTF-16 surrogates"


def find_unstorable(value, path: str = "") -> tuple[str, str] | None:
    """(JSON path, what) of the first string or key PostgreSQL cannot store, else None."""
    if isinstance(value, str):
        return (path or "$", _describe(value)) if UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if UNSTORABLE.search(key):
                return (f"{path}.{key!r}" if path else repr(key)), _describe(key)
            found = find_unstorable(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_unstorable(item, f"{path}[{index}]")
            if found:
                return found
    return None


def find_nul(value, path="") -> str | None:
    """Path of the first string (or key) PostgreSQL cannot store, else None."""
    found = find_unstorable(value, path)
    return found[0] if found else None


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(settings.API_MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(raw) > settings.API_MAX_BODY_BYTES:
            raise ParseError(f"Request body is larger than {settings.API_MAX_BODY_BYTES} bytes.")
        if not raw.strip():
            return {}
        if nesting_depth_exceeds(raw):
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels (the maximum depth).")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise ParseError("Request body is not valid UTF-8.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error: {exc}") from None
        found = find_unstorable(data)
        if found:
            where, what = found
            raise ParseError(f"{what[0].upper()}{what[1:]} are not allowed in strings (at {where}).")
        return data
