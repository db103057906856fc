"""API routes grouped by first segment (core.urls): the same route wins for every path as
with the flat list, the API's list is fully grouped, and anything unusual falls back."""

import re
import uuid

import pytest
from django.urls import URLResolver, get_resolver, path, re_path
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern

from config import api_urls
from core.urls import FirstSegment, _flattened, first_segment, grouped_by_first_segment


def _view(request):  # pragma: no cover - never called, only resolved
    raise AssertionError


def _flat_api():
    from django.urls import include

    return list(
        _flattened(
            [
                path("", include(f"{app}.api.urls"))
                for app in ("accounts", "audits", "projects", "experiments", "quarantine", "providers", "production")
            ]
        )
    )


def _sample_paths(entry) -> list[str]:
    """Paths the route matches (its regex with every group filled in), with and without a slash."""
    text = str(entry.pattern).lstrip("^")
    text = re.sub(r"\(\?P<\w+>[^)]*\)", str(uuid.UUID(int=7)), text)
    base = text.replace("/?$", "").replace("$", "")
    return [base, base + "/"] if text.endswith("/?$") else [base]


def test_the_api_routes_are_all_grouped():
    assert api_urls.urlpatterns, "no API routes"
    assert all(isinstance(e, URLResolver) and isinstance(e.pattern, FirstSegment) for e in api_urls.urlpatterns)
    segments = [e.pattern.segment for e in api_urls.urlpatterns]
    assert len(segments) == len(set(segments))
    assert {"auth", "experiments", "analysis-sessions", "me", "audit-log"} <= set(segments)


def test_every_api_path_resolves_as_with_the_flat_list():
    flat_routes = _flat_api()
    flat = URLResolver(RegexPattern(r"^"), flat_routes)
    grouped = URLResolver(RegexPattern(r"^"), grouped_by_first_segment(flat_routes))
    checked = 0
    for entry in flat_routes:
        for sample in _sample_paths(entry):
            want, got = flat.resolve(sample), grouped.resolve(sample)
            assert (got.func, got.args, got.kwargs, got.url_name) == (want.func, want.args, want.kwargs, want.url_name)
            checked += 1
    assert checked > 150
    for missing in ("auth/nope", "analysis-sessionsx/", "nothing", ""):
        with pytest.raises(Resolver404):
            grouped.resolve(missing)


def test_resolving_and_reversing_through_django():
    session = uuid.uuid4()
    match = get_resolver().resolve(f"/api/v1/analysis-sessions/{session}/")
    assert match.url_name == "analysis-session-detail" and match.kwargs == {"pk": str(session)}
    from django.urls import reverse

    # Reversing is untouched (the optional slash reverses to none, as before).
    assert reverse("analysis-session-detail", args=[session]) == f"/api/v1/analysis-sessions/{session}"
    assert reverse("auth-me") == "/api/v1/auth/me"


def test_a_segment_matches_whole_segments_only():
    me = FirstSegment("me")
    assert me.match("me") == ("me", (), {})
    assert me.match("me/quota") == ("me/quota", (), {})
    assert me.match("metrics/x") is None


@pytest.mark.parametrize(
    "unusual",
    [
        re_path(r"^(?P<anything>[^/]+)/x$", _view),  # the first segment is a variable
        re_path(r"^users\.(?P<format>json)$", _view),  # a literal that does not end the segment
        path("<str:name>/x", _view),
        re_path(r"^users/?(?P<rest>[a-z]+)$", _view),  # matches "usersabc": the "/" is optional
        re_path(r"^users/$|^admins/$", _view),  # an alternation spans first segments
    ],
)
def test_a_route_without_a_literal_first_segment_keeps_the_flat_list(unusual):
    routes = [re_path(r"^users/?$", _view), unusual]
    assert first_segment(unusual) is None
    assert grouped_by_first_segment(routes) == routes
