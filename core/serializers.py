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

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import fields as f
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject, PrimaryKeyRelatedField
from rest_framework.settings import api_settings

_ZERO = timedelta(0)
GENERIC, PLAIN, DATETIME = 0, 1, 2


def _compile(field) -> tuple[int, object, object]:
    """(mode, getter, converter) for one field."""
    if len(field.source_attrs) != 1 or field.source == "*":
        return GENERIC, None, None
    name = field.source_attrs[0]
    kind = type(field)

    def getter(obj, name=name):
        return getattr(obj, name)

    if isinstance(field, PrimaryKeyRelatedField) and field.pk_field is None:
        attname = f"{name}_id"
        return PLAIN, (lambda obj: getattr(obj, attname)), None  # DRF renders the related pk as is
    if kind is f.UUIDField and field.uuid_format == "hex_verbose":
        return PLAIN, getter, str
    if kind is f.DateTimeField and settings.USE_TZ:
        if getattr(field, "format", api_settings.DATETIME_FORMAT) == f.ISO_8601:
            return DATETIME, getter, None
        return GENERIC, None, None
    if kind in (f.CharField, f.EmailField):
        return PLAIN, getter, str
    if kind is f.ChoiceField:
        lookup = field.choice_strings_to_values
        return PLAIN, getter, (lambda value: value if value == "" else lookup.get(str(value), value))
    if (kind is f.JSONField and not field.binary) or kind is f.BooleanField:
        return PLAIN, getter, None
    if kind is f.IntegerField:
        return PLAIN, getter, int
    return GENERIC, None, None


class CachedFieldsOutput:
    def _plan(self):
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
