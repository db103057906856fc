"""Two answers every API path gives the same way.

- A path under /api/ that matches no route answers the error envelope's 404, in every
  mode: with DEBUG on, Django would otherwise show its HTML "technical" 404 page (its
  handler404 is not used then), so a catch-all route answers instead.
- Every 201 carries a `Location` header: the URL of what was created. By default the
  collection's URL plus the new id, when that URL has a GET; a view whose new object
  lives elsewhere says where with `created_location`, a format string over the new
  object's fields and the URL's keyword arguments ("/api/v1/evaluations/{id}/").
"""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # no state changes; a POST to a wrong path is a 404, not a CSRF 403
def api_not_found(request, *args, **kwargs):
    return JsonResponse({"error": {"code": "not_found", "message": "Not found.", "details": {}}}, status=404)


def _has_get(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    if match.func is api_not_found:
        return False
    actions = getattr(match.func, "actions", None)
    if actions is not None:
        return "get" in actions
    view_class = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    return view_class is not None and hasattr(view_class, "get")


def created_location(request, data) -> str | None:
    if not isinstance(data, dict):
        return None
    match = request.resolver_match
    view_class = getattr(match.func, "cls", None) if match is not None else None
    template = getattr(view_class, "created_location", None)
    if template:
        try:
            return template.format(**match.kwargs, **data)
        except (KeyError, IndexError, AttributeError):
            return None
    if data.get("id") is None:
        return None
    candidate = f"{request.path.rstrip('/')}/{data['id']}/"
    return candidate if _has_get(candidate) else None


class CreatedLocationMiddleware:
    """Adds `Location` to API responses with status 201 that have none."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 201 and "Location" not in response and request.path.startswith("/api/"):
            location = created_location(request, getattr(response, "data", None))
            if location:
                response["Location"] = request.build_absolute_uri(location)
        return response
