"""Writes of the projects app: atomic, validated, audited in the same transaction.

Audit payloads carry ids, changed fields and SHA-256 hashes of JSON documents
(model_config, settings) rather than the documents themselves: configs are arbitrary
user JSON and may hold keys the audit log refuses to store (anything named like a secret).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from audits.services import audit_record
from core import canonical
from core.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from projects.models import (
    Baseline,
    HistoryAction,
    Operator,
    Policy,
    Project,
    ProjectPolicy,
    Tag,
    Version,
    VersionHistory,
)
from projects.selectors import check_can_write, project_for_write

UNSET: Any = object()

# Limits shared with the API serializers and the legacy importer.
NAME_MAX = 200
METRIC_KEY_MAX = 100
THRESHOLD_MAX_DIGITS = 24
THRESHOLD_DECIMALS = 8


def json_hash(value) -> str:
    return canonical.sha256_hex(value)


def _require_object(value, field: str) -> dict:
    if not isinstance(value, dict):
        raise ValidationFailed.field(field, "Must be a JSON object.")
    try:
        canonical.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed.field(field, f"Not storable JSON: {exc}") from None
    return value


def _require_name(value, field: str = "name", max_length: int = NAME_MAX) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.field(field, "This field may not be blank.")
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed.field(field, f"At most {max_length} characters.")
    return value


def _require_admin(actor, what: str) -> None:
    if actor is not None and not actor.is_admin_role:
        raise PermissionDenied(f"Only administrators may {what}.")


# ---------------------------------------------------------------------------------------
# Projects


@transaction.atomic
def project_create(*, owner, name: str, actor, description: str = "", settings: dict | None = None) -> Project:
    """Create a project and its v1/v2/v3 versions (empty model_config)."""
    check_can_write(actor)
    if actor is not None and not actor.is_admin_role and owner.pk != actor.pk:
        raise PermissionDenied("Only administrators create projects for other users.")
    if not owner.can_write:
        raise ValidationFailed.field("owner", "A viewer cannot own projects.")
    name = _require_name(name)
    settings = _require_object(settings if settings is not None else {}, "settings")
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
    *, project: Project, actor, name: str = UNSET, description: str = UNSET, settings: dict = UNSET
) -> Project:
    project = project_for_write(project_id=project.pk, actor=actor)
    before: dict = {}
    after: dict = {}
    if name is not UNSET:
        name = _require_name(name)
        if name != project.name:
            before["name"], after["name"] = project.name, name
            project.name = name
    if description is not UNSET and description != project.description:
        before["description"], after["description"] = project.description, description or ""
        project.description = description or ""
    if settings is not UNSET:
        settings = _require_object(settings, "settings")
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


def _set_archived(*, project: Project, actor, archived: bool) -> Project:
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
def project_archive(*, project: Project, actor) -> Project:
    """Make the project read-only. Waits for writes in flight (they hold share locks)."""
    return _set_archived(project=project, actor=actor, archived=True)


@transaction.atomic
def project_unarchive(*, project: Project, actor) -> Project:
    return _set_archived(project=project, actor=actor, archived=False)


@transaction.atomic
def project_delete(*, project: Project, actor) -> None:
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


# ---------------------------------------------------------------------------------------
# Versions and their history


def _lock_version(version_id) -> Version:
    return Version.objects.select_for_update().get(pk=version_id)


def version_apply_config(
    *,
    version: Version,
    model_config: dict,
    actor,
    action: str,
    reason: str = "",
    from_tag: str | None = None,
    to_tag: str | None = None,
    promoted: bool = False,
) -> Version:
    """Set a version's model_config and write its version_history row (and audit entry),
    in the caller's transaction. The building block of version_update, promotion
    completion and quarantine; the caller has checked permissions and the project."""
    if action not in HistoryAction.values:
        raise ValidationFailed.field("action", f"Unknown history action '{action}'.")
    model_config = _require_object(model_config, "model_config")
    with transaction.atomic():
        locked = _lock_version(version.pk)
        before_hash = json_hash(locked.model_config)
        locked.model_config = model_config
        fields = ["model_config", "updated_at"]
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


@transaction.atomic
def version_update(
    *, version: Version, actor, model_config: dict = UNSET, changelog: str = UNSET, reason: str = ""
) -> Version:
    """Edit a version by hand. model_config of v1 is the owner's to edit; v2 (production)
    and v3 (quarantine) change through promotion and quarantine, and by hand only by an
    administrator. Every model_config change writes version_history ('updated')."""
    project_for_write(project_id=version.project_id, actor=actor)
    if model_config is not UNSET and version.tag != Tag.V1:
        _require_admin(actor, f"edit the {version.tag} model_config directly (use promotion)")
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
    if model_config is not UNSET and model_config != locked.model_config:
        locked = version_apply_config(
            version=locked, model_config=model_config, actor=actor, action=HistoryAction.UPDATED, reason=reason
        )
    return locked


# ---------------------------------------------------------------------------------------
# Baselines


def _threshold(value) -> Decimal:
    if isinstance(value, bool):
        raise ValidationFailed.field("threshold", "A number is required.")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed.field("threshold", "A number is required.") from None
    if not number.is_finite():
        raise ValidationFailed.field("threshold", "A finite number is required.")
    quantized = number.quantize(Decimal(1).scaleb(-THRESHOLD_DECIMALS))
    if quantized != number or len(quantized.as_tuple().digits) > THRESHOLD_MAX_DIGITS:
        raise ValidationFailed.field(
            "threshold", f"At most {THRESHOLD_MAX_DIGITS} digits, {THRESHOLD_DECIMALS} after the point."
        )
    return number


def _operator(value) -> str:
    if value not in Operator.values:
        raise ValidationFailed.field("operator", f"One of {', '.join(Operator.values)}.")
    return value


def _baseline_view(b: Baseline) -> dict:
    return {
        "metric_key": b.metric_key,
        "operator": b.operator,
        "threshold": str(b.threshold),
        "active": b.active,
        "snapshot_id": b.snapshot_id,
    }


@transaction.atomic
def baseline_create(
    *,
    project: Project,
    metric_key: str,
    operator: str,
    threshold,
    actor,
    snapshot_id: str = "",
    active: bool = True,
) -> Baseline:
    project = project_for_write(project_id=project.pk, actor=actor)
    baseline = Baseline.objects.create(
        project=project,
        metric_key=_require_name(metric_key, "metric_key", METRIC_KEY_MAX),
        operator=_operator(operator),
        threshold=_threshold(threshold),
        snapshot_id=snapshot_id or "",
        active=bool(active),
    )
    audit_record(
        entity="baseline",
        action="create",
        actor=actor,
        payload={"id": str(baseline.pk), "project": str(project.pk), "after": _baseline_view(baseline)},
    )
    return baseline


@transaction.atomic
def baseline_update(
    *,
    baseline: Baseline,
    actor,
    metric_key: str = UNSET,
    operator: str = UNSET,
    threshold=UNSET,
    snapshot_id: str = UNSET,
    active: bool = UNSET,
) -> Baseline:
    project_for_write(project_id=baseline.project_id, actor=actor)
    locked = Baseline.objects.select_for_update().get(pk=baseline.pk)
    before = _baseline_view(locked)
    if metric_key is not UNSET:
        locked.metric_key = _require_name(metric_key, "metric_key", METRIC_KEY_MAX)
    if operator is not UNSET:
        locked.operator = _operator(operator)
    if threshold is not UNSET:
        locked.threshold = _threshold(threshold)
    if snapshot_id is not UNSET:
        locked.snapshot_id = snapshot_id or ""
    if active is not UNSET:
        locked.active = bool(active)
    after = _baseline_view(locked)
    if after == before:
        return locked
    locked.save()
    audit_record(
        entity="baseline",
        action="update",
        actor=actor,
        payload={"id": str(locked.pk), "project": str(locked.project_id), "before": before, "after": after},
    )
    return locked


@transaction.atomic
def baseline_delete(*, baseline: Baseline, actor) -> None:
    """Remove a baseline. Past evaluations keep the checks they were judged by."""
    project_for_write(project_id=baseline.project_id, actor=actor)
    payload = {"id": str(baseline.pk), "project": str(baseline.project_id), "before": _baseline_view(baseline)}
    deleted, _ = Baseline.objects.filter(pk=baseline.pk).delete()
    if not deleted:
        raise NotFound("Baseline not found.")
    audit_record(entity="baseline", action="delete", actor=actor, payload=payload)


# ---------------------------------------------------------------------------------------
# Policies (admin-managed catalogue) and their attachment to projects


def _policy_view(p: Policy) -> dict:
    return {
        "name": p.name,
        "description": p.description,
        "active": p.active,
        "rego_sha256": canonical.sha256_hex(p.rego_code),
    }


@transaction.atomic
def policy_create(*, name: str, rego_code: str, actor, description: str = "", active: bool = True) -> Policy:
    _require_admin(actor, "manage policies")
    if not isinstance(rego_code, str) or not rego_code.strip():
        raise ValidationFailed.field("rego_code", "The Rego source may not be blank.")
    try:
        with transaction.atomic():
            policy = Policy.objects.create(
                name=_require_name(name), rego_code=rego_code, description=description or "", active=bool(active)
            )
    except IntegrityError:
        raise Conflict("A policy with this name exists.", details={"name": ["already used"]}) from None
    audit_record(
        entity="policy", action="create", actor=actor, payload={"id": str(policy.pk), "after": _policy_view(policy)}
    )
    return policy


@transaction.atomic
def policy_update(
    *, policy: Policy, actor, name: str = UNSET, rego_code: str = UNSET, description: str = UNSET, active: bool = UNSET
) -> Policy:
    _require_admin(actor, "manage policies")
    locked = Policy.objects.select_for_update().get(pk=policy.pk)
    before = _policy_view(locked)
    if name is not UNSET:
        locked.name = _require_name(name)
    if rego_code is not UNSET:
        if not isinstance(rego_code, str) or not rego_code.strip():
            raise ValidationFailed.field("rego_code", "The Rego source may not be blank.")
        locked.rego_code = rego_code
    if description is not UNSET:
        locked.description = description or ""
    if active is not UNSET:
        locked.active = bool(active)
    after = _policy_view(locked)
    if after == before:
        return locked
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        raise Conflict("A policy with this name exists.", details={"name": ["already used"]}) from None
    audit_record(
        entity="policy", action="update", actor=actor, payload={"id": str(locked.pk), "before": before, "after": after}
    )
    return locked


@transaction.atomic
def policy_delete(*, policy: Policy, actor) -> None:
    """Delete a policy attached to no project (detach it first, or deactivate it)."""
    _require_admin(actor, "manage policies")
    payload = {"id": str(policy.pk), "before": _policy_view(policy)}
    try:
        with transaction.atomic():
            Policy.objects.filter(pk=policy.pk).delete()
    except (ProtectedError, IntegrityError):
        raise Conflict("The policy is attached to projects; detach it or deactivate it.") from None
    audit_record(entity="policy", action="delete", actor=actor, payload=payload)


@transaction.atomic
def project_policy_attach(*, project: Project, policy: Policy, actor) -> ProjectPolicy:
    project = project_for_write(project_id=project.pk, actor=actor)
    policy = Policy.objects.filter(pk=policy.pk).first()
    if policy is None:
        raise NotFound("Policy not found.")
    if not policy.active:
        raise ValidationFailed.field("policy", "This policy is inactive.")
    try:
        with transaction.atomic():
            link = ProjectPolicy.objects.create(project=project, policy=policy, attached_by=actor)
    except IntegrityError:
        raise Conflict("The policy is already attached to this project.") from None
    audit_record(
        entity="project_policy",
        action="attach",
        actor=actor,
        payload={"id": str(link.pk), "project": str(project.pk), "policy": str(policy.pk), "policy_name": policy.name},
    )
    return link


@transaction.atomic
def project_policy_detach(*, project: Project, policy: Policy, actor) -> None:
    project = project_for_write(project_id=project.pk, actor=actor)
    deleted, _ = ProjectPolicy.objects.filter(project=project, policy=policy).delete()
    if not deleted:
        raise NotFound("The policy is not attached to this project.")
    audit_record(
        entity="project_policy",
        action="detach",
        actor=actor,
        payload={"project": str(project.pk), "policy": str(policy.pk), "policy_name": policy.name},
    )
