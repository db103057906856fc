"""Admin of the production zone. The services own every state (status machines, derived
durations, audit), so sessions and everything in them are read-only here; the one
write, cancelling, is an action that calls production.services. The statistics page
(sessions per day, task durations, review scores) is linked from the sessions list."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from core.admin_paginator import EstimatedCountPaginator
from core.admin_tools import ReasonActionForm, ServiceAdmin
from core.exceptions import ValidationFailed
from production import services, stats
from production.models import AnalysisSession, AnalysisTask, Artifact, CodeReviewResult


class _ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TaskInline(_ReadOnly, admin.TabularInline):
    model = AnalysisTask
    fields = ["type", "status", "started_at", "finished_at", "duration_ms", "error_message", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    ordering = ["created_at", "id"]


class ArtifactInline(_ReadOnly, admin.TabularInline):
    model = Artifact
    fields = ["type", "s3_uri", "sha256", "size_bytes", "expires_at", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    ordering = ["created_at", "id"]


class CodeReviewInline(_ReadOnly, admin.TabularInline):
    model = CodeReviewResult
    fields = [
        "code_language",
        "overall_score",
        "vulnerabilities_count",
        "issues_count",
        "code_length",
        "model_used",
        "analysis_time_ms",
        "created_at",
    ]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    ordering = ["created_at", "id"]


@admin.register(AnalysisSession)
class AnalysisSessionAdmin(_ReadOnly, ServiceAdmin):
    list_display = ["id", "project", "user", "version", "status", "provider", "created_at", "started_at", "finished_at"]
    list_filter = ["status", "version", "provider", "created_at"]
    search_fields = ["=id", "project__name", "user__email", "=project__id"]
    list_select_related = ["project", "user", "provider"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    action_form = ReasonActionForm
    actions = ["cancel_sessions"]
    change_list_template = "admin/production/analysissession/change_list.html"
    fields = [
        "id",
        "user",
        "project",
        "version",
        "provider",
        "status",
        "started_at",
        "finished_at",
        "error_message",
        "metadata",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [TaskInline, ArtifactInline, CodeReviewInline]

    @admin.action(description="Cancel (open tasks become skipped; optional reason)")
    def cancel_sessions(self, request, queryset):
        reason = (request.POST.get("reason") or "").strip()
        self.run_service(
            request,
            lambda s: services.session_cancel(session=s, actor=request.user, reason=reason),
            queryset.order_by("pk"),
            done="Cancelled",
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.statistics_view)
        return [path("statistics/", view, name="production_analysissession_statistics"), *super().get_urls()]

    def statistics_view(self, request):
        """Everyone's figures (the console shows every session to those who may view them)."""
        from django.core.exceptions import PermissionDenied

        if not self.has_view_permission(request):
            raise PermissionDenied
        error = None
        try:
            span = stats.window(_date(request.GET.get("date_from")), _date(request.GET.get("date_to")))
            figures = stats.session_statistics(user=None, everyone=True, date_from=span.date_from, date_to=span.date_to)
        except ValidationFailed as exc:
            error = exc.message
            figures = stats.session_statistics(user=None, everyone=True)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Production statistics",
            "figures": figures,
            "error": error,
            "statuses": list(figures["sessions_per_day"][0]["by_status"]) if figures["sessions_per_day"] else [],
        }
        return TemplateResponse(request, "admin/production/statistics.html", context)


def _date(value):
    from datetime import date

    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.field("date", f"'{value[:20]}' is not a date (YYYY-MM-DD).") from None


@admin.register(AnalysisTask)
class AnalysisTaskAdmin(_ReadOnly, admin.ModelAdmin):
    list_select_related = ["session"]
    list_display = ["id", "session", "type", "status", "started_at", "finished_at", "duration_ms"]
    list_filter = ["type", "status"]
    search_fields = ["=id", "=session__id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-created_at", "-id"]
    fields = [
        "id",
        "session",
        "type",
        "status",
        "result",
        "error_message",
        "started_at",
        "finished_at",
        "duration_ms",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields


@admin.register(Artifact)
class ArtifactAdmin(_ReadOnly, admin.ModelAdmin):
    list_select_related = ["session"]
    list_display = ["id", "session", "type", "s3_uri", "size_bytes", "expires_at", "created_at"]
    list_filter = ["type", "expires_at", "created_at"]
    search_fields = ["=id", "=session__id", "=sha256", "s3_uri"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-created_at", "-id"]
    fields = ["id", "session", "type", "s3_uri", "sha256", "size_bytes", "metadata", "expires_at", "created_at"]
    readonly_fields = fields


@admin.register(CodeReviewResult)
class CodeReviewResultAdmin(_ReadOnly, admin.ModelAdmin):
    list_select_related = ["session"]
    list_display = ["id", "session", "code_language", "overall_score", "vulnerabilities_count", "issues_count"]
    list_filter = ["created_at"]
    search_fields = ["=id", "=session__id", "=code_language", "model_used"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-created_at", "-id"]
    fields = [
        "id",
        "session",
        "code_language",
        "code_length",
        "overall_score",
        "vulnerabilities_count",
        "issues_count",
        "model_used",
        "analysis_time_ms",
        "created_at",
    ]
    readonly_fields = fields
