"""Admin of the v1 zone. Every write and every workflow action calls
experiments.services, so the rules (status machine, four-eyes, blacklist) and the audit
entries are the same as through the API. Reasons come from the action bar's text box."""

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html_join

from core.admin_tools import BigTableAdmin, ReadOnlyAdmin, ReasonActionForm, ServiceAdmin, json_shown_as
from experiments import services
from experiments.models import Blacklist, ComparisonReport, Evaluation, Experiment, Promotion, Status


def _reason(request) -> str:
    return (request.POST.get("reason") or "").strip()


@admin.register(Experiment)
class ExperimentAdmin(ServiceAdmin, BigTableAdmin):
    list_display = ["name", "project", "status", "short_hash", "dataset_id", "created_by", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "=config_hash", "=dataset_id", "=id", "project__name"]
    list_select_related = ["project", "created_by"]
    autocomplete_fields = ["project"]
    sortable_by = ["status", "created_at"]
    date_hierarchy = "created_at"
    action_form = ReasonActionForm
    actions = ["mark_running", "mark_completed", "mark_failed", "quarantine"]
    fields = [
        "id",
        "project",
        "name",
        "description",
        "config",
        "config_hash",
        "dataset_id",
        "status",
        "created_by",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "id",
        "config_hash",
        "status",
        "created_by",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="config hash", ordering="config_hash")
    def short_hash(self, obj):
        return obj.config_hash[:12] + "…"

    def get_readonly_fields(self, request, obj=None):
        # The config is what the hash, verdicts and blacklist refer to: fixed after creation.
        return [*self.readonly_fields, "project", "config_json", "related"] if obj else self.readonly_fields

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is None:
            return fields
        return [*json_shown_as(fields, "config", "config_text", "config_json"), "related"]

    @admin.display(description="config")
    def config_json(self, obj):
        from console.history import pretty_json

        return pretty_json(json.loads(obj.config_text))  # in the order its author wrote it

    @admin.display(description="see also")
    def related(self, obj):
        links = [
            (reverse("admin:experiments_evaluation_changelist") + f"?experiment={obj.pk}", "evaluations"),
            (reverse("admin:experiments_promotion_changelist") + f"?experiment={obj.pk}", "promotions"),
            (reverse("admin:experiments_experiment_history", args=[obj.pk]), "audit entries"),
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def has_delete_permission(self, request, obj=None):
        return False  # experiments are records; quarantine archives them

    def save_model(self, request, obj, form, change):
        if change:
            values = {f: form.cleaned_data[f] for f in form.changed_data if f in ("name", "description", "dataset_id")}
            if values:
                services.experiment_update(experiment=obj, actor=request.user, **values)
        else:
            created = services.experiment_create(
                project=form.cleaned_data["project"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data.get("description") or "",
                config=form.cleaned_data["config"],
                dataset_id=form.cleaned_data.get("dataset_id") or "",
                actor=request.user,
            )
            self.mark_saved(obj, created)

    def _move(self, request, queryset, to):
        self.run_service(
            request,
            lambda e: services.experiment_transition(experiment=e, to=to, actor=request.user, reason=_reason(request)),
            queryset,
            done=f"Moved to {to}",
        )

    @admin.action(description="Move to running", permissions=["workflow"])
    def mark_running(self, request, queryset):
        self._move(request, queryset, Status.RUNNING)

    @admin.action(description="Move to completed", permissions=["workflow"])
    def mark_completed(self, request, queryset):
        self._move(request, queryset, Status.COMPLETED)

    @admin.action(description="Move to failed", permissions=["workflow"])
    def mark_failed(self, request, queryset):
        self._move(request, queryset, Status.FAILED)

    @admin.action(description="Quarantine (needs a reason)", permissions=["workflow"])
    def quarantine(self, request, queryset):
        if not _reason(request):
            self.message_user(request, "Give a reason to quarantine.", messages.ERROR)
            return
        self.run_service(
            request,
            lambda e: services.experiment_quarantine(experiment=e, actor=request.user, reason=_reason(request)),
            queryset,
            done="Quarantined",
        )


@admin.register(Evaluation)
class EvaluationAdmin(ServiceAdmin, BigTableAdmin):
    list_display = ["experiment", "ai_verdict", "ai_confidence", "human_override", "effective_verdict", "evaluated_at"]
    list_filter = ["effective_verdict", "ai_verdict", "human_override", "evaluated_by"]
    search_fields = ["=experiment__id", "experiment__name"]
    list_select_related = ["experiment"]
    sortable_by: list[str] = []  # newest first (the default); other sorts would sort the whole table
    date_hierarchy = "created_at"
    action_form = ReasonActionForm
    actions = ["override_pass", "override_fail"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _override(self, request, queryset, verdict):
        if not _reason(request):
            self.message_user(request, "An override needs a reason.", messages.ERROR)
            return
        self.run_service(
            request,
            lambda ev: services.evaluation_override(
                evaluation=ev, verdict=verdict, reason=_reason(request), actor=request.user
            ),
            queryset.select_related("experiment"),
            done=f"Overridden to {verdict}",
        )

    @admin.action(description="Override verdict → pass (needs a reason)", permissions=["workflow"])
    def override_pass(self, request, queryset):
        self._override(request, queryset, "pass")

    @admin.action(description="Override verdict → fail (needs a reason; quarantines)", permissions=["workflow"])
    def override_fail(self, request, queryset):
        self._override(request, queryset, "fail")


@admin.register(Promotion)
class PromotionAdmin(ServiceAdmin):
    list_display = ["experiment", "status", "requested_by", "approver", "created_at", "promoted_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["=experiment__id", "experiment__name", "reason", "=id"]
    list_select_related = ["experiment", "requested_by", "approver"]
    date_hierarchy = "created_at"
    action_form = ReasonActionForm
    actions = ["approve", "reject", "complete"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # The services decide who may act (admins other than the requester: four-eyes).
    @admin.action(description="Approve (four-eyes: not your own request)", permissions=["workflow"])
    def approve(self, request, queryset):
        self.run_service(
            request,
            lambda p: services.promotion_approve(promotion=p, actor=request.user, reason=_reason(request)),
            queryset.select_related("to_version"),
            done="Approved",
        )

    @admin.action(description="Reject", permissions=["workflow"])
    def reject(self, request, queryset):
        self.run_service(
            request,
            lambda p: services.promotion_reject(promotion=p, actor=request.user, reason=_reason(request)),
            queryset.select_related("to_version"),
            done="Rejected",
        )

    @admin.action(
        description="Complete: copy the config into v2 and mark the experiment promoted", permissions=["workflow"]
    )
    def complete(self, request, queryset):
        self.run_service(
            request,
            lambda p: services.promotion_complete(promotion=p, actor=request.user),
            queryset.select_related("to_version"),
            done="Completed",
        )


@admin.register(Blacklist)
class BlacklistAdmin(ServiceAdmin):
    list_display = ["config_hash", "active", "review_status", "quarantined_at", "quarantined_by", "lifted_at"]
    list_filter = ["review_status", "lifted_at", "quarantined_at"]
    search_fields = ["=config_hash", "reason"]
    list_select_related = ["quarantined_by"]
    date_hierarchy = "quarantined_at"
    action_form = ReasonActionForm
    actions = ["lift"]
    fields = [
        "id",
        "config_hash",
        "reason",
        "evidence",
        "quarantined_at",
        "quarantined_by",
        "review_status",
        "reviewed_by",
        "reviewed_at",
        "lifted_at",
        "lifted_by",
        "lift_reason",
    ]

    @admin.display(boolean=True)
    def active(self, obj):
        return obj.lifted_at is None

    def get_readonly_fields(self, request, obj=None):
        auto = [
            "id",
            "quarantined_at",
            "quarantined_by",
            "reviewed_by",
            "reviewed_at",
            "lifted_at",
            "lifted_by",
            "lift_reason",
        ]
        if obj is None:
            return [*auto, "review_status"]
        return [*auto, "config_hash", "reason", "evidence"]

    def has_delete_permission(self, request, obj=None):
        return False  # lift instead: the row stays as history

    def save_model(self, request, obj, form, change):
        if change:
            if "review_status" in form.changed_data:
                services.blacklist_review(
                    entry=obj, review_status=form.cleaned_data["review_status"], actor=request.user
                )
        else:
            created = services.blacklist_add(
                actor=request.user,
                config_hash=form.cleaned_data["config_hash"],
                reason=form.cleaned_data["reason"],
                evidence=form.cleaned_data.get("evidence") or {},
            )
            self.mark_saved(obj, created)

    @admin.action(description="Lift (hand-made entries only; needs a reason)", permissions=["workflow"])
    def lift(self, request, queryset):
        if not _reason(request):
            self.message_user(request, "Give a reason to lift.", messages.ERROR)
            return
        self.run_service(
            request,
            lambda b: services.blacklist_lift(entry=b, actor=request.user, reason=_reason(request)),
            queryset,
            done="Lifted",
        )


@admin.register(ComparisonReport)
class ComparisonReportAdmin(ReadOnlyAdmin):
    list_display = ["v1_experiment", "v2_version", "dataset_id", "recommendation", "confidence", "created_at"]
    list_filter = ["recommendation", "created_at"]
    search_fields = ["=v1_experiment__id", "v1_experiment__name", "=dataset_id"]
    list_select_related = ["v1_experiment", "v2_version__project"]
    date_hierarchy = "created_at"

    def get_actions(self, request):
        return {}
