"""Admin helpers for models written through services.

The admin calls the same service functions as the API (one write path: validation,
locks, audit). A service refusal (a domain error: 409 archived, four-eyes, invalid move)
becomes an error message on the admin page instead of a 500."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.http import HttpResponseRedirect

from core.admin_paginator import EstimatedCountPaginator
from core.exceptions import DomainError


def domain_error_text(exc: DomainError) -> str:
    details = "; ".join(
        f"{field}: {', '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
        for field, msgs in (exc.details or {}).items()
    )
    return f"{exc.message} ({details})" if details else exc.message


def json_shown_as(fields, column: str, text_column: str, shown: str) -> list[str]:
    """An admin form's `fields` with the jsonb `column` replaced by `shown` (a read-only
    rendering of `text_column`, the same JSON in its author's key order), and neither
    `shown` nor `text_column` anywhere else: the config appears once, where it stood."""
    return [shown if name == column else name for name in fields if name not in (shown, text_column)]


class ReasonActionForm(ActionForm):
    """The changelist's action bar with a free-text reason that workflow actions use."""

    reason = forms.CharField(required=False, max_length=5000, label="Reason / notes")


class ServiceAdmin(admin.ModelAdmin):
    """A ModelAdmin whose writes go through services: subclasses implement save_model /
    delete_model with service calls; domain errors are shown to the operator and the
    transaction is rolled back. Bulk delete goes through delete_model row by row."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, domain_error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, domain_error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def run_service(self, request, fn, objects, *, done: str, **kwargs) -> None:
        """Run `fn(obj, **kwargs)` for each selected object (each in its own transaction,
        as the service defines it) and report successes and refusals."""
        ok = 0
        for obj in objects:
            try:
                fn(obj, **kwargs)
                ok += 1
            except DomainError as exc:
                self.message_user(request, f"{obj}: {domain_error_text(exc)}", messages.ERROR)
        if ok:
            self.message_user(request, f"{done}: {ok}.", messages.SUCCESS)

    @staticmethod
    def mark_saved(obj, created) -> None:
        """Point the admin's unsaved instance at the row a service created."""
        obj.pk = created.pk
        obj.refresh_from_db()  # every column as stored, and the instance's database


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows nobody changes from the console (append-only records, derived data): no add,
    change or delete, superusers included. Staff with the view permission read them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BigTableAdmin(admin.ModelAdmin):
    """For tables that grow without bound (audit log, usage, security events, sessions,
    evaluations, ...): the change list never counts the whole table (a planner estimate
    past EstimatedCountPaginator.exact_below rows, no "N total" count), its date
    hierarchy is computed from the date range alone (console's change list template), no
    per-filter counts are offered, and subclasses limit `sortable_by` to indexed columns and
    search with exact lookups."""

    big_table = True
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Django's "Show counts" runs one COUNT per filter choice over the filtered rows.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
