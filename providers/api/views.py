"""Providers API (API.md, Providers): thin views over providers.selectors and
providers.services."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.types import SignedInRequest
from core.db.replica_views import ReplicaReadMixin
from core.exceptions import PermissionDenied
from core.filters import FilterSet
from core.permissions import AdminOnly, AdminWritesOthersRead, WritersOnly, is_admin
from providers import selectors, services
from providers.api import serializers as s
from providers.models import AlertType, CostAlert, Provider, ProviderType, UsageTracking, UserProvider, UserQuota

_WRITE_METHODS = ["get", "post", "patch", "delete", "head", "options"]


# --- Catalog ---------------------------------------------------------------------------


class ProviderFilter(FilterSet):
    provider_type = django_filters.ChoiceFilter(choices=ProviderType.choices)

    class Meta:
        model = Provider
        fields = ["provider_type", "is_active", "is_platform_provided"]


@extend_schema_view(
    list=extend_schema(summary="The provider catalog, with each entry's current health"),
    retrieve=extend_schema(summary="One catalog entry with its health"),
)
class ProviderViewSet(ReplicaReadMixin, viewsets.ModelViewSet):
    permission_classes = [AdminWritesOthersRead]
    serializer_class = s.ProviderOutput
    filterset_class = ProviderFilter
    ordering_fields = ["name", "provider_type", "cost_per_1k_tokens", "created_at"]
    ordering = ["name"]
    http_method_names = _WRITE_METHODS

    def get_queryset(self):
        return selectors.provider_list()

    @extend_schema(request=s.ProviderInput, responses={201: s.ProviderOutput}, summary="Add a catalog entry (admin)")
    def create(self, request, *args, **kwargs):
        data = s.ProviderInput(data=request.data)
        data.is_valid(raise_exception=True)
        provider = services.provider_create(actor=request.user, **data.validated_data)
        return Response(s.ProviderOutput(provider).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ProviderInput, responses={200: s.ProviderOutput}, summary="Change a catalog entry (admin)")
    def partial_update(self, request, *args, **kwargs):
        provider = self.get_object()
        data = s.ProviderInput(provider, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        provider = services.provider_update(provider=provider, actor=request.user, **data.validated_data)
        return Response(s.ProviderOutput(selectors.provider_list().get(pk=provider.pk)).data)

    @extend_schema(summary="Delete a catalog entry without usage (admin); deactivate it otherwise")
    def destroy(self, request, *args, **kwargs):
        services.provider_delete(provider=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- My keys ---------------------------------------------------------------------------


class MyProviderViewSet(viewsets.ModelViewSet):
    """The current user's own API keys. Only the last four characters ever come back."""

    request: SignedInRequest
    permission_classes = [WritersOnly]
    serializer_class = s.UserProviderOutput
    filterset_fields = ["provider_type", "is_active"]
    ordering_fields = ["provider_type", "created_at", "updated_at"]
    ordering = ["provider_type"]
    http_method_names = _WRITE_METHODS

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return UserProvider.objects.none()
        return selectors.user_provider_list(user=self.request.user)

    @extend_schema(request=s.UserProviderCreateInput, responses={201: s.UserProviderOutput}, summary="Store a key")
    def create(self, request, *args, **kwargs):
        data = s.UserProviderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.provider_key_create(user=request.user, actor=request.user, **data.validated_data)
        return Response(s.UserProviderOutput(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.UserProviderUpdateInput,
        responses={200: s.UserProviderOutput},
        summary="Activate/deactivate, rename, or replace the key",
    )
    def partial_update(self, request, *args, **kwargs):
        row = self.get_object()
        data = s.UserProviderUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.provider_key_update(user_provider=row, actor=request.user, **data.validated_data)
        return Response(s.UserProviderOutput(row).data)

    @extend_schema(summary="Delete a stored key")
    def destroy(self, request, *args, **kwargs):
        services.provider_key_delete(user_provider=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Quota -----------------------------------------------------------------------------


class MyQuotaView(APIView):
    permission_classes = [WritersOnly]

    @extend_schema(
        responses={200: s.QuotaStatusOutput},
        summary="My limits, today's and this month's use, percent used, reset times",
        tags=["providers"],
    )
    def get(self, request):
        return Response(s.quota_status_data(selectors.usage_totals(user=request.user)))


class QuotaFilter(FilterSet):
    class Meta:
        model = UserQuota
        fields = ["user"]


class QuotaViewSet(viewsets.ModelViewSet):
    """Users' quotas (admin). POST sets a user's limits (creates or replaces: 201 or 200);
    a null limit means the platform default; DELETE returns the user to the defaults."""

    permission_classes = [AdminOnly]
    serializer_class = s.QuotaOutput
    filterset_class = QuotaFilter
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["-updated_at"]
    http_method_names = _WRITE_METHODS

    def get_queryset(self):
        return selectors.quota_list()

    @extend_schema(request=s.QuotaSetInput, responses={200: s.QuotaOutput, 201: s.QuotaOutput})
    def create(self, request, *args, **kwargs):
        data = s.QuotaSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        user = values.pop("user")
        quota, created = services.quota_set(user=user, actor=request.user, **values)
        return Response(
            s.QuotaOutput(selectors.quota_list().get(pk=quota.pk)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=s.QuotaLimitsInput, responses={200: s.QuotaOutput})
    def partial_update(self, request, *args, **kwargs):
        quota = self.get_object()
        data = s.QuotaLimitsInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        quota = services.quota_update(quota=quota, actor=request.user, **data.validated_data)
        return Response(s.QuotaOutput(selectors.quota_list().get(pk=quota.pk)).data)

    def destroy(self, request, *args, **kwargs):
        services.quota_delete(quota=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Usage -----------------------------------------------------------------------------


class UsageFilter(FilterSet):
    date = django_filters.DateFromToRangeFilter(
        help_text="date_after / date_before: an inclusive range of days (QUOTA_TIMEZONE)."
    )

    class Meta:
        model = UsageTracking
        fields = ["date", "provider", "model", "user"]


class UsageViewSet(ReplicaReadMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    created_location = "/api/v1/usage/{usage[id]}/"  # the day's row the record added to
    request: SignedInRequest
    permission_classes = [WritersOnly]
    serializer_class = s.UsageRowOutput
    filterset_class = UsageFilter
    ordering_fields = ["date", "cost_usd", "requests_count", "id"]
    ordering = ["-date", "-id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return UsageTracking.objects.none()
        return selectors.usage_list(user=self.request.user)

    @extend_schema(
        request=s.UsageInput,
        responses={201: s.UsageRecordOutput},
        summary="Record usage (quota-checked): 201 with running totals, 429 quota_exceeded with Retry-After",
    )
    def create(self, request, *args, **kwargs):
        named = request.data.get("user") if isinstance(request.data, dict) else None
        if named not in (None, "", str(request.user.pk)) and not is_admin(request.user):
            # Before validation, so a user cannot probe which user ids exist.
            raise PermissionDenied("Only administrators may record usage for another user.")
        data = s.UsageInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        user = values.pop("user", None) or request.user
        result = services.usage_record(user=user, actor=request.user, **values)
        return Response(s.usage_record_data(result), status=status.HTTP_201_CREATED)


# --- Cost alerts -----------------------------------------------------------------------


class CostAlertFilter(FilterSet):
    alert_type = django_filters.ChoiceFilter(choices=AlertType.choices)

    class Meta:
        model = CostAlert
        fields = ["alert_type", "acknowledged", "period_start", "user"]


class CostAlertViewSet(ReplicaReadMixin, viewsets.ReadOnlyModelViewSet):
    request: SignedInRequest
    permission_classes = [WritersOnly]
    serializer_class = s.CostAlertOutput
    filterset_class = CostAlertFilter
    ordering_fields = ["triggered_at", "period_start"]
    ordering = ["-triggered_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CostAlert.objects.none()
        return selectors.cost_alert_list(user=self.request.user)

    @extend_schema(request=None, responses={200: s.CostAlertOutput}, summary="Acknowledge an alert (idempotent)")
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = services.cost_alert_acknowledge(alert=self.get_object(), actor=request.user)
        return Response(s.CostAlertOutput(alert).data)
