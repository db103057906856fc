"""Bulk import of projects, their versions, baselines and policies (the legacy import):
the rules of projects.services, set-based, one audit entry per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from audits.services import audit_record
from core import bulk
from core.exceptions import ValidationFailed
from core.ids import uuid7
from projects.models import Policy, Tag
from projects.services.baselines import baseline_operator, baseline_threshold
from projects.services.projects import METRIC_KEY_MAX, json_text, require_name, require_object

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

    results: list = [None] * len(policies)
    rows: list[tuple[int, str, PolicyImport]] = []
    first_of: dict[str, int] = {}
    for index, policy in enumerate(policies):
        try:
            name = require_name(policy.name)
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
    name = require_name(project.name)
    if not isinstance(project.description or "", str):
        raise ValidationFailed.field("description", "Must be text.")
    unknown = set(project.versions) - set(Tag.values)
    if unknown:
        raise ValidationFailed.field("versions", f"Unknown tag(s) {', '.join(sorted(map(str, unknown)))}.")
    versions = {}
    for tag in Tag.values:
        config, changelog = project.versions.get(tag, ({}, ""))
        config = require_object(config if config is not None else {}, f"versions.{tag}.model_config")
        if not isinstance(changelog or "", str):
            raise ValidationFailed.field(f"versions.{tag}.changelog", "Must be text.")
        versions[tag] = (config, changelog or "")
    baselines = []
    for n, b in enumerate(project.baselines):
        try:
            baselines.append(
                (
                    require_name(b.metric_key, "metric_key", METRIC_KEY_MAX),
                    baseline_operator(b.operator),
                    baseline_threshold(b.threshold),
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
                # As JSON strings (json_text): their key order survives the jsonb rows.
                version_rows.append([version_id, created, project_id, tag, json_text(config), changelog])
                if config:
                    history_rows.append([uuid7(), version_id, tag, json_text(config)])
            for metric_key, operator, threshold, active in baselines:
                baseline_rows.append([uuid7(), created, project_id, metric_key, operator, threshold, active])
            for policy_id in dict.fromkeys(project.policy_ids):
                link_rows.append([uuid7(), project_id, policy_id])
        if version_rows:
            cursor.execute(
                """
                INSERT INTO versions (id, created_at, updated_at, project_id, tag, model_config, model_config_text,
                                      changelog)
                SELECT (r->>0)::uuid, (r->>1)::timestamptz, %s, (r->>2)::uuid, r->>3, (r->>4)::jsonb, r->>4, r->>5
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [now, bulk.json_rows(version_rows)],
            )
        if history_rows:
            cursor.execute(
                """
                INSERT INTO version_history (id, created_at, version_id, changed_by_id, action, from_tag, to_tag,
                                             reason, model_config, model_config_text)
                SELECT (r->>0)::uuid, %s, (r->>1)::uuid, %s, 'updated', r->>2, r->>2, %s, (r->>3)::jsonb, r->>3
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
