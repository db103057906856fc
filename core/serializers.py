"""Output serializers that render rows fast, exactly as DRF would.

DRF's ModelSerializer rebuilds its field objects (model introspection, deep copies) for
every serializer instance, and renders each value through generic field machinery
(attribute traversal, a timezone lookup per date-time): most of the cost of a detail
response, and of a page of fifty rows. `CachedFieldsOutput` builds the fields once per
class and compiles each into a getter and a converter; plain columns (ids, foreign
keys, text, choices, JSON, booleans, integers, ISO 8601 date-times) skip the generic
machinery, anything else goes through the field's own to_representation. The output is
equal to DRF's (tested serializer by serializer where it is used).

Use it for read-only output serializers whose fields do not depend on `context` (no
hyperlinks, no request-dependent method fields).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework import fields as f
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject, PrimaryKeyRelatedField
from rest_framework.settings import api_settings

_ZERO = timedelta(0)
GENERIC, PLAIN, DATETIME = 0, 1, 2


class JsonTextField(f.JSONField):
    """A read-only JSON value kept as JSON text in a text column, rendered as the value
    that text holds, its object keys in the order they were written (a jsonb column
    re-orders them). In SQL (core.sqljson) the text is cast to json, which keeps it as
    written."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return json.loads(value)


def plain_kind(field) -> str | None:
    """What a serializer field renders a plain column as, or None when only its own
    to_representation can tell: "pk" (a related object's key), "uuid", "datetime" (ISO
    8601, time-zone aware), "text", "choice", "json", "json_text" (JsonTextField), "boolean",
    "integer", "biginteger".
    Shared by this module (in Python) and core.sqljson (in SQL)."""
    if len(field.source_attrs) != 1 or field.source == "*":
        return None
    kind = type(field)
    if isinstance(field, PrimaryKeyRelatedField):
        return "pk" if field.pk_field is None else None  # DRF renders the related pk as is
    if kind is f.UUIDField:
        return "uuid" if field.uuid_format == "hex_verbose" else None
    if kind is f.DateTimeField:
        iso = getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601
        return "datetime" if iso and settings.USE_TZ else None
    if kind in (f.CharField, f.EmailField):
        return "text"
    if kind is f.ChoiceField:
        return "choice"
    if kind is JsonTextField:
        return "json_text"
    if kind is f.JSONField:
        return None if field.binary else "json"
    if kind is f.BooleanField:
        return "boolean"
    if kind is f.IntegerField:
        return "integer"
    if kind is getattr(f, "BigIntegerField", None):  # DRF >= 3.15; a string when coerced
        coerce = getattr(field, "coerce_to_string", getattr(api_settings, "COERCE_BIGINT_TO_STRING", False))
        return None if coerce else "biginteger"
    return None


def _compile(field) -> tuple[int, object, object]:
    """(mode, getter, converter) for one field."""
    kind = plain_kind(field)
    if kind is None or kind == "biginteger":
        return GENERIC, None, None
    name = field.source_attrs[0]

    def getter(obj, name=name):
        return getattr(obj, name)

    if kind == "pk":
        attname = f"{name}_id"
        return PLAIN, (lambda obj: getattr(obj, attname)), None
    if kind == "datetime":
        return DATETIME, getter, None
    if kind == "choice":
        lookup = field.choice_strings_to_values
        return PLAIN, getter, (lambda value: value if value == "" else lookup.get(str(value), value))
    return PLAIN, getter, {"uuid": str, "text": str, "integer": int, "json_text": json.loads}.get(kind)


if TYPE_CHECKING:
    # What the mixin goes into, for mypy (at run time a plain mixin).
    _Serializer = serializers.Serializer
else:
    _Serializer = object

# (field name, field, mode, getter, converter) per field, in output order.
_Plan = list[tuple[str, f.Field, int, Any, Any]]


class CachedFieldsOutput(_Serializer):
    # Built on first use, per class (never inherited: read from the class's own __dict__).
    _cached_plan: ClassVar[_Plan]

    def _plan(self) -> _Plan:
        cls = type(self)
        plan = cls.__dict__.get("_cached_plan")
        if plan is None:
            plan = [
                (field.field_name, field, *_compile(field)) for field in self.fields.values() if not field.write_only
            ]
            cls._cached_plan = plan
        return plan

    def to_representation(self, instance):
        ret = {}
        utc = None  # is the current time zone UTC? (looked up once per row, when needed)
        for name, field, mode, getter, convert in self._plan():
            if mode == PLAIN:
                value = getter(instance)
                ret[name] = None if value is None else (convert(value) if convert else value)
            elif mode == DATETIME:
                value = getter(instance)
                if value is None:
                    ret[name] = None
                    continue
                if utc is None:
                    utc = timezone.get_current_timezone_name() == "UTC"
                if utc and value.tzinfo is not None and value.utcoffset() == _ZERO:
                    text = value.isoformat()  # what DRF writes: ISO 8601, "Z" for UTC
                    ret[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
                else:
                    ret[name] = field.to_representation(value)
            else:
                try:
                    attribute = field.get_attribute(instance)
                except SkipField:
                    continue
                check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                ret[name] = None if check_for_none is None else field.to_representation(attribute)
        return ret
