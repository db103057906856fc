"""One exception handler for the whole API: every error, whatever raised it, leaves as
`{"error": {"code", "message", "details"}}` (API.md). Never a stack trace, never HTML."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from psycopg.errors import QueryCanceled
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.exceptions import DomainError
from core.observability.context import current_request_id
from core.observability.domain import api_error

logger = logging.getLogger("tristate.api")

# DRF exception class → our stable machine code.
_DRF_CODES = {
    drf.ParseError: "parse_error",
    drf.AuthenticationFailed: "not_authenticated",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
    drf.ValidationError: "validation_error",
}


def error_body(code: str, message: str, details=None) -> dict:
    """The envelope. request_id repeats the response's X-Request-ID (API.md); every
    envelope is also counted by code (core.observability.domain: quota rejections, ...)."""
    api_error(code, details)
    return {"error": {"code": code, "message": message, "details": details or {}, "request_id": current_request_id()}}


def envelope(code: str, message: str, details=None, status: int = 400, headers=None) -> Response:
    return Response(error_body(code, message, details), status=status, headers=headers)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _as_details(detail):
    """DRF details (ErrorDetail trees) as plain JSON: {"field": ["message", ...]}."""
    if isinstance(detail, dict):
        return {str(k): _as_details(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_as_details(v) for v in detail]
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        set_rollback()
        return envelope(exc.code, exc.message, exc.details, exc.status_code, exc.headers)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, SuspiciousOperation):
        set_rollback()
        return envelope("bad_request", "The request was refused as malformed or too large.", status=400)
    elif isinstance(exc, DataError):
        # Safety net: a value PostgreSQL refuses (out of range, bad encoding) is the
        # client's input, not our fault. Services validate first; this keeps it a 400.
        set_rollback()
        logger.warning("DataError reached the API layer: %s", str(exc).split("\n", 1)[0][:200])
        return envelope("validation_error", "A value is out of range or not storable.", status=400)
    elif isinstance(exc, OperationalError | InterfaceError):
        # Database down, restarting, or a statement/lock timeout: retryable, not a bug.
        set_rollback()
        # The first line only: PostgreSQL's DETAIL lines may quote row values.
        logger.error("database unavailable: %s: %s", exc.__class__.__name__, str(exc).split("\n", 1)[0][:200])
        message = (
            "The request ran past the database's statement timeout; narrow it (a shorter time window) or retry."
            if isinstance(exc.__cause__, QueryCanceled)
            else "The database is unavailable; retry shortly."
        )
        return envelope("service_unavailable", message, status=503, headers={"Retry-After": "5"})
    elif isinstance(exc, IntegrityError):
        set_rollback()
        logger.warning("IntegrityError reached the API layer: %s", str(exc).split("\n", 1)[0][:200])
        return envelope("conflict", "The request conflicts with existing data.", status=409)

    if not isinstance(exc, drf.APIException):
        return None  # a genuine bug: Django's 500 handler (JSON under /api/) takes it

    set_rollback()
    headers = {}
    # Only NotAuthenticated/AuthenticationFailed carry auth_header, only Throttled wait.
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(int(wait))
    code = next((c for cls, c in _DRF_CODES.items() if type(exc) is cls), None)
    if code is None:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, drf.ValidationError):
        details = _as_details(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details}
        return envelope(code, "The submitted data is not valid.", details, exc.status_code, headers)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        # 401 even when no WWW-Authenticate header would be sent (DRF would answer 403).
        headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
        return envelope(code, _first_message(exc.detail), None, 401, headers)
    return envelope(code, _first_message(exc.detail), None, exc.status_code, headers)


def json_error(request, code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(code, message, None), status=status)


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error(request, "not_found", "Not found.", 404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/") or request.path == "/healthz":
        return json_error(request, "server_error", "An unexpected error occurred; it has been logged.", 500)
    from django.views.defaults import server_error

    return server_error(request)
