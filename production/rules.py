"""Pure rules of the production zone (no database access): input validation shared by the
services (every caller: API, admin, commands) and the derived values they store.

Each validator returns the clean value or raises core.exceptions.ValidationFailed naming
the field, which the API renders as a 400 `validation_error`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from core.exceptions import ValidationFailed
from core.validation import clean_text
from production.models import ArtifactType, TaskType

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Object storage locations. https covers S3-compatible endpoints and CDNs; query strings,
# fragments and user:password@ are refused because they are where credentials hide
# (pre-signed URLs): a stored URI is a location, never a way in.
URI_SCHEMES = ("s3", "gs", "https")
URI_MAX_LENGTH = 2048
# S3 and GCS bucket names: 3-63 of lower-case letters, digits, dots, hyphens (GCS also _).
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(:[0-9]{1,5})?$")
_LANGUAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+#._-]*$")

MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1
TEXT_LIMIT = 10_000


def text(value, field: str, *, required: bool = False, max_length: int = TEXT_LIMIT) -> str:
    return clean_text(value, field, required=required, max_length=max_length)


def whole_number(value, field: str, *, minimum: int = 0, maximum: int = MAX_BIGINT, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed.field(field, "A whole number is required.")
    if not minimum <= value <= maximum:
        raise ValidationFailed.field(field, f"Must be from {minimum} to {maximum}.")
    return value


def json_object(value, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed.field(field, "Must be a JSON object.")
    return value


def choice(value, field: str, choices) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ValidationFailed.field(field, f"'{str(value)[:40]}' is not one of: {allowed}.")
    return value


def task_type(value) -> str:
    return choice(value, "type", TaskType)


def artifact_type(value) -> str:
    return choice(value, "type", ArtifactType)


def sha256(value) -> str:
    if not isinstance(value, str) or not SHA256_RE.match(value):
        raise ValidationFailed.field("sha256", "A SHA-256 digest: exactly 64 lower-case hexadecimal characters.")
    return value


def storage_uri(value) -> str:
    """An object-storage URI: s3://bucket/key, gs://bucket/key or https://host/path, with
    no credentials, query string or fragment, no whitespace or control characters."""
    message = (
        "A storage URI: s3://bucket/key, gs://bucket/key or https://host/path "
        "(no credentials, query string or fragment)."
    )
    if not isinstance(value, str) or not value or len(value) > URI_MAX_LENGTH:
        raise ValidationFailed.field("s3_uri", message)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationFailed.field("s3_uri", message)
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise ValidationFailed.field("s3_uri", message) from None
    if parts.scheme not in URI_SCHEMES or parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValidationFailed.field("s3_uri", message)
    if "@" in parts.netloc or parts.username or parts.password:
        raise ValidationFailed.field("s3_uri", message)
    path = parts.path
    if len(path) < 2 or not path.startswith("/"):
        raise ValidationFailed.field("s3_uri", message)
    host = parts.netloc
    if parts.scheme == "https":
        if not _HOST_RE.match(host.lower()) or (port is not None and not 0 < port < 65536):
            raise ValidationFailed.field("s3_uri", message)
    elif not _BUCKET_RE.match(host) or ".." in host:
        raise ValidationFailed.field("s3_uri", message)
    return value


def future_time(value, field: str, *, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed.field(field, "A date-time with a time zone is required.")
    if value <= now:
        raise ValidationFailed.field(field, "Must be in the future.")
    return value


def score(value) -> Decimal:
    """An overall score from 0 to 100, at most two decimals."""
    if isinstance(value, bool):
        raise ValidationFailed.field("overall_score", "A number from 0 to 100 is required.")
    try:
        number = Decimal(str(value)) if isinstance(value, int | float | str) else value
    except InvalidOperation:
        number = None
    if not isinstance(number, Decimal) or not number.is_finite():
        raise ValidationFailed.field("overall_score", "A number from 0 to 100 is required.")
    if not Decimal(0) <= number <= Decimal(100):
        raise ValidationFailed.field("overall_score", "Must be from 0 to 100.")
    if number != number.quantize(Decimal("0.01")):
        raise ValidationFailed.field("overall_score", "At most two decimal places.")
    return number.quantize(Decimal("0.01"))


def language(value) -> str:
    """A language name, normalized to lower case (python, c++, c#, typescript, …)."""
    value = text(value, "code_language", required=True, max_length=50).lower()
    if not _LANGUAGE_RE.match(value):
        raise ValidationFailed.field(
            "code_language", "Letters, digits and + # . _ - only, starting with a letter or digit."
        )
    return value


def duration_ms(started_at: datetime | None, finished_at: datetime | None) -> int | None:
    """Whole milliseconds between the two times (floored), the value the database's
    analysis_tasks_duration_derived_check expects; None unless both are known."""
    if started_at is None or finished_at is None:
        return None
    return (finished_at - started_at) // timedelta(milliseconds=1)
