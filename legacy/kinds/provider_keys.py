"""provider_keys.jsonl → users' own API keys (legacy.bulk.providers.provider_keys_import).

`api_key` is `ENC:` + a Fernet token made with the legacy key (decrypted here with
--legacy-key / LEGACY_ENCRYPTION_KEY, then sealed under Tristate's envelope encryption),
or, in old rows, the plain key (sealed as it is). A value that does not decrypt is a
reject. The plaintext never leaves memory: not in the rejects report (the field is
masked there), not in the digest kept in the legacy-id map (computed without it), not
in audit entries (last four characters only)."""

from __future__ import annotations

from cryptography.fernet import InvalidToken

from legacy import values
from legacy.bulk.providers import ProviderKeyImport, provider_keys_import
from legacy.kinds.base import Context, Item, Pending
from legacy.reader import RawRecord

ENC_PREFIX = "ENC:"


def decrypt(value: str, ctx: Context) -> str:
    if not value.startswith(ENC_PREFIX):
        return value
    if ctx.fernets is None:
        raise values.Reject("api_key is encrypted (ENC:) but no legacy key was given (--legacy-key)")
    try:
        plain = ctx.fernets.decrypt(value[len(ENC_PREFIX) :].strip().encode("ascii"))
    except (InvalidToken, UnicodeEncodeError, ValueError, TypeError):
        raise values.Reject("api_key does not decrypt with the legacy key (ENC: value)") from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise values.Reject("api_key decrypts to bytes that are not text") from None


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    user = values.email(d, "user")
    provider_type = values.text(d, "provider_type")
    raw_key = values.field(d, "api_key")
    if not isinstance(raw_key, str):
        raise values.Reject("field 'api_key' must be text")
    key = ProviderKeyImport(
        user_id=user,
        provider_type=provider_type,
        provider_name=values.text(d, "provider_name"),
        model_name=values.text(d, "model_name", required=False),
        api_key=decrypt(raw_key, ctx),
    )
    fingerprint = values.digest({k: v for k, v in d.items() if k != "api_key"})
    return Item(key=f"{user}|{provider_type}", digest=fingerprint, rec=rec, value=key)


def write(items: list[Item], ctx: Context) -> list:
    users = ctx.users(it.value.user_id for it in items)
    pending = Pending(items)
    for index, it in enumerate(items):
        user_id = users.get(it.value.user_id)
        if user_id is None:
            pending.refuse(index, f"user {it.value.user_id} does not exist (not in the export, or rejected)")
        else:
            k = it.value
            pending.add(
                index,
                ProviderKeyImport(
                    user_id=user_id,
                    provider_type=k.provider_type,
                    provider_name=k.provider_name,
                    model_name=k.model_name,
                    api_key=k.api_key,
                ),
            )
    if not pending.rows:
        return pending.results
    return pending.finish(provider_keys_import(keys=pending.rows, actor=ctx.actor, context=ctx.audit_context()))
