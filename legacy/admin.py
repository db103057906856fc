"""The legacy-id map in the operations console: read-only (only the import writes it)."""

from django.contrib import admin

from core.admin_paginator import EstimatedCountPaginator
from legacy.models import LegacyRecord


@admin.register(LegacyRecord)
class LegacyRecordAdmin(admin.ModelAdmin):
    list_display = ["kind", "key", "target_id", "audit_id", "source", "imported_at"]
    list_filter = ["kind"]
    # "Where did this row come from?": search by the Tristate id, or by the legacy key.
    search_fields = ["=target_id", "key"]
    readonly_fields = ["kind", "key", "digest", "target_id", "audit_id", "source", "imported_at"]
    show_full_result_count = False
    list_per_page = 50
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}
