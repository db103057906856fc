"""List filtering: filter fields that refuse what they do not understand (a 400), where
django-filter's defaults would silently ignore it, and the FilterSet base every list
endpoint's filters derive from (django-filter without its per-request rebuilding, with
dates bounded to the calendar every layer below can convert)."""

import copy
from datetime import date
from typing import Any

import django_filters
from django import forms
from django.http import QueryDict
from django_filters.filters import QuerySetRequestMixin

from core.json_types import OUT_OF_RANGE, date_out_of_range

_TRUE = ("true", "True", "1")
_FALSE = ("false", "False", "0")


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """?flag=true|false (or 1|0); anything else is a 400 validation_error."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [(v, v) for v in (*_TRUE, *_FALSE)])
        kwargs.setdefault("coerce", lambda value: value in _TRUE)
        super().__init__(*args, **kwargs)


class CalendarBoundedForm(forms.Form):
    """A filter form whose date and date-time values lie within core.json_types' bounds:
    9999-12-31T23:00:00-05:00 parses, but converting it to UTC for the query overflows
    (a 500); here it is a 400 naming the parameter."""

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns; a subclass's may return None
        for name, value in list(cleaned.items()):
            if isinstance(value, slice):  # a range filter: ?<name>_after=…&<name>_before=…
                suffixes = getattr(self.fields[name].widget, "suffixes", ("min", "max"))
                for suffix, bound in zip(suffixes, (value.start, value.stop), strict=False):
                    if isinstance(bound, date) and date_out_of_range(bound):
                        self.add_error(name, f"{name}_{suffix}: {OUT_OF_RANGE}")
            elif isinstance(value, date) and date_out_of_range(value):
                self.add_error(name, OUT_OF_RANGE)
        return cleaned


def _form_bases(form_class) -> tuple:
    return (form_class,) if issubclass(form_class, CalendarBoundedForm) else (CalendarBoundedForm, form_class)


def _per_request(base):
    """A filter object of the request's own. A shallow copy, except that a `method=`
    filter's FilterMethod is rebound to the copy (it holds the filter it belongs to, and
    reaches the FilterSet through that filter's parent); filters that write per-request
    state into their `extra` (QuerySetRequestMixin) are deep-copied as django-filter does."""
    if isinstance(base, QuerySetRequestMixin):
        return copy.deepcopy(base)
    filter_ = copy.copy(base)
    if filter_.method is not None:
        filter_.method = filter_.method
    return filter_


def _form_field(base, model):
    """The form field a request's copy of `base` would make. Built on a copy: declared
    filters are shared by every FilterSet class that inherits them (with other models),
    and whatever field another reader cached on them (drf-spectacular reads the declared
    filters) must not decide this class's labels."""
    probe = copy.copy(base)
    probe.__dict__.pop("_field", None)
    probe.model = model
    return probe.field


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet without its per-request rebuilding.

    For every request django-filter deep-copies all of the set's filters, builds a form
    field for each, and creates a new Form class from them (a metaclass run), before the
    form itself deep-copies those fields once more. The Form class depends only on the
    set's declared filters, so it is built once per FilterSet class here; each request
    still gets its own filter objects (shallow copies: they carry the request's
    FilterSet as `parent`, which `method=` filters call back into) and its own form
    instance (Django copies the form's fields per instance, as always). Filters whose
    form field depends on the request (django-filter's QuerySetRequestMixin, e.g.
    ModelChoiceFilter with a callable queryset) keep the per-request form class.
    """

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: _per_request(base) for name, base in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self

    @classmethod
    def _static_form_class(cls):
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            fields = {name: _form_field(base, cls._meta.model) for name, base in cls.base_filters.items()}
            form_class = type(f"{cls.__name__}Form", _form_bases(cls._meta.form), fields)
            cls._form_class = form_class  # a benign race: two threads build equal classes
        return form_class

    def get_form_class(self):
        if any(isinstance(f, QuerySetRequestMixin) for f in self.base_filters.values()):
            fields = {name: filter_.field for name, filter_ in self.filters.items()}
            return type(f"{type(self).__name__}Form", _form_bases(self._meta.form), fields)
        return self._static_form_class()
