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
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.core.paginator import InvalidPage
from django.db.models import BigIntegerField
from django.db.models.expressions import RawSQL
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.serializers import ModelSerializer

from core import sqljson
from core.api.renderers import PreRendered, may_prerender
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

    def _tally_count(self, request, queryset) -> RawSQL | None:
        """The tally's count when the request filters by `tally_column` alone (the
        filterset's cleaned values, django-filter's public API), else None."""
        if not self.tally_column or not self.lists_every_row() or self.filterset_class is None:
            return None
        filterset = self.filterset_class(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            return None
        used = {name: value for name, value in filterset.form.cleaned_data.items() if value not in (None, "", [], ())}
        if set(used) - {self.tally_column}:
            return None
        values = used.get(self.tally_column)
        if isinstance(values, str):
            values = [values]
        sql, params = tallies.tally_count(queryset.model, self.tally_column, values)
        return RawSQL(sql, params, output_field=BigIntegerField())  # noqa: S611 (fixed SQL of the tally)

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
        queryset = self.filter_queryset(self.get_queryset())
        rows = self._page_in_one_query(request, queryset, document)
        if rows is None:  # "last", a page size of 0
            rows = self.paginate_queryset(sqljson.documents(queryset, document))
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

    def _page_in_one_query(self, request, queryset, document) -> builtins.list[str] | None:
        """DRF's paginate_queryset with the count and the page read in one round trip
        (sqljson.counted_page); the page number is validated against the count exactly
        as DRF does, with the same 404. None when the usual two queries must do."""
        paginator = self._page_number_paginator()
        page_size = paginator.get_page_size(request)
        raw_number = request.query_params.get(paginator.page_query_param) or 1
        try:
            number = int(raw_number)
        except (TypeError, ValueError):
            return None  # "last" needs the count first; junk gets DRF's own error
        if not page_size or number < 1:
            return None
        if (number - 1) * page_size > OFFSET_MAX:  # past any table's end, and past what OFFSET holds
            raise NotFound(
                paginator.invalid_page_message.format(page_number=number, message="That page contains no results")
            )
        count = self._tally_count(request, queryset)
        total, rows = sqljson.counted_page(queryset, document, (number - 1) * page_size, page_size, count=count)
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
