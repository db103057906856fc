"""Query filters of the accounts lists (on indexed columns)."""

import django_filters
from django.utils import timezone

from accounts.models import EventStatus, Invitation, InvitationStatus, Role, SecurityAction, SecurityEvent, User
from core.filters import FilterSet


class UserFilter(FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    verified = django_filters.BooleanFilter()
    is_active = django_filters.BooleanFilter()
    is_staff = django_filters.BooleanFilter()
    locked = django_filters.BooleanFilter(method="filter_locked", label="Locked out right now")

    class Meta:
        model = User
        fields = ["role", "verified", "is_active", "is_staff", "locked"]

    def filter_locked(self, queryset, name, value):
        locked = queryset.locked(timezone.now())
        return locked if value else queryset.exclude(pk__in=locked.values("pk"))


class InvitationFilter(FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    status = django_filters.ChoiceFilter(choices=InvitationStatus.choices, method="filter_status")

    class Meta:
        model = Invitation
        fields = ["role", "status"]

    def filter_status(self, queryset, name, value):
        return queryset.with_status(value)


class SecurityEventFilter(FilterSet):
    action = django_filters.ChoiceFilter(choices=SecurityAction.choices)
    status = django_filters.ChoiceFilter(choices=EventStatus.choices)
    user = django_filters.UUIDFilter(field_name="user_id", label="Only this user's events (administrators)")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = SecurityEvent
        fields = ["action", "status", "user", "created_after", "created_before"]
