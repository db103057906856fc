"""Helpers every providers service uses: Django validation errors as the API's, checked text."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model

from core.exceptions import ValidationFailed
from core.validation import clean_text


def django_errors(exc: DjangoValidationError) -> ValidationFailed:
    details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    first = next(iter(details.values()))[0] if details else "The submitted data is not valid."
    return ValidationFailed(first, details=details)


def full_clean(instance: Model, exclude: Iterable[str] = ()) -> None:
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        raise django_errors(exc) from None


def checked_text(name: str, value: object, *, max_length: int, required: bool = True) -> str:
    return clean_text(value, name, max_length=max_length, required=required, allow_none=False)
