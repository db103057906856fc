"""Writes of the projects app: atomic, validated, audited in the same transaction.

Audit payloads carry ids, changed fields and SHA-256 hashes of JSON documents
(model_config, settings) rather than the documents themselves: configs are arbitrary
user JSON and may hold keys the audit log refuses to store (anything named like a secret).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from audits.services import audit_record
from core import canonical
from core.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.ids import uuid7
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


# ---------------------------------------------------------------------------------------
# Bulk import (the legacy import): the rules above, set-based, one audit entry per batch

IMPORT_REASON = "Imported from the legacy store"


@dataclass(frozen=True)
class PolicyImport:
    name: str
    rego_code: str
    description: str = ""
    active: bool = True


@transaction.atomic
def policies_import(*, policies: list[PolicyImport], actor, context: dict | None = None) -> list:
    """Create many policies (legacy import) with policy_create's rules (a name, unique; a
    Rego source). A name that already exists is left as it is (`existed`). Returns one
    core.bulk.RowResult per policy, in order."""
    from core import bulk

    results: list = [None] * len(policies)
    rows: list[tuple[int, str, PolicyImport]] = []
    first_of: dict[str, int] = {}
    for index, policy in enumerate(policies):
        try:
            name = _require_name(policy.name)
            if not isinstance(policy.rego_code, str) or not policy.rego_code.strip():
                raise ValidationFailed.field("rego_code", "The Rego source may not be blank.")
            if not isinstance(policy.description or "", str):
                raise ValidationFailed.field("description", "Must be text.")
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        if name in first_of:
            results[index] = ("same", first_of[name])
            continue
        first_of[name] = index
        rows.append((index, name, policy))
    inserted: dict[str, object] = {}
    if rows:
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO policies (id, created_at, updated_at, name, description, rego_code, active)
                SELECT (r->>0)::uuid, %s, %s, r->>1, r->>2, r->>3, (r->>4)::bool
                FROM jsonb_array_elements(%s::jsonb) AS r
                ON CONFLICT (name) DO NOTHING
                RETURNING name, id
                """,
                [
                    now,
                    now,
                    bulk.json_rows(
                        [[uuid7(), name, p.description or "", p.rego_code, bool(p.active)] for _, name, p in rows]
                    ),
                ],
            )
            inserted = dict(cursor.fetchall())
            missing = [name for _, name, _ in rows if name not in inserted]
            found = {}
            if missing:
                cursor.execute("SELECT name, id FROM policies WHERE name = ANY(%s)", [missing])
                found = dict(cursor.fetchall())
        for index, name, _ in rows:
            results[index] = bulk.created(inserted[name]) if name in inserted else bulk.existing(found.get(name))
    for index, value in enumerate(results):
        if isinstance(value, tuple):
            results[index] = bulk.existing(results[value[1]].id)
    if inserted:
        audit_record(
            entity="policy",
            action="import",
            actor=actor,
            payload={**(context or {}), "count": len(inserted), "ids": [str(i) for i in inserted.values()]},
        )
    return results


@dataclass(frozen=True)
class BaselineImport:
    metric_key: str
    operator: str
    threshold: object
    active: bool = True


@dataclass(frozen=True)
class ProjectImport:
    """A project with the state of its zones: `versions` maps a tag to (model_config,
    changelog) (missing tags get an empty config), `policy_ids` are policies to attach."""

    owner_id: object
    name: str
    description: str = ""
    archived: bool = False
    created_at: datetime | None = None
    versions: dict = field(default_factory=dict)
    baselines: list = field(default_factory=list)
    policy_ids: list = field(default_factory=list)


def _project_import_checked(project: ProjectImport) -> tuple[str, dict, list]:
    name = _require_name(project.name)
    if not isinstance(project.description or "", str):
        raise ValidationFailed.field("description", "Must be text.")
    unknown = set(project.versions) - set(Tag.values)
    if unknown:
        raise ValidationFailed.field("versions", f"Unknown tag(s) {', '.join(sorted(map(str, unknown)))}.")
    versions = {}
    for tag in Tag.values:
        config, changelog = project.versions.get(tag, ({}, ""))
        config = _require_object(config if config is not None else {}, f"versions.{tag}.model_config")
        if not isinstance(changelog or "", str):
            raise ValidationFailed.field(f"versions.{tag}.changelog", "Must be text.")
        versions[tag] = (config, changelog or "")
    baselines = []
    for n, b in enumerate(project.baselines):
        try:
            baselines.append(
                (
                    _require_name(b.metric_key, "metric_key", METRIC_KEY_MAX),
                    _operator(b.operator),
                    _threshold(b.threshold),
                    bool(b.active),
                )
            )
        except ValidationFailed as exc:
            raise ValidationFailed(f"baselines[{n}]: {exc.message}", details=exc.details) from None
    return name, versions, baselines


@transaction.atomic
def projects_import(*, projects: list[ProjectImport], actor, context: dict | None = None) -> list:
    """Create many projects with their zones (legacy import): project_create's rules (a
    name unique per owner; the three versions v1/v2/v3), each version's model_config set
    with its version_history row ('updated', written now by `actor`: the import is what
    set it), baselines with baseline_create's rules, policies attached. Set-based: one
    INSERT per table for the batch, one audit entry. An owner's existing project of the
    same name refuses the row (never merged into). Returns core.bulk.RowResults in order."""
    from core import bulk

    results: list = [None] * len(projects)
    rows: list[tuple[int, ProjectImport, str, dict, list]] = []
    seen: set[tuple[str, str]] = set()
    policy_ids = {pid for p in projects for pid in p.policy_ids}
    known_policies: set = set()
    if policy_ids:
        known_policies = set(Policy.objects.filter(pk__in=policy_ids).values_list("pk", flat=True))
    for index, project in enumerate(projects):
        try:
            name, versions, baselines = _project_import_checked(project)
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        if any(pid not in known_policies for pid in project.policy_ids):
            results[index] = bulk.refused("policies: no such policy")
            continue
        owner_key = (str(project.owner_id), name)
        if owner_key in seen:
            results[index] = bulk.refused(f"name: the owner already has a project named {name!r}")
            continue
        seen.add(owner_key)
        rows.append((index, project, name, versions, baselines))
    if not rows:
        return results
    now = timezone.now()
    actor_id = getattr(actor, "pk", actor)
    ids = [uuid7() for _ in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO projects (id, created_at, updated_at, name, description, settings, archived, owner_id)
            SELECT (r->>0)::uuid, (r->>1)::timestamptz, %s, r->>2, r->>3, '{}'::jsonb, (r->>4)::bool, (r->>5)::uuid
            FROM jsonb_array_elements(%s::jsonb) AS r
            ON CONFLICT (owner_id, name) DO NOTHING
            RETURNING id
            """,
            [
                now,
                bulk.json_rows(
                    [
                        [pid, p.created_at or now, name, p.description or "", bool(p.archived), p.owner_id]
                        for pid, (_, p, name, _, _) in zip(ids, rows, strict=True)
                    ]
                ),
            ],
        )
        inserted = {row[0] for row in cursor.fetchall()}
        version_rows, history_rows, baseline_rows, link_rows = [], [], [], []
        for project_id, (index, project, name, versions, baselines) in zip(ids, rows, strict=True):
            if project_id not in inserted:
                results[index] = bulk.refused(f"name: the owner already has a project named {name!r}")
                continue
            results[index] = bulk.created(project_id)
            created = project.created_at or now
            for tag in Tag.values:
                config, changelog = versions[tag]
                version_id = uuid7()
                version_rows.append([version_id, created, project_id, tag, config, changelog])
                if config:
                    history_rows.append([uuid7(), version_id, tag, config])
            for metric_key, operator, threshold, active in baselines:
                baseline_rows.append([uuid7(), created, project_id, metric_key, operator, threshold, active])
            for policy_id in dict.fromkeys(project.policy_ids):
                link_rows.append([uuid7(), project_id, policy_id])
        if version_rows:
            cursor.execute(
                """
                INSERT INTO versions (id, created_at, updated_at, project_id, tag, model_config, changelog)
                SELECT (r->>0)::uuid, (r->>1)::timestamptz, %s, (r->>2)::uuid, r->>3, r->4, r->>5
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [now, bulk.json_rows(version_rows)],
            )
        if history_rows:
            cursor.execute(
                """
                INSERT INTO version_history (id, created_at, version_id, changed_by_id, action, from_tag, to_tag,
                                             reason, model_config)
                SELECT (r->>0)::uuid, %s, (r->>1)::uuid, %s, 'updated', r->>2, r->>2, %s, r->3
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [now, actor_id, IMPORT_REASON, bulk.json_rows(history_rows)],
            )
        if baseline_rows:
            cursor.execute(
                """
                INSERT INTO baselines (id, created_at, updated_at, project_id, metric_key, operator, threshold,
                                       snapshot_id, active)
                SELECT (r->>0)::uuid, (r->>1)::timestamptz, %s, (r->>2)::uuid, r->>3, r->>4, (r->>5)::numeric, '',
                       (r->>6)::bool
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [now, bulk.json_rows(baseline_rows)],
            )
        if link_rows:
            cursor.execute(
                """
                INSERT INTO project_policies (id, created_at, project_id, policy_id, attached_by_id)
                SELECT (r->>0)::uuid, %s, (r->>1)::uuid, (r->>2)::uuid, %s FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [now, actor_id, bulk.json_rows(link_rows)],
            )
    done = [str(r.id) for r in results if r is not None and r.ok]
    if done:
        audit_record(
            entity="project",
            action="import",
            actor=actor,
            payload={
                **(context or {}),
                "count": len(done),
                "ids": done,
                "versions_configured": len(history_rows),
                "baselines": len(baseline_rows),
                "policy_links": len(link_rows),
            },
        )
    return results
