"""experiments.jsonl → experiments with their evaluations (experiments.services
.experiments_import): the project by its legacy slug, the creator by e-mail, the AI
verdict of each evaluation computed by Tristate's rules (the legacy verdict is kept in
the evaluation's `checks`). An evaluation that breaks a rule rejects its experiment
(never a partial experiment)."""

from __future__ import annotations

from legacy import values
from legacy.bulk.experiments import EvaluationImport, ExperimentImport, experiments_import
from legacy.kinds.base import Context, Item, Pending
from legacy.models import RecordKind
from legacy.reader import RawRecord


def evaluations_in(data) -> int:
    """How many evaluations a record carries (counted as read whatever becomes of them)."""
    evaluations = data.get("evaluations") if isinstance(data, dict) else None
    return len(evaluations) if isinstance(evaluations, list) else 0


def _evaluation(n: int, e, ctx: Context) -> EvaluationImport:
    if not isinstance(e, dict):
        raise values.Reject(f"evaluations[{n}] must be a JSON object")
    try:
        override = values.field(e, "override", required=False)
        return EvaluationImport(
            metrics=values.obj(e, "metrics"),
            confidence=values.field(e, "confidence"),
            evaluated_at=values.time(e, "evaluated_at", now=ctx.now),
            recorded_verdict=values.field(e, "verdict", required=False),
            override=override,
            override_reason=values.text(e, "override_reason", required=False),
        )
    except values.Reject as exc:
        raise values.Reject(f"evaluations[{n}]: {exc.reason}") from None


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    legacy_id = values.text(d, "id", max_length=500).strip()
    dataset = values.field(d, "dataset_id", required=False, default="")
    if not isinstance(dataset, str):
        raise values.Reject("field 'dataset_id' must be text")
    experiment = {
        "project": values.text(d, "project", max_length=500).strip(),
        "created_by": values.email(d, "created_by"),
        "name": values.text(d, "name"),
        "description": values.text(d, "description", required=False),
        "config": values.obj(d, "config"),
        "dataset_id": dataset,
        "status": values.text(d, "status"),
        "created_at": values.time(d, "created_at", now=ctx.now),
        "started_at": values.time(d, "started_at", required=False, now=ctx.now),
        "completed_at": values.time(d, "completed_at", required=False, now=ctx.now),
        "evaluations": tuple(_evaluation(n, e, ctx) for n, e in enumerate(values.array(d, "evaluations"))),
    }
    return Item(key=legacy_id, digest=values.digest_text(rec.text), rec=rec, value=experiment)


def write(items: list[Item], ctx: Context) -> list:
    projects = ctx.targets(RecordKind.PROJECT, (it.value["project"] for it in items))
    users = ctx.users(it.value["created_by"] for it in items)
    pending = Pending(items)
    for index, it in enumerate(items):
        e = it.value
        project, creator = projects.get(e["project"]), users.get(e["created_by"])
        if project is None:
            pending.refuse(index, f"project {e['project']!r} does not exist (not in the export, or rejected)")
        elif creator is None:
            pending.refuse(index, f"created_by {e['created_by']} does not exist (not in the export, or rejected)")
        else:
            fields = {k: v for k, v in e.items() if k not in ("project", "created_by")}
            pending.add(index, ExperimentImport(project_id=project, created_by_id=creator, **fields))
    if not pending.rows:
        return pending.results
    return pending.finish(experiments_import(experiments=pending.rows, actor=ctx.actor, context=ctx.audit_context()))
