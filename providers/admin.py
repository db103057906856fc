"""Admin console for providers. Every change goes through providers.services (so it is
validated and audited); stored keys are never rendered, only their last four characters."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.utils.html import format_html

from core.admin_tools import BigTableAdmin, ReadOnlyAdmin
from providers import services
from providers.models import CostAlert, Provider, ProviderHealth, UsageTracking, UserProvider, UserQuota

# --- Catalog with health ---------------------------------------------------------------


class HealthInline(admin.StackedInline):
    model = ProviderHealth
    can_delete = False
    extra = 0
    max_num = 0
    fields = readonly_fields = [
        "is_healthy",
        "consecutive_failures",
        "last_check_at",
        "last_success_at",
        "last_error",
        "response_time_ms",
        "success_rate",
        "checks_total",
        "failures_total",
    ]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NeedsAttentionFilter(admin.SimpleListFilter):
    """Active providers whose health is not `healthy`: unhealthy, degraded, or never
    checked (the dashboard's "Need attention"; providers.selectors.provider_health_board)."""

    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", "Needs attention")]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        not_healthy = (
            Q(health__isnull=True) | Q(health__last_check_at__isnull=True) | Q(health__consecutive_failures__gt=0)
        )
        return queryset.filter(not_healthy, is_active=True)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "provider_type",
        "model_name",
        "is_active",
        "is_platform_provided",
        "cost_per_1k_tokens",
        "health_status",
        "health_checked",
        "health_response_ms",
        "health_success_rate",
    ]
    list_filter = [NeedsAttentionFilter, "provider_type", "is_active", "is_platform_provided", "health__is_healthy"]
    search_fields = ["name", "model_name"]
    list_select_related = ["health"]
    readonly_fields = ["id", "created_at", "updated_at"]
    # The fields the catalog service writes (save_model hands them to it), framed by the
    # read-only ones.
    fields = ["id", *services.PROVIDER_FIELDS, "created_at", "updated_at"]
    inlines = [HealthInline]
    actions = ["probe_now", "activate", "deactivate"]

    def has_probe_permission(self, request) -> bool:
        """Probing writes health results: the permission to change provider health
        (Operators hold it), not the catalog."""
        return request.user.has_perm("providers.change_providerhealth")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "api_endpoint":
            kwargs["assume_scheme"] = "https"  # a bare host means https (Django 6's default)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @staticmethod
    def _health(obj):
        try:
            return obj.health
        except ProviderHealth.DoesNotExist:
            return None

    @admin.display(description="health")
    def health_status(self, obj):
        health = self._health(obj)
        status = health.status if health else "unknown"
        colour = {"healthy": "#2e7d32", "degraded": "#ef6c00", "unhealthy": "#c62828"}.get(status, "#757575")
        return format_html('<b style="color:{}">{}</b>', colour, status)

    @admin.display(description="last check")
    def health_checked(self, obj):
        health = self._health(obj)
        return health.last_check_at if health else None

    @admin.display(description="response ms")
    def health_response_ms(self, obj):
        health = self._health(obj)
        return health.response_time_ms if health else None

    @admin.display(description="success %")
    def health_success_rate(self, obj):
        health = self._health(obj)
        return health.success_rate if health else None

    def save_model(self, request, obj, form, change):
        # The form already validated everything (fields, the unique name); the service
        # validates again, locks, saves and audits.
        values = {name: form.cleaned_data[name] for name in services.PROVIDER_FIELDS if name in form.cleaned_data}
        if change:
            changed = {k: v for k, v in values.items() if k in form.changed_data}
            saved = services.provider_update(provider=obj, actor=request.user, **changed)
        else:
            saved = services.provider_create(actor=request.user, **values)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.provider_delete(provider=obj, actor=request.user)

    def delete_queryset(self, request, queryset: QuerySet):
        for provider in queryset.order_by("pk"):
            services.provider_delete(provider=provider, actor=request.user)

    @admin.action(description="Probe the selected providers now", permissions=["probe"])
    def probe_now(self, request, queryset):
        report = services.providers_check_health(providers=queryset.order_by("pk"), actor=request.user)
        self.message_user(
            request,
            f"Checked {report.checked}: {report.healthy} healthy, {report.degraded} degraded, "
            f"{report.unhealthy} unhealthy.",
        )

    @admin.action(description="Activate the selected providers", permissions=["workflow"])
    def activate(self, request, queryset):
        for provider in queryset.order_by("pk"):
            services.provider_update(provider=provider, actor=request.user, is_active=True)

    @admin.action(description="Deactivate the selected providers", permissions=["workflow"])
    def deactivate(self, request, queryset):
        for provider in queryset.order_by("pk"):
            services.provider_update(provider=provider, actor=request.user, is_active=False)


@admin.register(ProviderHealth)
class ProviderHealthAdmin(ReadOnlyAdmin):
    """The latest probe results (written by check_providers and the "probe now" action)."""

    list_display = [
        "provider",
        "status",
        "consecutive_failures",
        "last_check_at",
        "last_success_at",
        "response_time_ms",
        "success_rate",
    ]
    list_filter = ["is_healthy"]
    search_fields = ["provider__name"]
    list_select_related = ["provider"]
    date_hierarchy = "last_check_at"
    fields = [
        "provider",
        "status",
        "is_healthy",
        "consecutive_failures",
        "last_check_at",
        "last_success_at",
        "last_error",
        "response_time_ms",
        "success_rate",
        "recent_checks",
        "checks_total",
        "failures_total",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="status")
    def status(self, obj):
        colour = {"healthy": "#2e7d32", "degraded": "#ef6c00", "unhealthy": "#c62828"}.get(obj.status, "#757575")
        return format_html('<b style="color:{}">{}</b>', colour, obj.status)

    def get_actions(self, request):
        return {}


# --- Users' keys -----------------------------------------------------------------------


@admin.register(UserProvider)
class UserProviderAdmin(admin.ModelAdmin):
    """Keys are added by their owners through the API; here they can be looked at (last
    four characters only), deactivated or deleted."""

    list_display = ["user", "provider_type", "provider_name", "model_name", "masked_key", "is_active", "updated_at"]
    list_filter = ["provider_type", "is_active"]
    search_fields = ["user__email", "provider_name", "model_name"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    # The sealed columns are not even selected for lists.
    fields = ["id", "user", "provider_type", "provider_name", "model_name", "masked_key", "is_active", "created_at"]
    readonly_fields = ["id", "user", "provider_type", "provider_name", "model_name", "masked_key", "created_at"]
    actions = ["deactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("encrypted_api_key", "encrypted_dek")

    def has_add_permission(self, request):
        return False

    @admin.display(description="key")
    def masked_key(self, obj):
        return f"••••{obj.key_last_4_chars}"

    def save_model(self, request, obj, form, change):
        if "is_active" in form.changed_data:
            services.provider_key_update(user_provider=obj, actor=request.user, is_active=obj.is_active)

    def delete_model(self, request, obj):
        services.provider_key_delete(user_provider=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for row in queryset.order_by("pk"):
            services.provider_key_delete(user_provider=row, actor=request.user)

    @admin.action(description="Deactivate the selected keys", permissions=["workflow"])
    def deactivate(self, request, queryset):
        count = 0
        for row in queryset.filter(is_active=True).order_by("pk"):
            services.provider_key_update(user_provider=row, actor=request.user, is_active=False)
            count += 1
        self.message_user(request, f"Deactivated {count} key(s).")


# --- Quotas, usage, alerts -------------------------------------------------------------


@admin.register(UserQuota)
class UserQuotaAdmin(admin.ModelAdmin):
    list_display = ["user", "daily_limit", "monthly_limit", "daily_cost_limit", "monthly_cost_limit", "updated_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    readonly_fields = ["id", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data.get(name) for name in services.LIMIT_FIELDS}
        if change:
            services.quota_update(quota=obj, actor=request.user, **values)
        else:
            quota, _ = services.quota_set(user=form.cleaned_data["user"], actor=request.user, **values)
            obj.pk = quota.pk
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.quota_delete(quota=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for quota in queryset.order_by("pk"):
            services.quota_delete(quota=quota, actor=request.user)


@admin.register(UsageTracking)
class UsageTrackingAdmin(BigTableAdmin, ReadOnlyAdmin):
    """Counters written only by usage_record; read-only here. One row per user, provider,
    model and day: a big table, so exact search (e-mail, model) and no full count."""

    date_hierarchy = "date"
    list_display = ["date", "user", "provider", "model", "requests_count", "tokens_input", "tokens_output", "cost_usd"]
    list_filter = ["provider"]
    search_fields = ["=user__email", "=model"]
    list_select_related = ["user", "provider"]
    sortable_by = ["date"]

    def get_actions(self, request):
        return {}


@admin.register(CostAlert)
class CostAlertAdmin(ReadOnlyAdmin):
    """Raised by usage_record; nothing is editable. Acknowledging is the action (it needs
    the permission to change cost alerts: Operators and administrators)."""

    list_display = [
        "triggered_at",
        "user",
        "alert_type",
        "period_start",
        "spent_usd",
        "limit_usd",
        "acknowledged",
        "acknowledged_by",
    ]
    list_filter = ["alert_type", "acknowledged"]
    search_fields = ["=user__email"]
    list_select_related = ["user", "acknowledged_by"]
    date_hierarchy = "triggered_at"
    actions = ["acknowledge"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.action(description="Acknowledge the selected alerts", permissions=["workflow"])
    def acknowledge(self, request, queryset):
        count = 0
        for alert in queryset.filter(acknowledged=False).order_by("pk"):
            services.cost_alert_acknowledge(alert=alert, actor=request.user)
            count += 1
        self.message_user(request, f"Acknowledged {count} alert(s).")
