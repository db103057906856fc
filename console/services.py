"""Writes of the console itself: the permission groups (Django's auth.Group), saved
through here so that every change is audited with what it granted or took away."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from audits.services import audit_record
from core.exceptions import Conflict, PermissionDenied, ValidationFailed


def _require_admin(actor) -> None:
    if actor is None or not (actor.is_superuser or getattr(actor, "role", None) == "admin"):
        raise PermissionDenied("Only administrators may change console groups.")


def _names(permissions) -> list[str]:
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in permissions)


@transaction.atomic
def group_save(*, actor, name: str, permissions, group: Group | None = None) -> Group:
    """Create a group or change its name and permissions. Audited (entity `group`) with
    the permissions added and removed."""
    _require_admin(actor)
    name = (name or "").strip()
    if not name or len(name) > 150:
        raise ValidationFailed.field("name", "A name of 1 to 150 characters.")
    clash = Group.objects.filter(name=name)
    if group is not None:
        clash = clash.exclude(pk=group.pk)
    if clash.exists():
        raise Conflict(f"A group named {name!r} already exists.")
    wanted = {
        p.pk: p for p in Permission.objects.filter(pk__in=[p.pk for p in permissions]).select_related("content_type")
    }
    if group is None:
        group = Group.objects.create(name=name)
        before_name, current = None, {}
        action = "create"
    else:
        group = Group.objects.select_for_update().get(pk=group.pk)
        before_name = group.name
        current = {p.pk: p for p in group.permissions.select_related("content_type")}
        action = "update"
        if name != group.name:
            group.name = name
            group.save(update_fields=["name"])
    added = [p for pk, p in wanted.items() if pk not in current]
    removed = [p for pk, p in current.items() if pk not in wanted]
    if added:
        group.permissions.add(*added)
    if removed:
        group.permissions.remove(*removed)
    if action == "create" or added or removed or before_name != name:
        payload = {"id": group.pk, "name": name, "added": _names(added), "removed": _names(removed)}
        if action == "update" and before_name != name:
            payload["renamed_from"] = before_name
        audit_record(entity="group", action=action, actor=actor, payload=payload)
    return group


@transaction.atomic
def group_delete(*, actor, group: Group) -> None:
    _require_admin(actor)
    group = Group.objects.select_for_update().get(pk=group.pk)
    payload = {
        "id": group.pk,
        "name": group.name,
        "members": group.user_set.count(),
        "permissions": _names(group.permissions.select_related("content_type")),
    }
    group.delete()
    audit_record(entity="group", action="delete", actor=actor, payload=payload)
