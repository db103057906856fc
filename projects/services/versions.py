"""Zone versions (v1, v2, v3) of a project: their model config, applied with a history
row, and their descriptive fields.
"""

from __future__ import annotations

import json
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audits.services import audit_record
from core.exceptions import ValidationFailed
from projects.models import HistoryAction, Tag, Version, VersionHistory
from projects.selectors import project_for_write
from projects.services.projects import UNSET, json_hash, json_text, require_admin, require_object


def _lock_version(version_id: UUID) -> Version:
    return Version.objects.select_for_update().get(pk=version_id)


def version_apply_config(
    *,
    version: Version,
    model_config: dict,
    actor: User | None,
    action: str,
    reason: str = "",
    from_tag: str | None = None,
    to_tag: str | None = None,
    promoted: bool = False,
    model_config_text: str | None = None,
) -> Version:
    """Set a version's model_config and write its version_history row (and audit entry),
    in the caller's transaction. The building block of version_update, promotion
    completion and quarantine; the caller has checked permissions and the project.

    `model_config_text` is the same config as JSON text in its author's key order (an
    experiment's config_text); by default, model_config's own order. The database checks
    that both hold the same value."""
    if action not in HistoryAction.values:
        raise ValidationFailed.field("action", f"Unknown history action '{action}'.")
    model_config = require_object(model_config, "model_config")
    if model_config_text is None:
        model_config_text = json_text(model_config)
    with transaction.atomic():
        locked = _lock_version(version.pk)
        before_hash = json_hash(locked.model_config)
        locked.model_config = model_config
        locked.model_config_text = model_config_text
        fields = ["model_config", "model_config_text", "updated_at"]
        if promoted:
            locked.promoted_at = timezone.now()
            locked.promoted_by = actor
            fields += ["promoted_at", "promoted_by"]
        locked.save(update_fields=fields)
        entry = VersionHistory.objects.create(
            version=locked,
            changed_by=actor,
            action=action,
            from_tag=from_tag or locked.tag,
            to_tag=to_tag or locked.tag,
            reason=reason or "",
            model_config=model_config,
            model_config_text=model_config_text,
        )
        audit_record(
            entity="version",
            action=action,
            actor=actor,
            payload={
                "id": str(locked.pk),
                "project": str(locked.project_id),
                "tag": locked.tag,
                "history": str(entry.pk),
                "from_tag": entry.from_tag,
                "to_tag": entry.to_tag,
                "before": {"model_config_sha256": before_hash},
                "after": {"model_config_sha256": json_hash(model_config)},
                "reason": entry.reason,
            },
        )
    return locked


def _same_in_order(model_config: object, stored_text: str) -> bool:
    """Whether `model_config` is the stored config in the same key order. Another order is a
    change of what the version shows (and its history keeps it), though not of its hash.
    The stored text is re-serialised: rows backfilled from jsonb have jsonb's spacing."""
    return json_text(require_object(model_config, "model_config")) == json_text(json.loads(stored_text))


@transaction.atomic
def version_update(
    *, version: Version, actor: User | None, model_config: dict = UNSET, changelog: str = UNSET, reason: str = ""
) -> Version:
    """Edit a version by hand. model_config of v1 is the owner's to edit; v2 (production)
    and v3 (quarantine) change through promotion and quarantine, and by hand only by an
    administrator. Every model_config change writes version_history ('updated')."""
    project_for_write(project_id=version.project_id, actor=actor)
    if model_config is not UNSET and version.tag != Tag.V1:
        require_admin(actor, f"edit the {version.tag} model_config directly (use promotion)")
    locked = _lock_version(version.pk)
    if changelog is not UNSET and changelog != locked.changelog:
        before = locked.changelog
        locked.changelog = changelog or ""
        locked.save(update_fields=["changelog", "updated_at"])
        audit_record(
            entity="version",
            action="changelog",
            actor=actor,
            payload={"id": str(locked.pk), "tag": locked.tag, "before": before, "after": locked.changelog},
        )
    if model_config is not UNSET and not _same_in_order(model_config, locked.model_config_text):
        locked = version_apply_config(
            version=locked, model_config=model_config, actor=actor, action=HistoryAction.UPDATED, reason=reason
        )
    return locked
