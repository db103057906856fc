"""The console layer every ModelAdmin gets (console.site.ConsoleAdminSite.register adds
it to each registered admin class, whatever app registers it):

- **Audit of the console itself.** Every save, delete and action taken in the console is
  an entry in the audit chain (entity `admin`, actions `add`, `change`, `delete`,
  `action`) with the staff member as actor, next to the domain entries the services
  write. Saves and deletes are recorded inside the admin's own transaction (a refused or
  failed save leaves no entry); an action is recorded after it ran, with how many
  objects it was given and how many refusals it reported.
- **Actions need a permission.** Django shows an action without `allowed_permissions`
  to everyone who may view the list; here such an action requires the model's `change`
  permission ("workflow" permission: workflow actions change state even where the form
  itself is read-only).
- **Refusals are messages.** A domain error raised by an action becomes an error message,
  never a 500; "delete selected" is all-or-nothing.
- **Big tables stay cheap.** The change list template's date hierarchy is computed from
  the date range alone (console_admin.cheap_date_hierarchy) for admins marked
  `big_table` (core.admin_tools.BigTableAdmin).
"""

from __future__ import annotations

import functools

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db import transaction

from audits.services import audit_record
from core.exceptions import DomainError

ENTITY = "admin"
MAX_IDS = 100


def _label(opts) -> str:
    return f"{opts.app_label}.{opts.model_name}"


def _changed_fields(message) -> list[str]:
    """Field names out of Django's change message ([{"changed": {"fields": [...]}}])."""
    fields: list[str] = []
    if isinstance(message, list):
        for item in message:
            if isinstance(item, dict) and isinstance(item.get("changed"), dict) and "name" not in item["changed"]:
                fields += [str(f) for f in item["changed"].get("fields", [])]
    return fields


def _error_messages(request) -> int:
    storage = getattr(request, "_messages", None)
    queued = getattr(storage, "_queued_messages", None) or []
    return sum(1 for message in queued if message.level >= messages.ERROR)


class ConsoleModelAdmin(admin.ModelAdmin):
    """Mixed into every registered ModelAdmin (see the module docstring)."""

    change_list_template = "admin/console/change_list.html"

    def get_fields(self, request, obj=None):
        """An add form shows what one can fill in: no read-only field (empty until the
        object exists) and no primary key generated in advance (the service assigns it)."""
        fields = super().get_fields(request, obj)
        if obj is not None:
            return fields
        hidden = set(self.get_readonly_fields(request, None))
        if self.opts.pk.has_default() or self.opts.pk.auto_created:
            hidden.add(self.opts.pk.name)
        return [name for name in fields if name not in hidden]

    def history_view(self, request, object_id, extra_context=None):
        """The object's audit trail (console.history), not Django's empty LogEntry list."""
        from console.history import history_view

        return history_view(self, request, object_id)

    # --- permissions -------------------------------------------------------------------

    def has_workflow_permission(self, request) -> bool:
        """May run this model's workflow actions: holds its `change` permission (even
        where has_change_permission is False because the form is read-only)."""
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def get_actions(self, request):
        """Every action is audited, and one that declares no `allowed_permissions` is
        offered only to those who may run this model's workflow (its change permission)."""
        actions = {}
        may_run_workflow = None
        for name, (func, _, description) in super().get_actions(request).items():
            if not getattr(func, "allowed_permissions", None):
                if may_run_workflow is None:
                    may_run_workflow = self.has_workflow_permission(request)
                if not may_run_workflow:
                    continue
            actions[name] = (_audited_action(func, name), name, description)
        return actions

    # --- the audit entries of saves and deletes ----------------------------------------

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        audit_record(
            entity=ENTITY,
            action="add",
            actor=request.user,
            payload={"model": _label(self.opts), "id": str(obj.pk)},
        )
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        audit_record(
            entity=ENTITY,
            action="change",
            actor=request.user,
            payload={"model": _label(self.opts), "id": str(obj.pk), "fields": _changed_fields(message)},
        )
        return entry

    def log_deletions(self, request, queryset):
        ids = [str(pk) for pk in (obj.pk for obj in queryset)]
        entries = super().log_deletions(request, queryset)
        audit_record(
            entity=ENTITY,
            action="delete",
            actor=request.user,
            payload={"model": _label(self.opts), "ids": ids[:MAX_IDS], "count": len(ids)},
        )
        return entries


def _audited_action(func, name: str):
    """Run the action, turn a domain refusal into a message, and record the action."""
    if getattr(func, "_console_audited", False):
        return func

    @functools.wraps(func)
    def run(modeladmin, request, queryset):
        if name == "delete_selected":
            # Recorded by log_deletions once confirmed; all-or-nothing.
            try:
                with transaction.atomic():
                    return func(modeladmin, request, queryset)
            except DomainError as exc:
                from core.admin_tools import domain_error_text

                modeladmin.message_user(request, f"Nothing deleted: {domain_error_text(exc)}", messages.ERROR)
                return None
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)[: MAX_IDS + 1]]
        errors_before = _error_messages(request)
        try:
            response = func(modeladmin, request, queryset)
        except DomainError as exc:
            from core.admin_tools import domain_error_text

            modeladmin.message_user(request, domain_error_text(exc), messages.ERROR)
            response = None
        with transaction.atomic():
            audit_record(
                entity=ENTITY,
                action="action",
                actor=request.user,
                payload={
                    "model": _label(modeladmin.opts),
                    "name": name,
                    "ids": ids[:MAX_IDS],
                    "selected": min(len(ids), MAX_IDS),
                    "more_selected": len(ids) > MAX_IDS,
                    "refusals": _error_messages(request) - errors_before,
                },
            )
        return response

    run._console_audited = True
    return run
