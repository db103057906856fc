"""Reading fields of legacy records: required/optional, types, times, e-mails, digests.

Every helper raises `Reject(reason)` with a reason naming the field, so a bad record is
reported as such and never becomes a partial row."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload


class Reject(Exception):
    """This record cannot be imported; `reason` says why (it goes to the rejects report)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_MISSING = object()


def field(data: dict, name: str, *, required: bool = True, default=None) -> Any:
    value = data.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise Reject(f"missing field '{name}'")
        return default
    return value


def text(data: dict, name: str, *, required: bool = True, default: str = "", max_length: int | None = None) -> str:
    value = field(data, name, required=required, default=default)
    if not isinstance(value, str):
        raise Reject(f"field '{name}' must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise Reject(f"field '{name}' is empty")
    if max_length is not None and len(value) > max_length:
        raise Reject(f"field '{name}' is longer than {max_length} characters")
    return value


def obj(data: dict, name: str, *, required: bool = True) -> dict:
    value = field(data, name, required=required, default={})
    if not isinstance(value, dict):
        raise Reject(f"field '{name}' must be a JSON object, not {type(value).__name__}")
    return value


def array(data: dict, name: str, *, required: bool = False) -> list:
    value = field(data, name, required=required, default=[])
    if not isinstance(value, list):
        raise Reject(f"field '{name}' must be a JSON array, not {type(value).__name__}")
    return value


_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f", ""}


def boolean(data: dict, name: str, *, default: bool = False) -> bool:
    value = field(data, name, required=False, default=default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise Reject(f"field '{name}' must be true or false, not {value!r}")


def integer(data: dict, name: str) -> int:
    value = field(data, name)
    if isinstance(value, bool):
        raise Reject(f"field '{name}' must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
        return int(value)
    raise Reject(f"field '{name}' must be a whole number, not {value!r}")


def decimal(data: dict, name: str) -> Decimal:
    value = field(data, name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Reject(f"field '{name}' must be a decimal number, not {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Reject(f"field '{name}' must be a decimal number, not {value!r}") from None
    if not number.is_finite():
        raise Reject(f"field '{name}' must be a finite number, not {value!r}")
    return number


# A required field is never None (field() refuses the record instead): the overloads
# say so, so callers need no check of their own.
@overload
def email(data: dict, name: str, *, required: Literal[True] = True) -> str: ...
@overload
def email(data: dict, name: str, *, required: bool) -> str | None: ...


def email(data: dict, name: str, *, required: bool = True) -> str | None:
    """An e-mail address as Tristate keeps it: trimmed, lower-case (matched that way)."""
    value = field(data, name, required=required)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Reject(f"field '{name}' must be an e-mail address, not {value!r}")
    return value.strip().lower()


# --- Times ---------------------------------------------------------------------------
# Real exports write an instant as ISO 8601 with Z or an offset, as naive ISO (meaning
# UTC), or as epoch seconds (number or digits; values too large for seconds are taken as
# milliseconds). Anything else, and anything before 1970 or more than a day ahead of the
# import, is refused with the field's name.

_EPOCH_MS_FROM = 100_000_000_000  # 1973 in milliseconds, year 5138 in seconds
_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _from_epoch(seconds: float, name: str, raw) -> datetime:
    if not math.isfinite(seconds):
        raise Reject(f"field '{name}' is not a time: {raw!r}")
    if abs(seconds) >= _EPOCH_MS_FROM:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Reject(f"field '{name}' is not a time: {raw!r}") from None


def parse_time(value, name: str, *, now: datetime | None = None) -> datetime:
    if isinstance(value, bool):
        raise Reject(f"field '{name}' is not a time: {value!r}")
    if isinstance(value, int | float):
        when = _from_epoch(float(value), name, value)
    elif isinstance(value, str):
        raw = value.strip()
        if _NUMBER.match(raw):
            when = _from_epoch(float(raw), name, value)
        else:
            try:
                when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in "zZ" and raw else raw)
            except ValueError:
                raise Reject(f"field '{name}' is not a time: {value!r}") from None
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    else:
        raise Reject(f"field '{name}' is not a time: {value!r}")
    latest = (now or datetime.now(UTC)) + timedelta(days=1)
    if when < _EARLIEST or when > latest:
        raise Reject(f"field '{name}' is out of range (before 1970 or in the future): {value!r}")
    return when


@overload
def time(data: dict, name: str, *, required: Literal[True] = True, now: datetime | None = None) -> datetime: ...
@overload
def time(data: dict, name: str, *, required: bool, now: datetime | None = None) -> datetime | None: ...


def time(data: dict, name: str, *, required: bool = True, now: datetime | None = None) -> datetime | None:
    value = field(data, name, required=required)
    if value is None:
        return None
    return parse_time(value, name, now=now)


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def day(data: dict, name: str) -> date:
    value = field(data, name)
    if not isinstance(value, str) or not _DAY.fullmatch(value.strip()):
        raise Reject(f"field '{name}' must be a date YYYY-MM-DD, not {value!r}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Reject(f"field '{name}' is not a calendar date: {value!r}") from None


_US = timedelta(microseconds=1)


def ts_key(when: datetime) -> int:
    """Microseconds since 1970 (sorts as the instant does)."""
    return (when - _EARLIEST) // _US


def digest_text(text: str) -> str:
    """Fingerprint of a record as written in the export (the same line of the same
    export always has the same one): 128 bits of SHA-256, hex."""
    return hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()[:32]


def digest(value) -> str:
    """Fingerprint of a record's content (sorted keys, no whitespace: key order and
    formatting do not matter): 128 bits of SHA-256, hex."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
