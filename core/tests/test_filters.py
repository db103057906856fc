"""core.filters.FilterSet: the same filtering, labels and errors as django-filter's own
FilterSet, with the form class built once per FilterSet class and filters per request."""

import copy
import threading

import django_filters
import pytest
from django.http import QueryDict

from core.filters import FilterSet
from experiments.api.filters import ExperimentFilter
from production.api.filters import SessionFilter
from production.models import AnalysisSession

pytestmark = pytest.mark.django_db


def _plain_twin(cls):
    """The same declared filters on django-filter's own FilterSet (fresh copies, without
    anything core.filters cached on them)."""
    attrs = {}
    for name, declared in cls.base_filters.items():
        twin = copy.deepcopy(declared)
        twin.__dict__.pop("_field", None)
        twin.__dict__.pop("model", None)
        attrs[name] = twin
    attrs["Meta"] = type("Meta", (), {"model": cls._meta.model, "fields": list(cls.base_filters)})
    return type(f"Plain{cls.__name__}", (django_filters.FilterSet,), attrs)


@pytest.mark.parametrize("cls", [SessionFilter, ExperimentFilter])
def test_labels_fields_and_errors_match_django_filter(cls):
    ours, plain = (
        cls(QueryDict("status=bogus&project=not-a-uuid")),
        _plain_twin(cls)(QueryDict("status=bogus&project=not-a-uuid")),
    )
    assert list(ours.form.fields) == list(plain.form.fields)
    for name in ours.form.fields:
        assert type(ours.form.fields[name]) is type(plain.form.fields[name])
        assert ours.form.fields[name].label == plain.form.fields[name].label
    assert not ours.is_valid() and not plain.is_valid()
    assert ours.errors == plain.errors


def test_the_same_queryset_as_django_filter(make_user):
    data = QueryDict("status=completed&status=failed&created_after=2026-01-01T00:00:00Z")
    ours = SessionFilter(data, AnalysisSession.objects.all())
    plain = _plain_twin(SessionFilter)(data, AnalysisSession.objects.all())
    assert ours.is_valid() and plain.is_valid()
    assert str(ours.qs.query) == str(plain.qs.query)


def test_the_form_class_is_built_once_and_filters_per_request():
    first, second = SessionFilter(QueryDict()), SessionFilter(QueryDict())
    assert first.get_form_class() is second.get_form_class()
    assert first.form is not second.form
    for name in first.filters:
        assert first.filters[name] is not second.filters[name]
        assert first.filters[name].parent is first and second.filters[name].parent is second
        assert SessionFilter.base_filters[name] is not first.filters[name]


def test_method_filters_call_back_into_their_own_filterset():
    seen = []

    class Probe(FilterSet):
        tag = django_filters.CharFilter(method="by_tag")

        class Meta:
            model = AnalysisSession
            fields = ["tag"]

        def by_tag(self, queryset, name, value):
            seen.append((self, value))
            return queryset

    def run(value):
        f = Probe(QueryDict(f"tag={value}"), AnalysisSession.objects.none())
        assert f.is_valid()
        f.qs
        return f

    filtersets = {}
    threads = [threading.Thread(target=lambda v=v: filtersets.__setitem__(v, run(v))) for v in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen, key=lambda s: s[1]) == [(filtersets[v], v) for v in ("a", "b", "c")]


def test_a_request_dependent_field_keeps_a_form_class_per_request():
    class ByRequest(FilterSet):
        session = django_filters.ModelChoiceFilter(queryset=lambda request: AnalysisSession.objects.none())

        class Meta:
            model = AnalysisSession
            fields = ["session"]

    assert ByRequest(QueryDict()).get_form_class() is not ByRequest(QueryDict()).get_form_class()
