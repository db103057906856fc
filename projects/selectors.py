"""Reads of the projects app, with visibility applied.

Visibility (docs/zones.md): an admin or a viewer sees every project; a user sees the
projects it owns; anyone else sees nothing. Another user's project is a 404, never a 403.
Other apps (experiments, production, the legacy importer) fetch projects through
`project_get` so they inherit the same rules, including "archived projects refuse writes".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.db import connection
from django.db.models import QuerySet

from core.db import bound, rows
from core.exceptions import NotFound, PermissionDenied, ProjectArchived, ValidationFailed
from projects.models import Baseline, Policy, Project, ProjectPolicy, Tag, Version, VersionHistory


def _active(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def sees_all_projects(user) -> bool:
    """Admins and viewers read everything in the zones; users only their own projects."""
    return _active(user) and user.role in ("admin", "viewer")


def visible_projects_filter(user, prefix: str = "") -> dict | None:
    """ORM filter kwargs restricting rows (reached through `prefix`) to projects `user` may
    see: {} for everything, None for nothing. Other apps' selectors reuse it, e.g.
    `visible_projects_filter(user, "project__")`."""
    if sees_all_projects(user):
        return {}
    if _active(user) and user.role == "user":
        return {f"{prefix}owner_id": user.pk}
    return None


def restrict_to_visible(queryset: QuerySet, user, prefix: str = "") -> QuerySet:
    flt = visible_projects_filter(user, prefix)
    if flt is None:
        return queryset.none()
    return queryset.filter(**flt) if flt else queryset


def as_uuid(value) -> uuid.UUID:
    """A UUID from user input, or NotFound (a malformed id names no object)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise NotFound() from None


def project_list(*, user) -> QuerySet[Project]:
    return restrict_to_visible(Project.objects.select_related("owner"), user)


def check_can_write(actor) -> None:
    """Viewers (and inactive users) write nothing. `actor=None` is the system (management
    commands, the legacy importer) and may write."""
    if actor is None:
        return
    if not _active(actor) or not actor.can_write:
        raise PermissionDenied("Your role does not allow changes.")


_PROJECT_FIELDS = Project._meta.concrete_fields
_PROJECT_LOCK_SQL = f"SELECT {rows.columns(_PROJECT_FIELDS)} FROM projects WHERE id = %s FOR SHARE"
# The same lock with only what the check reads, as the common table expression `project`
# of an audited write's statement (audits.services.Reads): writes that need no Project.
_PROJECT_LOCK_CTE = "project AS MATERIALIZED (SELECT owner_id, archived FROM projects WHERE id = %s FOR SHARE)"


def refuse_unwritable(owner_id, archived: bool | None, actor) -> None:
    """The write check of project_for_write on what its lock read (owner_id None: no
    such project)."""
    if owner_id is None or (actor is not None and not actor.is_admin_role and owner_id != actor.pk):
        raise NotFound("Project not found.")
    if archived:
        raise ProjectArchived()


def project_write_lock(*, project_id, actor) -> tuple[str, list]:
    """project_for_write's share lock as the common table expression `project` (columns
    owner_id, archived) of an audited write's statement, with its values; the caller
    passes what it read to refuse_unwritable before it commits (a refused write is rolled
    back with whatever the statement wrote). Refuses a viewer at once."""
    check_can_write(actor)
    return _PROJECT_LOCK_CTE, [as_uuid(project_id)]


def project_for_write(*, project_id, actor=None) -> Project:
    """The project, share-locked for the rest of the caller's transaction, if `actor` may
    write to it. Call inside the writing service's transaction.

    FOR SHARE conflicts with archiving (an UPDATE of the row): a write that passed this
    check commits before an archive can, and a write that starts after an archive
    committed sees archived=true. Refuses: a viewer (403), a user's access to another
    user's project (404), an archived project (409 project_archived)."""
    check_can_write(actor)
    row = bound.fetch_row(_PROJECT_LOCK_SQL, [as_uuid(project_id)])  # the primary: a lock is a write's
    if row is None:
        raise NotFound("Project not found.")
    project = rows.instance_from_row(Project, _PROJECT_FIELDS, row, connection.alias)
    refuse_unwritable(project.owner_id, project.archived, actor)
    return project


def project_get(*, user, pk, for_write: bool = False) -> Project:
    """The project `user` may see (NotFound otherwise). With for_write=True: also that
    `user` may write to it and it is not archived (ProjectArchived), holding a share
    lock for the caller's transaction (see project_for_write)."""
    if for_write:
        return project_for_write(project_id=pk, actor=user)
    try:
        return project_list(user=user).get(pk=as_uuid(pk))
    except Project.DoesNotExist:
        raise NotFound("Project not found.") from None


def version_list(*, project: Project) -> QuerySet[Version]:
    return Version.objects.filter(project=project).select_related("promoted_by").order_by("tag")


def version_get(*, project: Project, tag: str) -> Version:
    if tag not in Tag.values:
        raise NotFound(f"No version '{tag}': tags are v1, v2, v3.")
    try:
        return version_list(project=project).get(tag=tag)
    except Version.DoesNotExist:
        raise NotFound("Version not found.") from None


def version_get_by_id(*, user, pk) -> Version:
    qs = restrict_to_visible(Version.objects.select_related("project"), user, "project__")
    try:
        return qs.get(pk=as_uuid(pk))
    except Version.DoesNotExist:
        raise NotFound("Version not found.") from None


def version_history_list(*, version: Version) -> QuerySet[VersionHistory]:
    return (
        VersionHistory.objects.filter(version=version)
        .select_related("changed_by", "version")
        .order_by("-created_at", "-id")
    )


def version_config_at(*, version: Version, ts: datetime) -> dict:
    """The model_config `version` held at `ts`, from version_history: the newest change at
    or before ts; before any change, the config the version was created with ({}).
    NotFound when the version did not exist yet at ts."""
    if ts < version.created_at:
        raise NotFound("The version did not exist at that time.", details={"created_at": version.created_at})
    row = (
        VersionHistory.objects.filter(version=version, created_at__lte=ts)
        .select_related("changed_by")
        .order_by("-created_at", "-id")
        .first()
    )
    return {
        "version": version.pk,
        "project": version.project_id,
        "tag": version.tag,
        "ts": ts,
        "model_config": json.loads(row.model_config_text) if row else {},  # in its author's key order
        "history": row,
    }


def baseline_list(*, project: Project) -> QuerySet[Baseline]:
    return Baseline.objects.filter(project=project).order_by("metric_key", "created_at")


def baseline_get(*, project: Project, pk) -> Baseline:
    try:
        return baseline_list(project=project).get(pk=as_uuid(pk))
    except Baseline.DoesNotExist:
        raise NotFound("Baseline not found.") from None


def active_baselines(*, project_id) -> list[Baseline]:
    """The baselines experiments of this project are judged by (one indexed query)."""
    return list(Baseline.objects.filter(project_id=project_id, active=True).order_by("metric_key", "id"))


def policy_list() -> QuerySet[Policy]:
    return Policy.objects.all().order_by("name")


def policy_get(*, pk) -> Policy:
    try:
        return Policy.objects.get(pk=as_uuid(pk))
    except Policy.DoesNotExist:
        raise NotFound("Policy not found.") from None


def project_policy_list(*, project: Project) -> QuerySet[ProjectPolicy]:
    return ProjectPolicy.objects.filter(project=project).select_related("policy", "attached_by").order_by("created_at")


def parse_ts(value) -> datetime:
    """An aware datetime from an ISO 8601 query value, or ValidationFailed."""
    from django.utils import timezone
    from django.utils.dateparse import parse_date, parse_datetime

    from core.json_types import OUT_OF_RANGE, datetime_out_of_range

    text = (value or "").strip()
    if not text:
        raise ValidationFailed.field("ts", "Give ts as an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.")
    try:
        parsed = parse_datetime(text.replace(" ", "+", 1) if " " in text and "T" in text else text)
        if parsed is None:
            day = parse_date(text)
            if day is not None:
                parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationFailed.field("ts", f"'{text[:40]}' is not an ISO 8601 date-time.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    if datetime_out_of_range(parsed):  # parses, but overflows once converted to UTC
        raise ValidationFailed.field("ts", OUT_OF_RANGE)
    return parsed


# ---------------------------------------------------------------------------------------
# Extension point for the project detail: apps downstream of projects (experiments adds
# judge-vs-human agreement) register sections here in their AppConfig.ready(), so the
# dependency arrow keeps pointing experiments → projects.

DetailSection = Callable[[Project], dict]
_DETAIL_SECTIONS: dict[str, DetailSection] = {}


def register_detail_section(name: str, fn: DetailSection) -> None:
    _DETAIL_SECTIONS[name] = fn


def project_detail_sections(project: Project) -> dict:
    return {name: fn(project) for name, fn in sorted(_DETAIL_SECTIONS.items())}
