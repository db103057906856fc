"""One rule of JSON types for every request body, and calendar bounds for every date.

DRF's fields coerce: a CharField takes 12 and stores "12", an IntegerField takes "10",
a BooleanField takes "true" or 1, a UUIDField takes an integer. The API promises that a
wrong type is a 400 (API.md), so every input serializer derives from `TypedInput` (or
mixes in `JsonTypesMixin`), which checks the raw JSON value of each field against the
type its OpenAPI schema states before DRF converts anything:

    a string field (text, e-mail, choice of strings, uuid, date, date-time) takes a string;
    an integer field takes an integer (not a string, not a boolean, not 1.5);
    a number field takes a number (not a string, not a boolean);
    a decimal field (thresholds, scores, money: exact values) takes a decimal string, as
      its schema states (type string, format decimal), or a number; never a boolean;
    a boolean field takes true or false;
    list and object fields take arrays and objects, their items checked the same way.

null is left to the field (allow_null). Query parameters are all text and are not
type-checked, but their dates are bounded the same way (query serializers and
core.filters).

Dates and date-times must lie within DATE_MIN..DATE_MAX once converted to UTC: a value
that parses (9999-12-31T23:00:00-05:00, 0001-01-01T00:00:00+05:00) but overflows when
converted, or when a service adds a day to it, is a 400 naming the field, never a 500.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from django.db import models
from django.http import QueryDict
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import empty
from rest_framework.relations import ManyRelatedField, PrimaryKeyRelatedField

from core.api.strict import RejectUnknownFields

DATE_MIN = date(1, 1, 2)
DATE_MAX = date(9999, 12, 30)
OUT_OF_RANGE = f"Out of range: dates must lie between {DATE_MIN.isoformat()} and {DATE_MAX.isoformat()} (UTC)."

STRING = "Must be a string."
INTEGER = "Must be an integer."
NUMBER = "Must be a number."
DECIMAL = "Must be a decimal number (a JSON number or a decimal string)."
BOOLEAN = "Must be true or false."

_TEXT_FIELDS = (
    serializers.CharField,
    serializers.UUIDField,
    serializers.DateTimeField,
    serializers.DateField,
    serializers.TimeField,
    serializers.DurationField,
)


def datetime_out_of_range(value: datetime) -> bool:
    """Does this date-time overflow, or fall outside DATE_MIN..DATE_MAX, in UTC?"""
    try:
        in_utc = value.astimezone(UTC) if value.tzinfo is not None else value
    except OverflowError:
        return True
    return not DATE_MIN <= in_utc.date() <= DATE_MAX


def date_out_of_range(value) -> bool:
    if isinstance(value, datetime):
        return datetime_out_of_range(value)
    if isinstance(value, date):
        return not DATE_MIN <= value <= DATE_MAX
    return False


def _calendar_problem(field, value) -> str | None:
    """OUT_OF_RANGE for a date or date-time string that parses but lies off the calendar."""
    if not isinstance(value, str):
        return None
    try:
        if isinstance(field, serializers.DateTimeField):
            parsed = parse_datetime(value) or parse_date(value)
        elif isinstance(field, serializers.DateField):
            parsed = parse_date(value)
        else:
            return None
    except ValueError:
        return None  # not a valid date: the field says so in its own words
    return OUT_OF_RANGE if parsed is not None and date_out_of_range(parsed) else None


def _pk_is_integer(field) -> bool:
    queryset = field.get_queryset() if field.queryset is not None else None
    if queryset is None:
        return False
    return isinstance(queryset.model._meta.pk, models.AutoField | models.IntegerField)


def type_problem(field, value):
    """What is wrong with the raw JSON `value` for `field` (a message, or a dict/list of
    them for nested structures), or None."""
    if value is None or value is empty or field.read_only:
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else BOOLEAN
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else INTEGER
    if isinstance(field, serializers.FloatField):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else NUMBER
    if isinstance(field, serializers.DecimalField):  # its schema: a decimal string; a number is exact enough
        return None if isinstance(value, int | float | str) and not isinstance(value, bool) else DECIMAL
    if isinstance(field, serializers.MultipleChoiceField):
        return None
    if isinstance(field, serializers.ChoiceField):
        if all(isinstance(key, str) for key in field.choices):
            return None if isinstance(value, str) else STRING
        return None if isinstance(value, str | int | float) and not isinstance(value, bool) else STRING
    if isinstance(field, _TEXT_FIELDS):
        return _calendar_problem(field, value) if isinstance(value, str) else STRING
    if isinstance(field, PrimaryKeyRelatedField):
        if isinstance(value, bool):
            return INTEGER if _pk_is_integer(field) else STRING
        if _pk_is_integer(field):
            return None if isinstance(value, int) else INTEGER
        return None if isinstance(value, str) else STRING
    if isinstance(field, ManyRelatedField):
        return _items_problem(field.child_relation, value)
    if isinstance(field, serializers.ListField):
        return _items_problem(field.child, value)
    if isinstance(field, serializers.DictField) and isinstance(value, dict):
        problems = {key: p for key, item in value.items() if (p := type_problem(field.child, item))}
        return problems or None
    if isinstance(field, serializers.ListSerializer):
        return _items_problem(field.child, value)
    if isinstance(field, serializers.Serializer) and not isinstance(field, JsonTypesMixin):
        return fields_problems(field, value) or None
    return None


def _items_problem(child, value):
    if not isinstance(value, list) or child is None:
        return None
    problems = {index: p for index, item in enumerate(value) if (p := type_problem(child, item))}
    return problems or None


def fields_problems(serializer, data) -> dict:
    """{field name: problem} for the fields of `serializer` given the raw mapping `data`."""
    if not isinstance(data, dict):
        return {}
    problems = {}
    for name, field in serializer.fields.items():
        if field.read_only or name not in data:
            continue
        problem = type_problem(field, data[name])
        if problem:
            problems[name] = problem if isinstance(problem, dict | list) else [problem]
    return problems


def query_problems(serializer, data) -> dict:
    """{field name: [OUT_OF_RANGE]} for date/date-time query parameters off the calendar."""
    problems = {}
    for name, field in serializer.fields.items():
        value = data.get(name) if hasattr(data, "get") else None
        problem = _calendar_problem(field, value)
        if problem:
            problems[name] = [problem]
    return problems


# The mixin's super() is a serializer's: say so to the type checker only (at run time it
# stays a plain mixin, so the classes that mix it in keep their MRO).
if TYPE_CHECKING:
    _SerializerBase = serializers.Serializer
else:
    _SerializerBase = object


class JsonTypesMixin(_SerializerBase):
    """Refuse a body whose JSON types differ from the fields' (see the module docstring)."""

    def to_internal_value(self, data):
        # Query parameters are text by nature: only their dates are checked.
        problems = query_problems(self, data) if isinstance(data, QueryDict) else fields_problems(self, data)
        if problems:
            raise ValidationError(problems)
        return super().to_internal_value(data)


class TypedInput(RejectUnknownFields, JsonTypesMixin, serializers.Serializer):
    """Base of every request-body (and query) serializer."""
