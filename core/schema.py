"""OpenAPI description of our Bearer authentication (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "core.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Access token from POST /api/v1/auth/login (15 minutes; renew with /auth/refresh).",
        }


ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code (API.md)."},
                "message": {"type": "string", "description": "For people."},
                "details": {"type": "object", "description": "Per-field messages for validation errors, else context."},
            },
        }
    },
}


def add_error_responses(result, generator, request, public):
    """Every operation can answer with the error envelope (4XX, and 503 when the database
    is unavailable): document it once, so clients and schema-driven tests know its shape."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ERROR_ENVELOPE
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    error = {"content": {"application/json": {"schema": ref}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("4XX", {"description": "Client error (the error envelope).", **error})
            responses.setdefault("503", {"description": "Database unavailable; retry after Retry-After.", **error})
    return result
