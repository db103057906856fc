"""Read-only views of the audit log for staff. Nobody, superusers included, can add,
change or delete entries (the database refuses it too).

The log is the biggest table there is: its change list never counts or scans it whole.
The page count is a planner estimate (EstimatedCountPaginator), the date hierarchy comes
from the range of dates (not SELECT DISTINCT), the entity and action filters list the
values of the small per-day statistics (not the log), search is by exact values that
have an index, and only indexed columns sort."""

from django.contrib import admin
from django.utils.html import format_html

from audits import selectors
from audits.models import AuditLogRow, Statistic, Verification
from core.admin_tools import BigTableAdmin, ReadOnlyAdmin


class _StatisticValuesFilter(admin.SimpleListFilter):
    """Filter on a column of the log whose values are listed from audits.statistics."""

    column = ""

    def lookups(self, request, model_admin):
        values = Statistic.objects.order_by(self.column).values_list(self.column, flat=True).distinct()
        return [(value, value) for value in values]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.column: self.value()})
        return queryset


class EntityFilter(_StatisticValuesFilter):
    title = "entity"
    parameter_name = "entity"
    column = "entity"


class ActionFilter(_StatisticValuesFilter):
    title = "action"
    parameter_name = "action"
    column = "action"


@admin.register(AuditLogRow)
class AuditLogAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = ["id", "ts", "entity", "action", "object_link", "actor_link", "sealed_badge"]
    list_filter = [EntityFilter, ActionFilter]
    search_fields = ["=entity", "=action", "=actor"]
    date_hierarchy = "ts"
    sortable_by = ["id", "ts"]
    readonly_fields = [
        "id",
        "ts",
        "entity",
        "action",
        "object_link",
        "actor_page",
        "payload_json",
        "entry_hmac",
        "chain_seq",
        "prev_hash",
        "signature",
    ]

    def get_queryset(self, request):
        # The log's one selector, with the actor's e-mail for people; ordered as ModelAdmin orders.
        queryset = selectors.audit_log_list(with_actor_email=True)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_actions(self, request):
        return {}

    @admin.display(description="actor")
    def actor_link(self, obj):
        if obj.actor is None:
            return "system"
        return format_html('<a href="?actor={}" title="{}">{}</a>', obj.actor, obj.actor, obj.actor_email or obj.actor)

    @admin.display(description="object")
    def object_link(self, obj):
        """The console page of the object the entry concerns (console.history)."""
        from console.history import link, object_url

        payload = obj.payload if isinstance(obj.payload, dict) else {}
        url = object_url(obj.entity, payload)
        return link(url, payload.get("id")) if url else (payload.get("id") or "—")

    @admin.display(description="actor")
    def actor_page(self, obj):
        from console.history import actor_url, link

        if obj.actor is None:
            return "system"
        return link(actor_url(obj.actor), obj.actor_email or obj.actor)

    @admin.display(description="payload")
    def payload_json(self, obj):
        from console.history import pretty_json

        return pretty_json(obj.payload)

    @admin.display(description="sealed")
    def sealed_badge(self, obj):
        return format_html('<span title="chain position">#{}</span>', obj.chain_seq) if obj.sealed else "pending"


@admin.register(Statistic)
class StatisticAdmin(ReadOnlyAdmin):
    """Entries per day, entity and action. A list only: rows of the view have no key of
    their own (`day` repeats), so there is no page per row."""

    list_display = ["day", "entity", "action", "count"]
    list_display_links = None
    list_filter = ["entity", "action"]
    date_hierarchy = "day"

    def get_actions(self, request):
        return {}

    def get_urls(self):
        from django.urls import path

        info = self.opts.app_label, self.opts.model_name
        return [path("", self.admin_site.admin_view(self.changelist_view), name="{}_{}_changelist".format(*info))]


@admin.register(Verification)
class VerificationAdmin(ReadOnlyAdmin):
    """Every chain verification run (command, API, console). Run one from the console's
    "Verify audit chain" page."""

    list_display = ["created_at", "source", "ok", "checked", "pending", "head_seq", "since", "duration_ms"]
    list_filter = ["ok", "source"]
    date_hierarchy = "created_at"

    def get_actions(self, request):
        return {}
