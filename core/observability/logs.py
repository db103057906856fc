"""Log formatting: JSON lines (LOG_FORMAT=json, production) or text, both carrying the
request id of the request a record was logged for.

The standard library's logging with a small formatter rather than structlog: every
library in the process (Django, gunicorn's workers, psycopg) already logs through the
standard library, so one formatter on the root handler makes all of them JSON, with no
second logging pipeline to configure, and no new dependency."""

from __future__ import annotations

import functools
import json
import logging
import re
import time

from core.observability.context import current_request_id

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}
# Extra fields whose name says they hold a secret are never written, whatever logged them.
_SECRET_NAME = re.compile(r"passw|secret|token|api_?key|authorization|cookie|otp|totp", re.IGNORECASE)
_ALLOWED_NAMES = {"db_queries"}


class RequestIdFilter(logging.Filter):
    """Sets record.request_id: the current request's id, or "-" outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


@functools.lru_cache(maxsize=512)
def _written_as(key: str) -> str | None:
    """How an attribute of a record is written: None when it is one every record has,
    "secret" when its name says it holds one, "plain" otherwise. Cached: records of one
    call site carry the same keys."""
    if key in _STANDARD or key.startswith("_"):
        return None
    return "secret" if _SECRET_NAME.search(key) and key not in _ALLOWED_NAMES else "plain"


# One encoder for every line: json.dumps with a non-default option builds a new encoder
# per call. Encoding keeps no state, so threads may share it.
_encode = json.JSONEncoder(ensure_ascii=False).encode


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the record's
    extra fields, and the exception's traceback when there is one."""

    # (whole second, its "YYYY-MM-DDTHH:MM:SS" text): the lines of one second share it.
    _second: tuple[int, str] = (-1, "")

    def _time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if self._second[0] != second:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{self._second[1]}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        attributes = vars(record)
        entry = {
            "time": self._time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": attributes.get("request_id") or current_request_id(),
        }
        # The keys a plain record lacks (the `extra=` fields), found by a set difference
        # and written in the order they were given.
        extras = attributes.keys() - _STANDARD
        for key in [key for key in attributes if key in extras] if extras else ():
            kind = _written_as(key)
            if kind is None:
                continue
            value = "[redacted]" if kind == "secret" else attributes[key]
            entry[key] = value if value is None or isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _encode(entry)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING setting for LOG_FORMAT `json` or `text`."""
    if log_format not in ("json", "text"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', not {log_format!r}.")
    formatter = {"()": JSONFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"main": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "django.request": {"level": "ERROR"},
        },
    }
