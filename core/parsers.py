"""JSON parser that refuses what PostgreSQL would refuse later, so it is a 400, not a 500:
NUL characters (text and jsonb cannot hold U+0000), NaN/Infinity (not JSON), invalid UTF-8."""

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _refuse_constant(name):
    raise ValueError(f"{name} is not a valid JSON number")


def find_nul(value, path="") -> str | None:
    """Path of the first string (or key) holding a NUL character, else None."""
    if isinstance(value, str):
        return path or "$" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return f"{path}.{key!r}" if path else repr(key)
            found = find_nul(item, f"{path}.{key}" if path else key)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, f"{path}[{index}]")
            if found:
                return found
    return None


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(settings.API_MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(raw) > settings.API_MAX_BODY_BYTES:
            raise ParseError(f"Request body is larger than {settings.API_MAX_BODY_BYTES} bytes.")
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise ParseError("Request body is not valid UTF-8.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error: {exc}") from None
        where = find_nul(data)
        if where:
            raise ParseError(f"NUL characters are not allowed in strings (at {where}).")
        return data
