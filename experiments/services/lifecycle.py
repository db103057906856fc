"""Experiments: creation (refused for a blacklisted config), descriptive edits, and
moves along the status machine (SPEC §4), plus the helpers the other workflows share
(the experiment's row lock, a move recorded in the audit log).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from audits.services import Reads, audit_record, audited
from core import canonical
from core.db import rows
from core.exceptions import ConfigBlacklisted, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from core.validation import clean_text
from experiments import rules
from experiments.models import ALLOWED_MOVES, Experiment, Status
from projects.models import Project
from projects.selectors import as_uuid, check_can_write, project_for_write, project_write_lock, refuse_unwritable
from quarantine.services.blacklist import blacklisted_after_shared_lock

UNSET: Any = object()

# Re-exported for callers (production, the legacy importer): one place for the rules.
config_hash = rules.config_hash
validate_config = rules.validate_config
compute_verdict = rules.compute_verdict

WORKFLOW_TARGETS: dict[str, str] = {
    Status.PROMOTED: "POST /api/v1/promotions/ (then approve and complete)",
    Status.QUARANTINED: "POST /api/v1/experiments/{id}/quarantine",
}


def json_sha(value) -> str:
    return canonical.sha256_hex(value)


def require_admin(actor, what: str) -> None:
    if actor is not None and not actor.is_admin_role:
        raise PermissionDenied(f"Only administrators may {what}.")


def require_person(actor, what: str) -> None:
    if actor is None:
        raise PermissionDenied(f"{what} needs a person to act.")


def cleaned_text(value, field: str, *, required: bool = False, max_length: int = 10_000) -> str:
    return clean_text(value, field, required=required, max_length=max_length)


# The experiment's row lock and its status as it is now, taken after the project's lock
# (the EXISTS reads `project` first): the order every experiment write locks in.
_HELD_CTE = (
    "held AS MATERIALIZED (SELECT status FROM experiments.experiments "
    "WHERE id = %s AND EXISTS (SELECT FROM project) FOR UPDATE)"
)


def _require_written(rowcount: int) -> None:
    # The checks before it passed, so the change matched its row: anything else is a bug,
    # and raising rolls back whatever the message wrote.
    if rowcount != 1:
        raise RuntimeError(f"an audited experiment write changed {rowcount} rows, not 1")


def experiment_lock(experiment_id) -> Experiment:
    try:
        return Experiment.objects.select_for_update(of=("self",)).get(pk=experiment_id)
    except Experiment.DoesNotExist:
        raise NotFound("Experiment not found.") from None


def _transition_fields(to: str, now) -> dict:
    fields = {"status": to, "updated_at": now}
    if to == Status.RUNNING:
        fields["started_at"] = now
    elif to in (Status.COMPLETED, Status.FAILED):
        fields["completed_at"] = now
    return fields


def _audited_move(experiment: Experiment, frm: str, to: str, actor, reads: Reads | None = None, **extra):
    """The move from `frm`, with its audit entry, as one statement after `reads`
    (audits.audited); returns its result and the fields it set. Writes nothing unless
    the status is still `frm`."""
    fields = _transition_fields(to, timezone.now())
    move = rows.update_statement(Experiment, experiment.pk, fields, where={"status": frm})
    payload = {"id": str(experiment.pk), "project": str(experiment.project_id), "from": frm, "to": to, **extra}
    return audited(move, reads=reads, entity="experiment", action="transition", actor=actor, payload=payload), fields


def experiment_move_locked(experiment: Experiment, to: str, actor, **extra) -> Experiment:
    """Move an experiment whose row the caller holds locked (FOR UPDATE)."""
    frm = experiment.status
    if to not in ALLOWED_MOVES[frm]:
        raise InvalidTransition(frm=frm, to=to, entity="experiment")
    result, fields = _audited_move(experiment, frm, to, actor, **extra)
    _require_written(result.written)
    for name, value in fields.items():
        setattr(experiment, name, value)
    return experiment


@transaction.atomic
def experiment_create(
    *,
    project: Project | uuid.UUID | str,
    name: str,
    config: dict,
    actor,
    description: str = "",
    dataset_id: str = "",
    created_by=None,
) -> Experiment:
    """Create an experiment in the project's v1 zone (`project`: a Project or its id).
    409 config_blacklisted when its config hash is blacklisted; 409 project_archived on
    an archived project; NotFound when `actor` may not see the project."""
    check_can_write(actor)
    creator = created_by or actor
    if creator is None:
        raise ValidationFailed.field("created_by", "An experiment needs its creator.")
    name = cleaned_text(name, "name", required=True, max_length=200)
    description = cleaned_text(description, "description", max_length=100_000)
    dataset_id = cleaned_text(dataset_id, "dataset_id", max_length=200)
    digest, text = rules.config_hash_and_text(config)
    project_id = as_uuid(getattr(project, "pk", project))
    experiment = Experiment(
        project_id=project_id,
        name=name,
        description=description,
        config=config,
        config_text=text,
        config_hash=digest,
        dataset_id=dataset_id,
        created_by=creator,
    )
    payload = {
        "id": str(experiment.pk),
        "project": str(project_id),
        "name": name,
        "config_hash": digest,
        "dataset_id": dataset_id,
        "status": experiment.status,
    }
    # One statement: the project's share lock, then the config-hash lock and the
    # blacklist read after it, then the row with its entry. The answers are checked
    # before the commit: a refused create is rolled back, row and entry with it.
    project_lock, project_params = project_write_lock(project_id=project_id, actor=actor)
    blacklisted, blacklisted_params = blacklisted_after_shared_lock(digest)
    reads = Reads(
        ctes=f"{project_lock}, blacklisted AS MATERIALIZED (SELECT {blacklisted} AS blacklisted FROM project)",
        params=[*project_params, *blacklisted_params],
        columns="project.owner_id, project.archived, blacklisted.blacklisted",
        source="project CROSS JOIN blacklisted",
    )
    insert = rows.insert_statement(experiment)
    result = audited(insert, reads=reads, entity="experiment", action="create", actor=actor, payload=payload)
    owner_id, archived, is_blacklisted = result.answers or (None, None, None)
    refuse_unwritable(owner_id, archived, actor)
    if is_blacklisted:
        raise ConfigBlacklisted(details={"config_hash": digest})
    _require_written(result.written)
    return rows.mark_saved(experiment)


@transaction.atomic
def experiment_update(
    *, experiment: Experiment, actor, name: str = UNSET, description: str = UNSET, dataset_id: str = UNSET
) -> Experiment:
    """Edit an experiment's descriptive fields. Its config is immutable (it is what the
    hash, the verdicts and the blacklist refer to): a new config is a new experiment."""
    project_for_write(project_id=experiment.project_id, actor=actor)
    locked = experiment_lock(experiment.pk)
    before, after = {}, {}
    for field, value, limit, required in (
        ("name", name, 200, True),
        ("description", description, 100_000, False),
        ("dataset_id", dataset_id, 200, False),
    ):
        if value is UNSET:
            continue
        value = cleaned_text(value, field, required=required, max_length=limit)
        if value != getattr(locked, field):
            before[field], after[field] = getattr(locked, field), value
            setattr(locked, field, value)
    if after:
        locked.save(update_fields=[*after, "updated_at"])
        audit_record(
            entity="experiment",
            action="update",
            actor=actor,
            payload={"id": str(locked.pk), "before": before, "after": after},
        )
    return locked


@transaction.atomic
def experiment_transition(*, experiment: Experiment, to: str, actor, reason: str = "") -> Experiment:
    """Move an experiment along the status machine (SPEC §4). The row is locked and its
    status read under the lock: of two concurrent moves from the same status exactly one
    wins, the other gets 409 invalid_transition. `promoted` and `quarantined` are reached
    only through their workflows (promotion, quarantine), which create the records they
    need. Three round trips: BEGIN, the locks with the UPDATE and its audit entry, COMMIT."""
    if to not in Status.values:
        raise ValidationFailed.field("to", f"Unknown status '{to}'.")
    if to in WORKFLOW_TARGETS:
        raise ValidationFailed.field("to", f"An experiment becomes '{to}' through {WORKFLOW_TARGETS[to]}.")
    reason = cleaned_text(reason, "reason", max_length=2000)
    frm = experiment.status
    if to not in ALLOWED_MOVES[frm]:
        raise InvalidTransition(frm=frm, to=to, entity="experiment")
    # One statement: the project's share lock (refuses an archived or invisible project),
    # the experiment's row lock and its status as it is now, then the move from the
    # status the caller saw, with its entry. Of two concurrent moves the second waits for
    # the first's row lock and then reads the status it left; its move matches no row and
    # it is refused, rolled back.
    project_lock, project_params = project_write_lock(project_id=experiment.project_id, actor=actor)
    reads = Reads(
        ctes=f"{project_lock}, {_HELD_CTE}",
        params=[*project_params, experiment.pk],
        columns="project.owner_id, project.archived, held.status",
        source="project LEFT JOIN held ON true",
    )
    result, fields = _audited_move(experiment, frm, to, actor, reads, **({"reason": reason} if reason else {}))
    owner_id, archived, current = result.answers or (None, None, None)
    refuse_unwritable(owner_id, archived, actor)
    if current is None:
        raise NotFound("Experiment not found.")
    if current != frm:
        raise InvalidTransition(frm=current, to=to, entity="experiment")
    _require_written(result.written)
    for name, value in fields.items():
        setattr(experiment, name, value)
    return experiment
