"""OPTIONS describes what a client may send.

DRF's SimpleMetadata describes POST and PUT with the view's `get_serializer()`, which
here is the output serializer (every field read-only), and leaves PATCH out. The
request bodies are declared once, for the OpenAPI document (`extend_schema(request=…)`
on each handler); this reads the same declaration, so OPTIONS and /api/schema/ agree.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import clone_request

from core.exceptions import DomainError

BODY_METHODS = ("POST", "PUT", "PATCH")


def request_serializer(view, method: str):
    """The serializer instance documented as `method`'s request body, or None."""
    handler = getattr(view, method.lower(), None)
    schema_class = getattr(handler, "kwargs", {}).get("schema") if handler is not None else None
    if schema_class is not None:
        schema = schema_class()
        schema.view = view
    else:
        schema = view.schema  # a descriptor: bound to this view
    schema.method = method
    declared = schema.get_request_serializer()
    if isinstance(declared, type) and issubclass(declared, serializers.BaseSerializer):
        return declared()
    if isinstance(declared, serializers.BaseSerializer):
        return declared
    return None


class RequestBodyMetadata(SimpleMetadata):
    def determine_actions(self, request, view):
        actions = {}
        for method in BODY_METHODS:
            if method not in view.allowed_methods:
                continue
            view.request = clone_request(request, method)
            try:
                view.check_permissions(view.request)
                if method != "POST" and hasattr(view, "get_object") and "pk" in view.kwargs:
                    view.get_object()
                serializer = request_serializer(view, method)
            except (exceptions.APIException, DomainError, DjangoPermissionDenied, Http404):
                continue
            finally:
                view.request = request
            if serializer is not None:
                actions[method] = self.get_serializer_info(serializer)
        return actions
