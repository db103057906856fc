"""Guards in front of the API: oversized bodies and NUL bytes in the query string are
refused with the error envelope before any view runs; a database outage inside a non-DRF
view under /api/ or /healthz becomes a 503 envelope instead of an HTML 500."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

logger = logging.getLogger("tristate.api")


def _error(code: str, message: str, status: int) -> JsonResponse:
    from core.api.errors import error_body

    return JsonResponse(error_body(code, message, None), status=status)


class ApiGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return _error("bad_request", "Content-Length is not a number.", 400)
            if length > settings.API_MAX_BODY_BYTES:
                return _error(
                    "request_too_large",
                    f"Request body is larger than {settings.API_MAX_BODY_BYTES} bytes.",
                    400,
                )
            if "%00" in request.META.get("QUERY_STRING", "") or "\x00" in request.path:
                return _error("validation_error", "NUL characters are not allowed in the URL.", 400)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError | InterfaceError) and (
            request.path.startswith("/api/") or request.path == "/healthz"
        ):
            logger.error("database unavailable: %s", exception.__class__.__name__)
            response = _error("service_unavailable", "The database is unavailable; retry shortly.", 503)
            response["Retry-After"] = "5"
            return response
        return None
