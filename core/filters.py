"""Filter fields for list endpoints that refuse what they do not understand (a 400),
where django-filter's defaults would silently ignore it."""

import django_filters

_TRUE = ("true", "True", "1")
_FALSE = ("false", "False", "0")


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """?flag=true|false (or 1|0); anything else is a 400 validation_error."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [(v, v) for v in (*_TRUE, *_FALSE)])
        kwargs.setdefault("coerce", lambda value: value in _TRUE)
        super().__init__(*args, **kwargs)
