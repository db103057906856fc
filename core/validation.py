"""Checks every service applies to free text before it reaches the database."""

from core.exceptions import ValidationFailed


def clean_text(value, field: str, *, max_length: int, required: bool = False, allow_none: bool = True) -> str:
    """`value` stripped, or ValidationFailed on `field`: not a string (None counts as ""
    when `allow_none`), blank when `required`, longer than `max_length`, or holding a NUL
    character (PostgreSQL text cannot store U+0000; the API's parser refuses it already,
    the admin and the commands reach the services without it)."""
    if value is None and allow_none:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed.field(field, "Must be text.")
    value = value.strip()
    if required and not value:
        raise ValidationFailed.field(field, "This field may not be blank.")
    if len(value) > max_length:
        raise ValidationFailed.field(field, f"At most {max_length} characters.")
    if "\x00" in value:
        raise ValidationFailed.field(field, "NUL characters are not allowed.")
    return value
