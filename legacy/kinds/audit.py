"""audit/audit_<YYYY-MM>.jsonl → entries of the audit chain, with their original ts.

Events are appended in `ts` order across all the files (an external sort: a month's
file need not be in order, and an event may sit in another month's file), ties broken
by file and line. Each batch goes through audits.services.audit_record_many: the same
checks as audit_record (entity/action names, no secret-named payload keys, nothing jsonb
cannot hold), each old month's partition created on the way, ids in ts order so the
sequencer seals them in that order. The payload is the legacy payload, unchanged; the
legacy id is kept in the legacy-id map (with the entry's id). Each batch also records
one `legacy_import.audit_events` entry naming the ids it appended."""

from __future__ import annotations

from collections.abc import Iterator

from audits.services import AuditItem, audit_record, audit_record_many
from legacy import values
from legacy.kinds.base import Context, Item, Pending
from legacy.reader import RawRecord
from legacy.sorting import ExternalSorter


def by_ts(records: Iterator[RawRecord], ctx: Context) -> Iterator[RawRecord]:
    """The records in ts order; those without a usable ts come out first, with the reason."""
    sorter = ExternalSorter(run_bytes=ctx.extra.get("sort_run_bytes") or 32 * 1024 * 1024)
    try:
        for rec in records:
            if rec.error is None:
                try:
                    when = values.time(rec.data, "ts", now=ctx.now)
                except values.Reject as exc:
                    rec.error = exc.reason
            if rec.error is not None:
                yield rec
                continue
            sorter.add((values.ts_key(when), rec.file, rec.line), rec)
        yield from sorter.sorted()
    finally:
        sorter.close()


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    legacy_id = values.text(d, "id", max_length=500).strip()
    entity = values.text(d, "entity")
    action = values.text(d, "action")
    payload = values.obj(d, "payload", required=False)
    event = {
        "ts": values.time(d, "ts", now=ctx.now),
        "entity": entity,
        "action": action,
        "actor": values.email(d, "actor", required=False),
        "payload": payload,
    }
    return Item(key=legacy_id, digest=values.digest_text(rec.text), rec=rec, value=event)


def write(items: list[Item], ctx: Context) -> list:
    actors = ctx.users(it.value["actor"] for it in items)
    pending = Pending(items)
    for index, it in enumerate(items):
        e = it.value
        if e["actor"] is not None and e["actor"] not in actors:
            pending.refuse(index, f"actor {e['actor']} does not exist (not in the export, or rejected)")
        else:
            pending.add(
                index,
                AuditItem(
                    entity=e["entity"],
                    action=e["action"],
                    actor=actors.get(e["actor"]) if e["actor"] else None,
                    payload=e["payload"],
                    ts=e["ts"],
                ),
            )
    if not pending.rows:
        return pending.results
    results = audit_record_many(items=pending.rows)
    ids = [r.id for r in results if r.ok]
    if ids:
        audit_record(
            entity="legacy_import",
            action="audit_events",
            actor=ctx.actor,
            payload={**ctx.audit_context(), "count": len(ids), "first_id": ids[0], "last_id": ids[-1]},
        )
    return pending.finish(results)
