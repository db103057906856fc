"""Users' own API keys (bring your own key): stored under envelope encryption, revealed
only to the provider call that needs them, re-wrapped under a new master key."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.db import IntegrityError, transaction

from accounts.models import User
from audits.services import audit_record
from core import crypto
from core.exceptions import Conflict, NotFound, ValidationFailed
from providers.models import (
    ProviderType,
    UserProvider,
    key_context,
)
from providers.services.common import checked_text
from providers.types import RewrapReport

logger = logging.getLogger("tristate.providers")

# ---------------------------------------------------------------------------------------
# Users' API keys (bring your own key)

# Printable ASCII without spaces, as every provider's keys are. The message never echoes it.
_API_KEY_RE = re.compile(r"[\x21-\x7e]{8,1024}")
_API_KEY_RULE = "An API key is 8 to 1024 printable ASCII characters, without spaces."


def check_api_key(api_key: object) -> str:
    if not isinstance(api_key, str) or not _API_KEY_RE.fullmatch(api_key):
        raise ValidationFailed.field("api_key", _API_KEY_RULE)
    return api_key


_PROVIDER_TYPES = frozenset(ProviderType.values)


def check_provider_type(provider_type: object) -> str:
    if provider_type not in _PROVIDER_TYPES:
        raise ValidationFailed.field(
            "provider_type", f"Must be one of: {', '.join(ProviderType.values)}.", code="validation_error"
        )
    return provider_type


def _seal_into(row: UserProvider, api_key: str) -> None:
    envelope = crypto.seal(api_key, context=key_context(row.user_id, row.provider_type))
    row.encrypted_api_key = envelope.sealed
    row.encrypted_dek = envelope.wrapped_dek
    row.key_last_4_chars = api_key[-4:]


def _key_payload(row: UserProvider, **extra: object) -> dict:
    return {
        "id": str(row.pk),
        "user": str(row.user_id),
        "provider_type": row.provider_type,
        "last4": row.key_last_4_chars,
        **extra,
    }


@transaction.atomic
def provider_key_create(
    *,
    user: User,
    provider_type: str,
    provider_name: str,
    api_key: str,
    model_name: str = "",
    actor: User | None = None,
) -> UserProvider:
    """Seal and store a user's API key: a fresh data key, AES-256-GCM bound to (user,
    provider_type), the data key wrapped by the KMS. One key per user and provider type."""
    row = UserProvider(
        user=user,
        provider_type=check_provider_type(provider_type),
        provider_name=checked_text("provider_name", provider_name, max_length=100),
        model_name=checked_text("model_name", model_name or "", max_length=200, required=False),
        is_active=True,
    )
    _seal_into(row, check_api_key(api_key))
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            f"You already have a {provider_type} key; replace it with PATCH or delete it first.",
            details={"provider_type": ["A key for this provider type exists."]},
        ) from None
    audit_record(
        entity="user_provider",
        action="create",
        actor=actor if actor is not None else user,
        payload=_key_payload(row, provider_name=row.provider_name, model_name=row.model_name),
    )
    return row


@transaction.atomic
def provider_key_update(
    *,
    user_provider: UserProvider,
    actor: User | None,
    is_active: bool | None = None,
    api_key: str | None = None,
    provider_name: str | None = None,
    model_name: str | None = None,
) -> UserProvider:
    """Activate/deactivate, rename, or replace the key (a new data key is made; the old
    ciphertext is gone). provider_type is the key's identity and does not change."""
    row = UserProvider.objects.select_for_update().get(pk=user_provider.pk)
    changed: list[str] = []
    if is_active is not None and not isinstance(is_active, bool):
        raise ValidationFailed.field("is_active", "Must be a boolean.")
    if is_active is not None and is_active != row.is_active:
        row.is_active = is_active
        changed.append("is_active")
    if provider_name is not None:
        value = checked_text("provider_name", provider_name, max_length=100)
        if value != row.provider_name:
            row.provider_name = value
            changed.append("provider_name")
    if model_name is not None:
        value = checked_text("model_name", model_name, max_length=200, required=False)
        if value != row.model_name:
            row.model_name = value
            changed.append("model_name")
    if api_key is not None:
        _seal_into(row, check_api_key(api_key))
        changed += ["api_key"]
    if not changed:
        return row
    update_fields = [f for f in changed if f != "api_key"]
    if "api_key" in changed:
        update_fields += ["encrypted_api_key", "encrypted_dek", "key_last_4_chars"]
    row.save(update_fields=[*update_fields, "updated_at"])
    audit_record(
        entity="user_provider",
        action="update",
        actor=actor,
        payload=_key_payload(row, fields=changed, is_active=row.is_active),
    )
    return row


@transaction.atomic
def provider_key_delete(*, user_provider: UserProvider, actor: User | None) -> None:
    payload = _key_payload(user_provider)
    deleted, _ = UserProvider.objects.filter(pk=user_provider.pk).delete()
    if not deleted:
        raise NotFound("Key not found.")
    audit_record(entity="user_provider", action="delete", actor=actor, payload=payload)


@transaction.atomic
def provider_key_reveal(
    *,
    actor: User | None = None,
    purpose: str = "",
    user_provider: UserProvider | None = None,
    user: User | None = None,
    provider_type: str | None = None,
) -> str:
    """The plaintext API key, for the code that calls the provider. Audited (who, which
    key, why); never log or return it further. Give either `user_provider` or `user` and
    `provider_type`. Refuses inactive keys; a tampered or moved ciphertext raises
    core.crypto.DecryptionError (never garbage)."""
    if user_provider is None:
        if user is None or provider_type is None:
            raise ValidationFailed("provider_key_reveal needs user_provider, or user and provider_type.")
        user_provider = UserProvider.objects.filter(user=user, provider_type=provider_type).first()
        if user_provider is None:
            raise NotFound(f"No {provider_type} key is stored for this user.")
    if not user_provider.is_active:
        raise Conflict("This key is deactivated.")
    try:
        plaintext = crypto.open_envelope(
            crypto.Envelope(sealed=user_provider.encrypted_api_key, wrapped_dek=user_provider.encrypted_dek),
            context=user_provider.context,
        )
    except crypto.DecryptionError as exc:
        logger.error("user_providers row %s does not decrypt: %s", user_provider.pk, exc)
        raise
    audit_record(
        entity="user_provider",
        action="reveal",
        actor=actor,
        payload=_key_payload(user_provider, purpose=(purpose or "")[:200]),
    )
    return plaintext


def provider_keys_rewrap(
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    actor: User | None = None,
    progress: Callable[[int], None] | None = None,
) -> RewrapReport:
    """Re-wrap every user key's data key under the KMS's current master key; the sealed
    API keys are untouched. Batches of `batch_size`, each its own audited transaction,
    so an interrupted run resumes where it stopped (rows already under the current key
    are skipped). A row whose data key does not unwrap is reported, not touched."""
    if batch_size < 1:
        raise ValidationFailed.field("batch_size", "Must be at least 1.")
    kek_id = crypto.get_kms().current_key_id()
    prefix = f"{crypto.VERSION}:{kek_id}:"
    report = RewrapReport(kek_id=kek_id)
    last_pk = None
    while True:
        with transaction.atomic():
            qs = UserProvider.objects.exclude(encrypted_dek__startswith=prefix).order_by("pk")
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            batch = list(
                qs.select_for_update(of=("self",)).only("pk", "user_id", "provider_type", "encrypted_dek")[:batch_size]
            )
            if not batch:
                return report
            last_pk = batch[-1].pk
            done = []
            for row in batch:
                try:
                    row.encrypted_dek = crypto.rewrap(row.encrypted_dek, context=row.context)
                except crypto.DecryptionError as exc:
                    logger.error("rotate_kek: user_providers row %s cannot be re-wrapped: %s", row.pk, exc)
                    report.failed.append(str(row.pk))
                    continue
                done.append(row)
            if done and not dry_run:
                UserProvider.objects.bulk_update(done, ["encrypted_dek"])
                audit_record(
                    entity="user_provider",
                    action="rewrap",
                    actor=actor,
                    payload={"count": len(done), "kek_id": kek_id, "failed": len(batch) - len(done)},
                )
            report.rewrapped += len(done)
        if progress:
            progress(len(batch))
