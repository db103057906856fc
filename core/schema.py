"""The OpenAPI document (/api/schema/), written for client generators and for readers.

- `OperationSchema` (the DEFAULT_SCHEMA_CLASS): every operation has its own summary and
  description. Summaries declared with extend_schema stay; the others are made from the
  action and the path. Descriptions are the handler's or the view's own docstring (never
  one inherited from a shared mixin), after a first line naming the operation, and for
  lists the filters and the ordering fields.
- `tidy_schema` (a post-processing hook): boolean filters are booleans, each parameter is
  declared once, JSON object fields are objects, and each operation lists the error
  responses it can give (400/401/403/404/409/429 and 503, all the error envelope)
  instead of one catch-all 4XX.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

_OWN_CODE = re.compile(r"^(accounts|audits|experiments|production|projects|providers|quarantine)\.")
_ACTION_VERBS = {
    "list": "List",
    "create": "Create",
    "retrieve": "Get",
    "update": "Replace",
    "partial_update": "Update",
    "destroy": "Delete",
}
BOOLEAN_CHOICES = {"true", "True", "1", "false", "False", "0"}
# JSON columns that always hold an object (the others, e.g. a task's result, any value).
JSON_OBJECT_FIELDS = {"settings", "config", "model_config", "payload", "evidence", "metrics", "details"}


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "core.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Access token from POST /api/v1/auth/login (15 minutes; renew with /auth/refresh).",
        }


def _own_doc(obj) -> str:
    """The docstring `obj` (a view class or a handler) has in this project's apps, or ""."""
    if inspect.isclass(obj):
        for cls in obj.__mro__:
            doc = cls.__dict__.get("__doc__")
            if doc and _OWN_CODE.match(cls.__module__):
                return inspect.cleandoc(doc)
        return ""
    func = getattr(obj, "__func__", obj)
    if func is None or not _OWN_CODE.match(getattr(func, "__module__", "") or ""):
        return ""
    return inspect.cleandoc(func.__doc__) if func.__doc__ else ""


class OperationSchema(AutoSchema):
    def _action(self) -> str | None:
        return getattr(self.view, "action", None)

    def _resource(self) -> str:
        """The path's last literal segment before the operation's own (projects, baselines)."""
        segments = [s for s in self.path.strip("/").split("/") if s and not s.startswith("{")]
        action = self._action()
        if action and action not in _ACTION_VERBS and len(segments) > 1 and segments[-1] == action.replace("_", "-"):
            segments = segments[:-1]
        return (segments[-1] if segments else "resource").replace("-", " ")

    def get_summary(self):
        declared = super().get_summary()
        if declared:
            return declared
        action = self._action()
        resource = self._resource()
        if action in _ACTION_VERBS:
            verb = _ACTION_VERBS[action]
            one = "" if action in ("list", "create") else " (one)"
            return f"{verb} {resource}{one}"
        if action:
            return f"{action.replace('_', ' ').capitalize()} ({resource})"
        return f"{self.method.capitalize()} {resource}"

    def get_description(self) -> str:  # type: ignore[override]  # AutoSchema drops DRF's (path, method) too
        declared = super().get_description()  # extend_schema(description=...) or the default
        if declared == AutoSchema.get_description(self):  # the default: may be a mixin's docstring
            handler = getattr(self.view, self._action() or self.method.lower(), None)
            declared = _own_doc(handler) or _own_doc(type(self.view))
        lines = [f"`{self.method} {self.path}`: {self.get_summary().rstrip('.')}."]
        if declared:
            lines.append(declared)
        if self._action() == "list" or (self.method == "GET" and not self._is_detail()):
            lines.extend(self._list_notes())
        return "\n\n".join(lines)

    def _is_detail(self) -> bool:
        return "{" in self.path

    def _list_notes(self) -> list[str]:
        notes = []
        ordering = getattr(self.view, "ordering_fields", None)
        if ordering:
            notes.append("Ordering fields (`ordering`, `-` for descending): " + ", ".join(ordering) + ".")
        return notes


ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code (e.g. validation_error)."},
                "message": {"type": "string", "description": "For people."},
                "details": {
                    "type": "object",
                    "additionalProperties": {},
                    "description": "Per-field messages for validation errors, else context.",
                },
            },
        }
    },
}

ERRORS = {
    "400": "Invalid input: the body, a query parameter or a value (details name each field).",
    "401": "Not authenticated: no valid access token or session.",
    "403": "Authenticated but not allowed.",
    "404": "Not found, or not visible to you.",
    "409": "Conflicts with the current state (a transition, a duplicate, an archived project).",
    "423": "The account is locked after too many failed attempts; retry after Retry-After.",
    "429": "Throttled or over quota; retry after Retry-After.",
    "503": "Database unavailable; retry after Retry-After.",
}


def _needs_auth(operation) -> bool:
    security = operation.get("security")
    return bool(security) and {} not in security


def _error_codes(path: str, method: str, operation) -> list[str]:
    codes = []
    if method in ("post", "put", "patch") or any(p.get("in") == "query" for p in operation.get("parameters", [])):
        codes.append("400")
    codes.append("401")  # also where no login is needed: a token that is sent must be valid
    if _needs_auth(operation) or method != "get":
        codes.append("403")
    if "{" in path or method == "get":  # a page number past the last page is a 404 too
        codes.append("404")
    if method in ("post", "put", "patch", "delete"):
        codes.append("409")
    if path.startswith("/api/v1/auth/") and method == "post":
        codes.append("423")
    return [*codes, "429", "503"]


def _tidy_parameters(path: str, operation) -> None:
    seen, kept = set(), []
    for parameter in operation.get("parameters", []):
        key = (parameter.get("in"), parameter.get("name"))
        if key in seen or (key[0] == "path" and "{" + key[1] + "}" not in path):
            continue
        seen.add(key)
        schema = parameter.get("schema") or {}
        if set(schema.get("enum") or ()) and set(schema["enum"]) <= BOOLEAN_CHOICES:
            parameter["schema"] = {"type": "boolean"}
            if parameter.get("description", "").startswith("*"):
                parameter.pop("description")  # the enum's list of values: gone with the enum
        kept.append(parameter)
    if "parameters" in operation:
        operation["parameters"] = kept


def _tidy_components(schemas: dict) -> None:
    # A description several components share is a base class's docstring, not theirs.
    shared = Counter(c.get("description") for c in schemas.values() if c.get("description"))
    for component in schemas.values():
        if shared.get(component.get("description"), 0) > 2:
            component.pop("description")
        for name, prop in (component.get("properties") or {}).items():
            if str(prop.get("description", "")).startswith("Deprecated"):
                prop["deprecated"] = True
            if name in JSON_OBJECT_FIELDS and "type" not in prop and "$ref" not in prop and "allOf" not in prop:
                prop.update({"type": "object", "additionalProperties": {}})


def tidy_schema(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ERROR_ENVELOPE
    _tidy_components(schemas)
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            _tidy_parameters(path, operation)
            responses = operation.setdefault("responses", {})
            responses.pop("4XX", None)
            for code in _error_codes(path, method, operation):
                responses.setdefault(code, {"description": ERRORS[code], **error})
    return result


# The name the settings used before; kept so an older settings file still loads.
add_error_responses = tidy_schema
