"""Read-only views of the audit log for staff. Nobody, superusers included, can add,
change or delete entries (the database refuses it too)."""

from django.contrib import admin
from django.utils.html import format_html

from audits.models import AuditLogRow, Statistic, Verification
from core.admin_paginator import EstimatedCountPaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}


@admin.register(AuditLogRow)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "ts", "entity", "action", "actor", "sealed_badge"]
    list_filter = ["entity", "action"]
    search_fields = ["=entity", "=action", "=actor"]
    date_hierarchy = "ts"
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = [
        "id",
        "ts",
        "entity",
        "action",
        "actor",
        "payload",
        "entry_hmac",
        "chain_seq",
        "prev_hash",
        "signature",
    ]

    @admin.display(description="sealed")
    def sealed_badge(self, obj):
        return format_html('<span title="chain position">#{}</span>', obj.chain_seq) if obj.sealed else "pending"

    # No COUNT(*) over the whole log on page load: a planner estimate, and no full count.
    paginator = EstimatedCountPaginator


@admin.register(Statistic)
class StatisticAdmin(ReadOnlyAdmin):
    list_display = ["day", "entity", "action", "count"]
    list_filter = ["entity", "action"]
    date_hierarchy = "day"


@admin.register(Verification)
class VerificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "source", "ok", "checked", "pending", "head_seq", "duration_ms"]
    list_filter = ["ok", "source"]
