"""Pagination shapes of API.md: page numbers for ordinary lists, cursors for big logs."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class PagePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class LogCursorPagination(CursorPagination):
    """For append-only logs: stable under inserts, no COUNT(*) over the table."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-ts"
