"""The API says no when it means no.

Request bodies: a key the endpoint does not take is a 400 naming it (and, for a field
that only an action changes, naming that action), never silently dropped.
Query strings: an unknown parameter name, an unknown `ordering` field or a `page_size`
that is not an integer from 1 to the maximum is a 400 naming the parameter and listing
what is allowed; a choice that is not one lists the choices.

Used by every endpoint through shared classes: `RejectUnknownFields` (mixed into
core.strict_input.StrictInput, the base of request serializers), `StrictFilterBackend`
and `StrictOrderingFilter` (the default filter backends; `QueryNamesOnly` for lists
without filters) and `StrictPageSize` (the paginators).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.http import QueryDict
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import BaseFilterBackend, OrderingFilter, SearchFilter
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.views import APIView

if TYPE_CHECKING:
    # What the mixins below are mixed into, so that mypy checks their calls to super()
    # and the attributes they read; at run time they stay plain mixins (no second
    # SerializerMetaclass run, nothing changed in the method resolution order).
    _Serializer = serializers.Serializer
    _Pagination = BasePagination
else:
    _Serializer = _Pagination = object

# Fields every resource has and no request sets.
ALWAYS_READ_ONLY = frozenset({"id", "created_at", "updated_at"})
# Beyond any list's last page (and far below the bigint limit of an OFFSET).
MAX_PAGE_NUMBER = 2**31
# Query parameters any endpoint accepts: DRF's format override.
ALWAYS_ALLOWED_PARAMS = frozenset({"format"})


def _listing(values) -> str:
    return ", ".join(str(v) for v in values)


def _choice_message(field) -> str:
    allowed = _listing(field.choices)
    # DRF formats the message with `input=`; braces of the values must survive it.
    return '"{input}" is not a valid choice; allowed: ' + allowed.replace("{", "{{").replace("}", "}}") + "."


def _list_choices(field) -> None:
    if isinstance(field, serializers.ChoiceField):
        field.error_messages = {**field.error_messages, "invalid_choice": _choice_message(field)}
    child = getattr(field, "child", None)
    if isinstance(child, serializers.Field):
        _list_choices(child)


class RejectUnknownFields(_Serializer):
    """Refuses keys the serializer does not take.

    `read_only_hints` maps a field that clients see in the output but cannot set here to
    how it is changed ("use POST /projects/{id}/archive/"); `read_only_fields_named` adds
    output-only names that get a plain "read-only" message."""

    read_only_hints: dict[str, str] = {}
    read_only_fields_named: frozenset[str] = frozenset()
    # {deprecated name: current name}: the old name is still accepted (not both at once).
    deprecated_names: dict[str, str] = {}

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for field in fields.values():
            _list_choices(field)
        return fields

    def unknown_field_errors(self, data) -> dict[str, list[str]]:
        if not isinstance(data, Mapping):
            return {}
        writable = [name for name, field in self.fields.items() if not field.read_only]
        errors = {}
        for key in data:
            if key in writable or (isinstance(data, QueryDict) and key in ALWAYS_ALLOWED_PARAMS):
                continue
            name = str(key)
            hint = self.read_only_hints.get(name)
            if hint:
                errors[name] = [f"This field is read-only here; {hint}."]
            elif name in self.fields or name in ALWAYS_READ_ONLY or name in self.read_only_fields_named:
                errors[name] = ["This field is read-only."]
            else:
                errors[name] = [f"Unknown field. Allowed fields: {_listing(writable) or '(none)'}."]
        return errors

    def current_names(self, data):
        """`data` with deprecated names replaced by current ones, and the conflicts."""
        if not self.deprecated_names or not isinstance(data, Mapping) or isinstance(data, QueryDict):
            return data, {}
        data, conflicts = dict(data), {}
        for old, new in self.deprecated_names.items():
            if old not in data:
                continue
            if new in data:
                conflicts[old] = [f"Deprecated name of `{new}`; send `{new}` only."]
                data.pop(old)
            else:
                data[new] = data.pop(old)
        return data, conflicts

    def to_internal_value(self, data):
        data, conflicts = self.current_names(data)
        errors = {**self.unknown_field_errors(data), **conflicts}
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            raise ValidationError({**exc.detail, **errors}) from None
        if errors:
            raise ValidationError(errors)
        return value


# ---------------------------------------------------------------------------------------
# Query strings


def _filter_param_names(name: str, filter_) -> list[str]:
    """A filter's query parameters: its name, or one per part of a range (date_after...)."""
    suffixes = getattr(getattr(filter_.field_class, "widget", None), "suffixes", None)
    return [f"{name}_{suffix}" if suffix else name for suffix in suffixes] if suffixes else [name]


def allowed_query_params(request, view) -> list[str]:
    """Every query parameter name the list behind `view` reads."""
    names = set(ALWAYS_ALLOWED_PARAMS)
    paginator = getattr(view, "paginator", None)
    for attr in ("page_query_param", "page_size_query_param", "cursor_query_param"):
        value = getattr(paginator, attr, None)
        if value:
            names.add(value)
    for backend_class in getattr(view, "filter_backends", ()):
        if issubclass(backend_class, DjangoFilterBackend):
            filterset_class = backend_class().get_filterset_class(view)
            if filterset_class is not None:
                for name, filter_ in filterset_class.base_filters.items():
                    names.update(_filter_param_names(name, filter_))
        elif issubclass(backend_class, OrderingFilter) and getattr(view, "ordering_fields", None) != []:
            names.add(backend_class.ordering_param)
        elif issubclass(backend_class, SearchFilter) and getattr(view, "search_fields", None):
            names.add(backend_class.search_param)
    names.update(getattr(view, "extra_query_params", ()))
    return sorted(names)


def check_query_names(request, view) -> None:
    allowed = allowed_query_params(request, view)
    unknown = [name for name in request.query_params if name not in allowed]
    if unknown:
        message = f"Unknown query parameter. Allowed parameters: {_listing(allowed)}."
        raise ValidationError({name: [message] for name in unknown})


def _list_filter_choices(form) -> None:
    for field in form.fields.values():
        choices = getattr(field, "choices", None)
        if choices is None:
            continue
        allowed = _listing(value for value, _label in choices if value != "")
        field.error_messages = {
            **field.error_messages,
            "invalid_choice": "%(value)s is not a valid choice; allowed: " + allowed.replace("%", "%%") + ".",
        }


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, after refusing query parameter names no backend of the view reads;
    choice errors list the choices."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.valid_filterset(request, queryset, view)
        return queryset if filterset is None else filterset.qs

    def valid_filterset(self, request, queryset, view):
        """The request's filterset once its query parameters are known and valid (a 400
        otherwise), or None for a view without filters."""
        check_query_names(request, view)
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return None
        _list_filter_choices(filterset.form)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        return filterset


class QueryNamesOnly(BaseFilterBackend):
    """For lists without filters: refuses any query parameter they do not read."""

    def filter_queryset(self, request, queryset, view):
        check_query_names(request, view)
        return queryset


class StrictOrderingFilter(OrderingFilter):
    """`ordering` naming a field the list does not sort by is a 400 listing those it does."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            terms = [term.strip() for term in params.split(",") if term.strip()]
            valid = [name for name, _label in self.get_valid_fields(queryset, view, {"request": request})]
            invalid = [term for term in terms if term.lstrip("-") not in valid]
            if invalid:
                allowed = _listing(valid) if valid else "(this list has a fixed order)"
                raise ValidationError(
                    {self.ordering_param: [f"Unknown ordering field: {_listing(invalid)}. Allowed fields: {allowed}."]}
                )
        return super().get_ordering(request, queryset, view)

    def get_schema_operation_parameters(self, view):
        fields = getattr(view, "ordering_fields", None)
        if fields == []:
            return []  # a fixed order: the parameter is refused
        parameters = super().get_schema_operation_parameters(view)
        if fields and fields != "__all__":
            for parameter in parameters:
                parameter["description"] = f"Comma-separated fields, `-` for descending; one of: {_listing(fields)}."
        return parameters


class StrictPageSize(_Pagination):
    """For paginators with `page_size_query_param`: a page size that is not an integer
    from 1 to `max_page_size` is a 400, not clamped or ignored."""

    # DRF's page-number and cursor paginators both have these (the base class does not).
    page_size: int | None
    page_size_query_param: str | None
    max_page_size: int | None

    def get_page_size(self, request: Request) -> int | None:
        self.refuse_unreachable_page(request)
        param = self.page_size_query_param
        raw = request.query_params.get(param) if param else None
        if param is None or raw is None:
            return self.page_size
        text = raw.strip()
        size = int(text) if text.isdigit() and text.isascii() else None
        maximum = self.max_page_size
        if size is None or size < 1 or (maximum is not None and size > maximum):
            allowed = f"from 1 to {maximum}" if maximum is not None else "of 1 or more"
            raise ValidationError({param: [f"Must be an integer {allowed}."]})
        return size

    def refuse_unreachable_page(self, request: Request) -> None:
        """A page number no list reaches is the 404 of a page past the last one, before
        any query: its offset would not fit PostgreSQL's bigint (the one-query page of
        core.api.lists computes the offset before the count)."""
        raw = request.query_params.get(getattr(self, "page_query_param", None) or "", "")
        if raw.isascii() and raw.isdigit() and int(raw) > MAX_PAGE_NUMBER:
            raise NotFound("Invalid page.")

    def get_schema_operation_parameters(self, view: APIView) -> list[Any]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter.get("name") == getattr(self, "page_query_param", None):
                parameter["schema"] = {"type": "integer", "minimum": 1}
            if parameter.get("name") == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters
