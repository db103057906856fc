"""The provider catalog: create, update, delete catalog entries (names unique, audited)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from accounts.models import User
from audits.services import audit_record
from core.exceptions import Conflict, NotFound, ValidationFailed
from providers.models import (
    Provider,
)
from providers.services.common import checked_text, full_clean

# ---------------------------------------------------------------------------------------
# Catalog

PROVIDER_FIELDS = (
    "name",
    "provider_type",
    "model_name",
    "api_endpoint",
    "is_active",
    "is_platform_provided",
    "cost_per_1k_tokens",
    "max_tokens",
    "timeout_seconds",
)


def provider_name_taken(name: str, exclude_pk: uuid.UUID | None = None) -> bool:
    qs = Provider.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _name_conflict(name: str) -> Conflict:
    return Conflict(f"A provider named '{name}' already exists.", details={"name": ["Already taken."]})


def _provider_save(provider: Provider, *, update_fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            provider.save(update_fields=update_fields)
    except IntegrityError:
        # Lost a race on the name (the pre-check passed in both transactions).
        raise _name_conflict(provider.name) from None


@transaction.atomic
def provider_create(
    *,
    actor: User | None,
    name: str,
    provider_type: str,
    model_name: str,
    api_endpoint: str,
    is_active: bool = True,
    is_platform_provided: bool = False,
    cost_per_1k_tokens: Decimal = Decimal("0"),
    max_tokens: int = 4096,
    timeout_seconds: int = 30,
) -> Provider:
    provider = Provider(
        name=checked_text("name", name, max_length=100),
        provider_type=provider_type,
        model_name=checked_text("model_name", model_name, max_length=200),
        api_endpoint=api_endpoint,
        is_active=is_active,
        is_platform_provided=is_platform_provided,
        cost_per_1k_tokens=cost_per_1k_tokens,
        max_tokens=max_tokens,
        timeout_seconds=timeout_seconds,
    )
    full_clean(provider)
    if provider_name_taken(provider.name):
        raise _name_conflict(provider.name)
    _provider_save(provider)
    audit_record(
        entity="provider",
        action="create",
        actor=actor,
        payload={"id": str(provider.pk), **{f: getattr(provider, f) for f in PROVIDER_FIELDS}},
    )
    return provider


@transaction.atomic
def provider_update(*, provider: Provider, actor: User | None, **changes: object) -> Provider:
    unknown = set(changes) - set(PROVIDER_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown provider fields: {', '.join(sorted(unknown))}.")
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    if "name" in changes:
        changes["name"] = checked_text("name", changes["name"], max_length=100)
    if "model_name" in changes:
        changes["model_name"] = checked_text("model_name", changes["model_name"], max_length=200)
    before = {name: getattr(provider, name) for name in changes}
    for name, value in changes.items():
        setattr(provider, name, value)
    full_clean(provider)  # also turns "0.5" into Decimal("0.5"), so the comparison below is by value
    diff = {name: [old, getattr(provider, name)] for name, old in before.items() if old != getattr(provider, name)}
    if not diff:
        return provider
    if "name" in diff and provider_name_taken(provider.name, exclude_pk=provider.pk):
        raise _name_conflict(provider.name)
    _provider_save(provider, update_fields=[*diff, "updated_at"])
    audit_record(entity="provider", action="update", actor=actor, payload={"id": str(provider.pk), "changes": diff})
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider, actor: User | None) -> None:
    pk, name = str(provider.pk), provider.name
    try:
        with transaction.atomic():
            Provider.objects.filter(pk=provider.pk).select_for_update().get().delete()
    except Provider.DoesNotExist:
        raise NotFound("Provider not found.") from None
    except (ProtectedError, IntegrityError):
        raise Conflict(
            "This provider has recorded usage (or sessions) and cannot be deleted; deactivate it instead.",
            code="conflict",
        ) from None
    audit_record(entity="provider", action="delete", actor=actor, payload={"id": pk, "name": name})
