"""Admin of the v3 zone. Quarantine records are read-only (the database refuses content
changes and deletes anyway); re-evaluation actions call quarantine.services."""

import json

from django.contrib import admin

from core.admin_tools import ReasonActionForm, ServiceAdmin, json_shown_as
from quarantine import services
from quarantine.models import QuarantineRecord, ReevaluationRequest


def _notes(request) -> str:
    return (request.POST.get("reason") or "").strip()


class ReevaluationInline(admin.TabularInline):
    model = ReevaluationRequest
    fields = ["created_at", "status", "requested_by", "reason", "approved_by", "completed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(QuarantineRecord)
class QuarantineRecordAdmin(admin.ModelAdmin):
    list_display = ["short_hash", "experiment", "review_status", "quarantined_at", "quarantined_by", "reviewed_at"]
    list_filter = ["review_status", "quarantined_at"]
    search_fields = ["=config_hash", "reason", "=experiment__id", "experiment__name", "=id"]
    list_select_related = ["experiment", "quarantined_by"]
    date_hierarchy = "quarantined_at"
    inlines = [ReevaluationInline]

    readonly_fields = ["config_json"]

    @admin.display(description="config hash", ordering="config_hash")
    def short_hash(self, obj):
        return obj.config_hash[:12] + "…"

    def get_fields(self, request, obj=None):
        # The config once, indented, in its author's key order (config_text), where the
        # jsonb `config` would stand.
        return json_shown_as(super().get_fields(request, obj), "config", "config_text", "config_json")

    @admin.display(description="config")
    def config_json(self, obj):
        from console.history import pretty_json

        return pretty_json(json.loads(obj.config_text))

    def has_add_permission(self, request):
        return False  # records come from quarantining an experiment

    def has_change_permission(self, request, obj=None):
        return False  # content is immutable (trigger); reviews go through re-evaluations

    def has_delete_permission(self, request, obj=None):
        return False  # never deleted (trigger)

    def get_actions(self, request):
        return {}


@admin.register(ReevaluationRequest)
class ReevaluationRequestAdmin(ServiceAdmin):
    list_display = ["quarantine_record", "status", "requested_by", "approved_by", "created_at", "completed_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["=quarantine_record__config_hash", "reason", "=id"]
    list_select_related = ["quarantine_record", "requested_by", "approved_by"]
    autocomplete_fields = ["quarantine_record"]
    date_hierarchy = "created_at"
    action_form = ReasonActionForm
    actions = ["approve", "reject", "complete_pass", "complete_fail"]
    fields = [
        "id",
        "quarantine_record",
        "reason",
        "status",
        "requested_by",
        "approved_by",
        "approved_at",
        "rejected_by",
        "rejected_at",
        "decision_notes",
        "completed_by",
        "completed_at",
        "result",
        "created_at",
        "updated_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        auto = [f for f in self.fields if f not in ("quarantine_record", "reason")]
        return self.fields if obj else auto

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        created = services.reevaluation_request(
            record=form.cleaned_data["quarantine_record"], reason=form.cleaned_data["reason"], actor=request.user
        )
        self.mark_saved(obj, created)

    def _run(self, request, queryset, fn, done):
        self.run_service(request, fn, queryset.select_related("quarantine_record__experiment"), done=done)

    @admin.action(
        description="Approve (four-eyes: not your own request) → record under review", permissions=["workflow"]
    )
    def approve(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda r: services.reevaluation_approve(request=r, actor=request.user, notes=_notes(request)),
            "Approved",
        )

    @admin.action(description="Reject", permissions=["workflow"])
    def reject(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda r: services.reevaluation_reject(request=r, actor=request.user, notes=_notes(request)),
            "Rejected",
        )

    def _complete(self, request, queryset, verdict):
        result = {"verdict": verdict}
        if _notes(request):
            result["notes"] = _notes(request)
        self._run(
            request,
            queryset,
            lambda r: services.reevaluation_complete(request=r, result=result, actor=request.user),
            f"Completed ({verdict})",
        )

    @admin.action(description="Complete: passed → approved for retry, blacklist lifted", permissions=["workflow"])
    def complete_pass(self, request, queryset):
        self._complete(request, queryset, "pass")

    @admin.action(description="Complete: failed → back to quarantined", permissions=["workflow"])
    def complete_fail(self, request, queryset):
        self._complete(request, queryset, "fail")
