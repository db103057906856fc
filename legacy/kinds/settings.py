"""settings/<email>.json → the user's `settings` (accounts.services.user_settings_import).

The file name is the user's e-mail (matched case-insensitively); keys the account
already has keep their value."""

from __future__ import annotations

from legacy import values
from legacy.bulk.accounts import user_settings_import
from legacy.kinds.base import Context, Item, Pending
from legacy.reader import RawRecord


def prepare(rec: RawRecord, ctx: Context) -> Item:
    name = rec.file.rsplit("/", 1)[-1].removesuffix(".json").strip().lower()
    if "@" not in name:
        raise values.Reject(f"the file name {name!r} is not an e-mail address")
    return Item(key=name, digest=values.digest_text(rec.text), rec=rec, value=rec.data)


def write(items: list[Item], ctx: Context) -> list:
    users = ctx.users(it.key for it in items)
    pending = Pending(items)
    for index, it in enumerate(items):
        user_id = users.get(it.key)
        if user_id is None:
            pending.refuse(index, f"user {it.key} does not exist (not in the export, or rejected)")
        else:
            pending.add(index, (user_id, it.value))
    return pending.finish(
        user_settings_import(items=pending.rows, actor=ctx.actor, context=ctx.audit_context()) if pending.rows else []
    )
