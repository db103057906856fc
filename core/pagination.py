"""Pagination shapes of API.md: page numbers for ordinary lists, cursors for big logs.
A `page_size` outside 1..max_page_size is a 400 (core.api.strict), not clamped."""

from rest_framework.pagination import CursorPagination, PageNumberPagination

from core.api.strict import StrictPageSize


class PagePagination(StrictPageSize, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class LogCursorPagination(StrictPageSize, CursorPagination):
    """For append-only logs: stable under inserts, no COUNT(*) over the table."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering: str | list[str] | tuple[str, ...] = "-ts"  # subclasses add a tie-breaker
