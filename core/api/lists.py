"""Page-number lists whose rows PostgreSQL renders to JSON (core.sqljson).

`SqlRenderedListMixin.list` keeps what DRF's list does (filters, ordering, page number and
size, the count, the next/previous links, the 404 for a page out of range) and changes who
writes the rows: one SQL expression per row, evaluated on the view's own filtered queryset
(the selector's), instead of a model instance, a serializer pass and a JSON encoding in
Python; and the count and the page come back from one query instead of two. It steps
aside, to DRF's own list, when the output serializer has a field SQL cannot render, when
the client asked for something other than JSON (the browsable API), or when the current
time zone is not UTC.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

import django_filters
from django.core.paginator import InvalidPage
from django.db.models import BigIntegerField, QuerySet
from django.db.models.expressions import RawSQL
from django_filters.constants import EMPTY_VALUES
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.serializers import ModelSerializer

from core import lookups, sqljson
from core.api.renderers import PreRendered, may_prerender
from core.api.strict import StrictFilterBackend, StrictOrderingFilter
from core.db import tallies

if TYPE_CHECKING:
    from rest_framework import generics, mixins

    class _ListView(mixins.ListModelMixin, generics.GenericAPIView):
        """What the mixin is mixed into (for the type checker only)."""

        filterset_class: Any  # django-filter's DjangoFilterBackend reads it
else:
    _ListView = object

# PostgreSQL's OFFSET is a bigint: a page number whose offset exceeds it is a 404, not a DataError.
OFFSET_MAX = 2**63 - 1


class SqlRenderedListMixin(_ListView):
    """For ListModelMixin viewsets with a page-number paginator and a read-only output
    serializer of plain columns. Override `sql_output_fields` for serializer fields the
    row cannot give as a column (e.g. a method field reading the selector's annotation:
    `F("verdict")`). Set
    `tally_column` when the model's table has a tally by that column (core.db.tallies),
    and `lists_every_row` to say when the request's user sees the whole table: a list
    over the whole table, or filtered only by that column, is then counted from the
    tally."""

    tally_column: str | None = None
    # Set on each concrete class by _row_document (None: SQL cannot render the rows).
    _sql_row_document: ClassVar[Any]

    def lists_every_row(self) -> bool:
        """Whether get_queryset() restricts nothing for this request's user (the
        selector's visibility rule says so): only such a list can be read off a tally."""
        return False

    def _tally_count(self, queryset, cleaned: dict[str, Any]) -> RawSQL | None:
        """The tally's count when the request filters by `tally_column` alone (`cleaned`:
        the filterset's cleaned values, django-filter's public API), else None."""
        if not self.tally_column or not self.lists_every_row():
            return None
        used = {name: value for name, value in cleaned.items() if value not in EMPTY_VALUES}
        if set(used) - {self.tally_column}:
            return None
        values = used.get(self.tally_column)
        if isinstance(values, str):
            values = [values]
        sql, params = tallies.tally_count(queryset.model, self.tally_column, values)
        return RawSQL(sql, params, output_field=BigIntegerField())  # noqa: S611 (fixed SQL of the tally)

    def visible_rows(self) -> tuple[Callable[..., QuerySet], dict[str, Any]] | None:
        """get_queryset() as (rows, values), rows(**values) being that queryset and the
        values all it takes from the request's user (the selector's visibility filter),
        so that a page can be compiled once per list shape with stand-ins for them
        (core.lookups); None (the default) to read every page through the ORM."""
        return None

    def sql_output_fields(self) -> dict[str, Any]:
        """{output field name: expression over get_queryset()'s rows} for fields that are
        not plain columns."""
        return {}

    def _row_document(self):
        cls = type(self)
        cached = cls.__dict__.get("_sql_row_document", ...)
        if cached is ...:
            serializer_class = cast("type[ModelSerializer]", self.get_serializer_class())  # a model's output
            cached = sqljson.document(serializer_class, serializer_class.Meta.model, self.sql_output_fields())
            cls._sql_row_document = cached
        return cached

    def _page_number_paginator(self) -> PageNumberPagination:
        # The views this mixin serves page by number (see the class docstring).
        return cast(PageNumberPagination, self.paginator)

    def list(self, request, *args, **kwargs):
        document = self._row_document() if self.paginator is not None else None
        if document is None or not may_prerender(request):
            return super().list(request, *args, **kwargs)
        asked = self._page_asked(request)
        rows = None
        if asked is not None:
            rows = self._compiled_page(request, document, *asked)
            if rows is None:
                rows = self._orm_page(request, self.filter_queryset(self.get_queryset()), document, *asked)
        else:  # "last", a page size of 0
            rows = self.paginate_queryset(sqljson.documents(self.filter_queryset(self.get_queryset()), document))
            if rows is None:
                return super().list(request, *args, **kwargs)
        paginator = self._page_number_paginator()
        assert paginator.page is not None  # both ways to a page above set it
        head = json.dumps(
            {
                "count": paginator.page.paginator.count,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        body = head[:-1] + ',"results":[' + ",".join(rows) + "]}"
        return Response(PreRendered(body.encode("utf-8")))

    def _page_asked(self, request) -> tuple[int, int] | None:
        """(page number, page size) of a page read in one query with its count, or None
        when the usual two queries must do ("last" needs the count first; junk gets DRF's
        own error; a page size of 0)."""
        paginator = self._page_number_paginator()
        page_size = paginator.get_page_size(request)
        raw_number = request.query_params.get(paginator.page_query_param) or 1
        try:
            number = int(raw_number)
        except (TypeError, ValueError):
            return None
        if not page_size or number < 1:
            return None
        if (number - 1) * page_size > OFFSET_MAX:  # past any table's end, and past what OFFSET holds
            raise NotFound(
                paginator.invalid_page_message.format(page_number=number, message="That page contains no results")
            )
        return number, page_size

    def _orm_page(self, request, queryset, document, number: int, page_size: int) -> builtins.list[str]:
        """The page of the filtered `queryset` and its count in one query
        (sqljson.counted_page), built and compiled by the ORM for this request."""
        cleaned = self._cleaned_filters(request, queryset)
        count = None if cleaned is None else self._tally_count(queryset, cleaned)
        offset = (number - 1) * page_size
        total, rows = sqljson.counted_page(queryset, document, offset, page_size, count=count)
        return self._checked_page(request, queryset, number, page_size, total, rows)

    def _cleaned_filters(self, request, queryset) -> dict[str, Any] | None:
        if self.filterset_class is None:
            return None
        filterset = self.filterset_class(request.query_params, queryset=queryset, request=request)
        return filterset.form.cleaned_data if filterset.is_valid() else None

    def _compiled_page(self, request, document, number: int, page_size: int) -> builtins.list[str] | None:
        """The page and its count from the statement compiled once for this list's shape
        (core.lookups.page_statement): the same queryset as _orm_page's, built from the
        selector's rows, the filterset's filters and the ordering backend's order, with
        stand-ins for the user's and the filters' values. None when this list cannot be
        read that way (another filter backend, a filter whose value shapes the SQL, a
        count from the tally): the caller then goes through the ORM."""
        visible = self.visible_rows()
        if visible is None or tuple(self.filter_backends) != (StrictFilterBackend, StrictOrderingFilter):
            return None
        make_rows, user_values = visible
        base = make_rows(**user_values)
        filterset = StrictFilterBackend().valid_filterset(request, base, self)  # a 400 for bad filters
        ordering = tuple(StrictOrderingFilter().get_ordering(request, base, self) or ())
        cleaned = {} if filterset is None else filterset.form.cleaned_data
        if self._tally_count(base, cleaned) is not None:
            return None
        shape = _filter_shape(filterset, cleaned) if filterset is not None else ((), {})
        if shape is None:
            return None
        filter_key, filter_values = shape
        offset = (number - 1) * page_size

        def build(**stand_ins) -> QuerySet:
            queryset = make_rows(**{name: stand_ins[name] for name in user_values})
            if filterset is not None:
                filterset.form.cleaned_data = _with_stand_ins(cleaned, stand_ins)
                queryset = filterset.filter_queryset(queryset)
            if ordering:
                queryset = queryset.order_by(*ordering)
            return sqljson.counted_page_rows(queryset, document, offset, page_size)

        key = (type(self), tuple(sorted(user_values)), filter_key, ordering, offset, page_size)
        statement = lookups.page_statement(key, build, {**user_values, **filter_values})
        if statement is None:
            return None
        total, rows = sqljson.count_and_texts(statement.rows(**user_values, **filter_values), offset)
        return self._checked_page(request, base, number, page_size, total, rows)

    def _checked_page(self, request, queryset, number, page_size, total, rows) -> builtins.list[str]:
        """`rows` as DRF's page `number`: the page number is validated against the count
        exactly as DRF does, with the same 404."""
        paginator = self._page_number_paginator()
        django_paginator = paginator.django_paginator_class(queryset, page_size)
        # A cached_property: the COUNT is not run again. No count (an empty page past the
        # first) is out of range whatever the count: 0 gives Django's message for it.
        django_paginator.count = total or 0
        paginator.request = request
        try:
            paginator.page = django_paginator.page(number)
        except InvalidPage as exc:
            raise NotFound(paginator.invalid_page_message.format(page_number=number, message=str(exc))) from None
        return rows


# Filters whose value only ever becomes a parameter of the SQL, never its shape.
_PLAIN_FILTERS = (django_filters.Filter.filter, django_filters.MultipleChoiceFilter.filter)


def _filter_shape(filterset, cleaned: dict[str, Any]) -> tuple[tuple, dict[str, Any]] | None:
    """(what of the filters' values shapes the SQL, {stand-in name: value}) for a compiled
    page, or None when a filter's value could shape it beyond that: a filter with its own
    method or filter(), or a value that is not a single id, text or date-time (or a
    list of texts)."""
    key: builtins.list[tuple] = []
    values: dict[str, Any] = {}
    for name, value in cleaned.items():
        if value in EMPTY_VALUES:
            key.append((name, None))
            continue
        filter_ = filterset.filters[name]
        if filter_.method is not None or type(filter_).filter not in _PLAIN_FILTERS:
            return None
        if isinstance(value, builtins.list):
            distinct = builtins.list(dict.fromkeys(value))  # MultipleChoiceFilter filters by set(value)
            if getattr(filter_, "null_value", None) in distinct or not all(type(v) is str for v in distinct):
                return None
            values.update({f"{name}[{index}]": item for index, item in enumerate(distinct)})
            key.append((name, len(distinct)))
        elif lookups.stand_in_for(value) is not None:
            values[name] = value
            key.append((name, type(value).__name__))
        else:
            return None
    return tuple(key), values


def _with_stand_ins(cleaned: dict[str, Any], stand_ins: dict[str, Any]) -> dict[str, Any]:
    """`cleaned` with each value _filter_shape named replaced by its stand-in."""
    replaced = {}
    for name, value in cleaned.items():
        if name in stand_ins:
            replaced[name] = stand_ins[name]
        elif isinstance(value, builtins.list) and value:
            replaced[name] = [stand_ins[f"{name}[{index}]"] for index in range(len(dict.fromkeys(value)))]
        else:
            replaced[name] = value
    return replaced
