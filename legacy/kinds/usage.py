"""usage/usage_<YYYY-MM>.jsonl → usage counters (legacy.bulk.providers.usage_import).

Lines carry no identity, so a line's legacy key is its place: "<file>:<line>" (a re-run
of the same export skips it; a line changed since is reported, not added twice). Lines
of the same (user, provider, model, date) add up. The catalog provider is found by
(provider type, model), or created inactive for the import."""

from __future__ import annotations

from typing import Any

from legacy import values
from legacy.bulk.providers import UsageImport, usage_import
from legacy.kinds.base import Context, Item, Pending
from legacy.reader import RawRecord


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    row: dict[str, Any] = {
        "user": values.email(d, "user"),
        "provider_type": values.text(d, "provider"),
        "model": values.text(d, "model"),
        "date": values.day(d, "date"),
        "requests": values.integer(d, "requests"),
        "tokens_input": values.integer(d, "tokens_in"),
        "tokens_output": values.integer(d, "tokens_out"),
        "cost_usd": values.decimal(d, "cost_usd"),
    }
    for name, legacy_name in (
        ("requests", "requests"),
        ("tokens_input", "tokens_in"),
        ("tokens_output", "tokens_out"),
        ("cost_usd", "cost_usd"),
    ):
        if row[name] < 0:
            raise values.Reject(f"field '{legacy_name}' is negative ({row[name]})")
    return Item(key=rec.source, digest=values.digest_text(rec.text), rec=rec, value=row)


def write(items: list[Item], ctx: Context) -> list:
    users = ctx.users(it.value["user"] for it in items)
    pending = Pending(items)
    for index, it in enumerate(items):
        u = it.value
        user_id = users.get(u["user"])
        if user_id is None:
            pending.refuse(index, f"user {u['user']} does not exist (not in the export, or rejected)")
        else:
            pending.add(index, UsageImport(user_id=user_id, **{k: v for k, v in u.items() if k != "user"}))
    if not pending.rows:
        return pending.results
    return pending.finish(usage_import(rows=pending.rows, actor=ctx.actor, context=ctx.audit_context()))
