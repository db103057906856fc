"""policies.json → projects' policy catalogue (projects.services.policies_import).
A policy name that already exists is kept as it is (already present)."""

from __future__ import annotations

from legacy import values
from legacy.bulk.projects import PolicyImport, policies_import
from legacy.kinds.base import Context, Item
from legacy.reader import RawRecord


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    name = values.text(d, "name", max_length=200).strip()
    policy = PolicyImport(
        name=name, rego_code=values.text(d, "rego"), description=values.text(d, "description", required=False)
    )
    return Item(key=name, digest=values.digest_text(rec.text), rec=rec, value=policy)


def write(items: list[Item], ctx: Context) -> list:
    return policies_import(policies=[it.value for it in items], actor=ctx.actor, context=ctx.audit_context())
