"""URL helpers: API paths answer with or without a trailing slash (API.md writes
`/users/` and `/auth/login` alike), so POSTs never hit a redirect that drops the body."""

from django.urls import re_path
from rest_framework.routers import DefaultRouter, SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"


class OptionalSlashDefaultRouter(DefaultRouter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"


def api_path(route: str, view, name: str | None = None):
    """`api_path("auth/login", view)` matches auth/login and auth/login/.
    Django path converters are allowed: <uuid:pk>, <str:tag>, <int:pk>."""
    import re

    converters = {"uuid": r"[0-9a-fA-F-]{36}", "int": r"[0-9]+", "str": r"[^/]+", "slug": r"[-a-zA-Z0-9_]+"}

    def convert(match):
        kind, key = match.group(1), match.group(2)
        return f"(?P<{key}>{converters[kind]})"

    pattern = re.sub(r"<(\w+):(\w+)>", convert, route.strip("/"))
    return re_path(rf"^{pattern}/?$", view, name=name)
