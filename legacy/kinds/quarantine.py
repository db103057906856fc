"""quarantine.jsonl → quarantine records and their blacklist rows (experiments.services
.quarantines_import). The experiment is found by its legacy id; it must be quarantined
and the record's config must be the experiment's."""

from __future__ import annotations

from legacy import values
from legacy.bulk.experiments import QuarantineImport, quarantines_import
from legacy.kinds.base import Context, Item, Pending
from legacy.models import RecordKind
from legacy.reader import RawRecord


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    experiment = values.text(d, "experiment", max_length=500).strip()
    record = {
        "experiment": experiment,
        "config": values.obj(d, "config"),
        "reason": values.text(d, "reason"),
        "evidence": values.obj(d, "evidence", required=False),
        "failure_metrics": values.obj(d, "failure_metrics", required=False),
        "quarantined_at": values.time(d, "quarantined_at", now=ctx.now),
        "quarantined_by": values.email(d, "quarantined_by", required=False),
        "review_status": values.text(d, "review_status", required=False, default="quarantined"),
    }
    return Item(key=experiment, digest=values.digest_text(rec.text), rec=rec, value=record)


def write(items: list[Item], ctx: Context) -> list:
    experiments = ctx.targets(RecordKind.EXPERIMENT, (it.value["experiment"] for it in items))
    users = ctx.users(it.value["quarantined_by"] for it in items)
    pending = Pending(items)
    for index, it in enumerate(items):
        r = it.value
        experiment = experiments.get(r["experiment"])
        by = r["quarantined_by"]
        if experiment is None:
            pending.refuse(index, f"experiment {r['experiment']!r} does not exist (not in the export, or rejected)")
        elif by is not None and by not in users:
            pending.refuse(index, f"quarantined_by {by} does not exist (not in the export, or rejected)")
        else:
            fields = {k: v for k, v in r.items() if k not in ("experiment", "quarantined_by")}
            pending.add(
                index,
                QuarantineImport(experiment_id=experiment, quarantined_by_id=users.get(by) if by else None, **fields),
            )
    if not pending.rows:
        return pending.results
    return pending.finish(quarantines_import(records=pending.rows, actor=ctx.actor, context=ctx.audit_context()))
