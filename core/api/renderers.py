"""The API's JSON renderer: DRF's, plus bodies the view already rendered (core.api.lists)."""

from rest_framework import renderers

from core import sqljson


class PreRendered:
    """A response body that is JSON already (UTF-8 bytes): written out as it is."""

    __slots__ = ("body",)

    def __init__(self, body: bytes):
        self.body = body


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, PreRendered):
            return data.body
        return super().render(data, accepted_media_type, renderer_context)


def may_prerender(request) -> bool:
    """Whether a view may answer with JSON that PostgreSQL rendered (core.sqljson): the
    client negotiated this JSON renderer (not the browsable API) and date-times are
    written in UTC."""
    return type(request.accepted_renderer) is JSONRenderer and sqljson.renders_in_sql()
