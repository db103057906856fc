"""The request id of the request being served, in a contextvar so that log records,
the error envelope and audit entries of that request can all carry it."""

from __future__ import annotations

import itertools
import os
import re
import secrets
from contextvars import ContextVar

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# What a client may send (API.md): bounded, and nothing that could forge a log line or
# a header (no spaces, quotes, control characters).
_SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("tristate_request_id", default=None)


# New ids: 16 random hex digits per process and a counter, 32 hex digits in all; unique
# across processes without a system call per request (uuid4 reads /dev/urandom each time).
# A forked worker draws its own prefix when it starts, not by checking its pid each time.
class _ProcessIds:
    __slots__ = ("counter", "prefix")

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()


_process = _ProcessIds()
os.register_at_fork(after_in_child=_process.renew)


def new_request_id() -> str:
    return f"{_process.prefix}{next(_process.counter):016x}"


def accepted_or_new(value: str | None) -> str:
    """The client's request id when it is sane, a new one otherwise."""
    if value and _SANE.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """The id of the request this code runs for, or None outside a request."""
    return _request_id.get()


def bind(request_id: str | None):
    """Make `request_id` current; returns the token for `unbind`."""
    return _request_id.set(request_id)


def unbind(token) -> None:
    _request_id.reset(token)
