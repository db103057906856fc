"""Projects: create, update, archive and unarchive, delete; and the input rules (names,
JSON objects, limits) the other project modules and the API share.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from accounts.models import User
from audits.services import audit_record
from core import canonical
from core.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from projects.models import Project, Tag, Version
from projects.selectors import check_can_write, project_for_write

UNSET: Any = object()

# Limits shared with the API serializers and the legacy importer.
NAME_MAX = 200
METRIC_KEY_MAX = 100
THRESHOLD_MAX_DIGITS = 24
THRESHOLD_DECIMALS = 8


def json_hash(value: Any) -> str:
    return canonical.sha256_hex(value)


def require_object(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise ValidationFailed.field(field, "Must be a JSON object.")
    try:
        canonical.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed.field(field, f"Not storable JSON: {exc}") from None
    return value


def json_text(value: Any) -> str:
    """A JSON object as text in its own key order (Version.model_config_text): what the API
    and the console show. jsonb, which `model_config` is stored as, re-orders object keys."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def require_name(value: Any, field: str = "name", max_length: int = NAME_MAX) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.field(field, "This field may not be blank.")
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed.field(field, f"At most {max_length} characters.")
    return value


def require_admin(actor: User | None, what: str) -> None:
    if actor is not None and not actor.is_admin_role:
        raise PermissionDenied(f"Only administrators may {what}.")


@transaction.atomic
def project_create(
    *, owner: User, name: str, actor: User | None, description: str = "", settings: dict | None = None
) -> Project:
    """Create a project and its v1/v2/v3 versions (empty model_config)."""
    check_can_write(actor)
    if actor is not None and not actor.is_admin_role and owner.pk != actor.pk:
        raise PermissionDenied("Only administrators create projects for other users.")
    if not owner.can_write:
        raise ValidationFailed.field("owner", "A viewer cannot own projects.")
    name = require_name(name)
    settings = require_object(settings if settings is not None else {}, "settings")
    try:
        with transaction.atomic():
            project = Project.objects.create(owner=owner, name=name, description=description or "", settings=settings)
    except IntegrityError:
        raise Conflict("You already have a project with this name.", details={"name": ["already used"]}) from None
    Version.objects.bulk_create([Version(project=project, tag=tag) for tag in Tag.values])
    audit_record(
        entity="project",
        action="create",
        actor=actor,
        payload={"id": str(project.pk), "name": name, "owner": str(owner.pk), "settings_sha256": json_hash(settings)},
    )
    return project


@transaction.atomic
def project_update(
    *, project: Project, actor: User | None, name: str = UNSET, description: str = UNSET, settings: dict = UNSET
) -> Project:
    project = project_for_write(project_id=project.pk, actor=actor)
    before: dict = {}
    after: dict = {}
    if name is not UNSET:
        name = require_name(name)
        if name != project.name:
            before["name"], after["name"] = project.name, name
            project.name = name
    if description is not UNSET and description != project.description:
        before["description"], after["description"] = project.description, description or ""
        project.description = description or ""
    if settings is not UNSET:
        settings = require_object(settings, "settings")
        if settings != project.settings:
            before["settings_sha256"], after["settings_sha256"] = json_hash(project.settings), json_hash(settings)
            project.settings = settings
    if not after:
        return project
    try:
        with transaction.atomic():
            project.save(update_fields=[k.removesuffix("_sha256") for k in after] + ["updated_at"])
    except IntegrityError:
        raise Conflict("The owner already has a project with this name.", details={"name": ["already used"]}) from None
    audit_record(
        entity="project",
        action="update",
        actor=actor,
        payload={"id": str(project.pk), "before": before, "after": after},
    )
    return project


def _set_archived(*, project: Project, actor: User | None, archived: bool) -> Project:
    check_can_write(actor)
    locked = Project.objects.select_for_update().filter(pk=project.pk).first()
    if locked is None or (actor is not None and not actor.is_admin_role and locked.owner_id != actor.pk):
        raise NotFound("Project not found.")
    if locked.archived == archived:
        return locked
    locked.archived = archived
    locked.save(update_fields=["archived", "updated_at"])
    audit_record(
        entity="project",
        action="archive" if archived else "unarchive",
        actor=actor,
        payload={"id": str(locked.pk), "before": {"archived": not archived}, "after": {"archived": archived}},
    )
    return locked


@transaction.atomic
def project_archive(*, project: Project, actor: User | None) -> Project:
    """Make the project read-only. Waits for writes in flight (they hold share locks)."""
    return _set_archived(project=project, actor=actor, archived=True)


@transaction.atomic
def project_unarchive(*, project: Project, actor: User | None) -> Project:
    return _set_archived(project=project, actor=actor, archived=False)


@transaction.atomic
def project_delete(*, project: Project, actor: User | None) -> None:
    """Delete a project that holds nothing worth keeping. A project with experiments (or
    anything else that references it) is archived instead: 409 conflict."""
    project = project_for_write(project_id=project.pk, actor=actor)
    locked = Project.objects.select_for_update().get(pk=project.pk)
    payload = {"id": str(locked.pk), "name": locked.name, "owner": str(locked.owner_id)}
    try:
        with transaction.atomic():
            locked.delete()
    except (ProtectedError, IntegrityError):
        raise Conflict("The project has experiments or other records; archive it instead.") from None
    audit_record(entity="project", action="delete", actor=actor, payload=payload)
