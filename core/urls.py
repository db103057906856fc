"""API routes grouped by their first path segment, so resolving a path tries one group.

Django resolves a path by trying every route in order. The API's routes are contributed
app by app (about 300 of them), and each app's include that fails to match raises
Resolver404 carrying the list of every route it tried: resolving a path of the last app
cost 0.2-0.3 ms per request. Grouped by first segment, a path is offered to one group
(a string comparison per group) and tried against that group's routes only.

The outcome is the same as the flat list's: a route whose pattern starts with a literal
segment can only match paths starting with that segment, and each group keeps its
routes in their original order. Routes whose first segment is not a plain literal would
break that argument; if there is any, the list is returned unchanged (and a test checks
the API's list is fully grouped).
"""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver
from django.urls.resolvers import RegexPattern, RoutePattern

_LITERAL = r"[A-Za-z0-9_-]+"
# ^segment/..., ^segment/?$ or ^segment$ (what routers and api_path produce); a "/"
# made optional by a following "?" only at the very end.
_REGEX_HEAD = re.compile(rf"^\^({_LITERAL})(/(?!\?)|/\?\$$|\$$)")
_ROUTE_HEAD = re.compile(rf"^({_LITERAL})(/|$)")


class FirstSegment(RegexPattern):
    """Matches, without consuming anything, the paths whose first segment is `segment`.
    Its regex is empty, so reversing and schema generation see the inner routes as they are."""

    def __init__(self, segment: str):
        super().__init__("", is_endpoint=False)
        self.segment = segment
        self._prefix = segment + "/"

    def match(self, path):
        if path == self.segment or path.startswith(self._prefix):
            return path, (), {}
        return None

    def check(self):
        return []

    def __str__(self):
        return ""


def _flattened(entries):
    """Routes of namespace-less includes mounted at "" are spliced in place (what
    config.api_urls does per app); anything else stays as it is."""
    for entry in entries:
        if (
            isinstance(entry, URLResolver)
            and isinstance(entry.pattern, RoutePattern)
            and str(entry.pattern) == ""
            and entry.namespace is None
            and entry.app_name is None
            and not entry.default_kwargs
        ):
            yield from _flattened(entry.url_patterns)
        else:
            yield entry


def first_segment(entry) -> str | None:
    """The literal first segment every path matched by this route starts with, or None."""
    pattern = entry.pattern
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        # An alternation may match paths of other first segments too.
        head = None if "|" in text else _REGEX_HEAD.match(text)
    elif isinstance(pattern, RoutePattern) and (isinstance(entry, URLPattern) or "/" in text):
        head = _ROUTE_HEAD.match(text)
    else:
        return None
    if head is None:
        return None
    if head.group(2) == "" and isinstance(entry, URLResolver):
        return None  # a prefix without "/" (e.g. include at "auth") also matches "authority/"
    return head.group(1)


def grouped_by_first_segment(entries) -> list:
    """The routes as one resolver per first segment (in order of first appearance), or
    the flat list unchanged when some route's first segment is not a plain literal."""
    flat = list(_flattened(entries))
    groups: dict[str, list] = {}
    for entry in flat:
        segment = first_segment(entry)
        if segment is None:
            return flat
        groups.setdefault(segment, []).append(entry)
    return [URLResolver(FirstSegment(segment), routes) for segment, routes in groups.items()]
