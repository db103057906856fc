"""Users' quotas: set, change and delete the limits that override the defaults."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from audits.services import audit_record
from core.exceptions import NotFound, ValidationFailed
from providers.models import (
    UserQuota,
)
from providers.types import LIMIT_FIELDS

# ---------------------------------------------------------------------------------------
# Quotas

_MAX_COST_LIMIT = Decimal("999999999999")


def _has_more_than_6_decimals(amount: Decimal) -> bool:
    exponent = amount.as_tuple().exponent
    # A letter ("n", "N", "F") only for NaN and the infinities, refused before this.
    return not isinstance(exponent, int) or exponent < -6


def _clean_limits(values: dict[str, object]) -> dict[str, int | Decimal | None]:
    cleaned: dict[str, int | Decimal | None] = {}
    for name, value in values.items():
        if value is None:
            cleaned[name] = None
        elif name in ("daily_limit", "monthly_limit"):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2_147_483_647:
                raise ValidationFailed.field(name, "A whole number of requests, 0 or more (or null for the default).")
            cleaned[name] = value
        else:
            amount: Decimal | None
            try:
                amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
            except (InvalidOperation, ValueError):
                amount = None
            if (
                amount is None
                or not amount.is_finite()
                or amount < 0
                or amount > _MAX_COST_LIMIT
                or _has_more_than_6_decimals(amount)
            ):
                raise ValidationFailed.field(name, "A USD amount, 0 or more, with at most 6 decimals (or null).")
            cleaned[name] = amount
    return cleaned


def _quota_payload(quota: UserQuota, **extra: object) -> dict:
    return {"id": str(quota.pk), "user": str(quota.user_id), **{f: getattr(quota, f) for f in LIMIT_FIELDS}, **extra}


@transaction.atomic
def quota_set(
    *,
    user: User,
    actor: User | None,
    daily_limit: int | None = None,
    monthly_limit: int | None = None,
    daily_cost_limit: Decimal | None = None,
    monthly_cost_limit: Decimal | None = None,
) -> tuple[UserQuota, bool]:
    """Set (create or replace) a user's limits; None means the settings default.
    One INSERT ... ON CONFLICT, so concurrent admins cannot create two rows.
    Returns (quota, created)."""
    values = _clean_limits(
        {
            "daily_limit": daily_limit,
            "monthly_limit": monthly_limit,
            "daily_cost_limit": daily_cost_limit,
            "monthly_cost_limit": monthly_cost_limit,
        }
    )
    from core.ids import uuid7

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO providers.user_quotas AS q
                   (id, user_id, daily_limit, monthly_limit, daily_cost_limit, monthly_cost_limit,
                    created_at, updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (user_id) DO UPDATE SET
                   daily_limit = EXCLUDED.daily_limit, monthly_limit = EXCLUDED.monthly_limit,
                   daily_cost_limit = EXCLUDED.daily_cost_limit, monthly_cost_limit = EXCLUDED.monthly_cost_limit,
                   updated_at = EXCLUDED.updated_at
            RETURNING q.id, (q.xmax = 0)
            """,
            [uuid7(), user.pk, *values.values(), now, now],
        )
        pk, created = cursor.fetchone()
    quota = UserQuota.objects.get(pk=pk)
    audit_record(entity="user_quota", action="set", actor=actor, payload=_quota_payload(quota, created=created))
    return quota, created


@transaction.atomic
def quota_update(*, quota: UserQuota, actor: User | None, **changes: object) -> UserQuota:
    unknown = set(changes) - set(LIMIT_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown quota fields: {', '.join(sorted(unknown))}.")
    quota = UserQuota.objects.select_for_update().get(pk=quota.pk)
    cleaned = _clean_limits(changes)
    diff = {k: [getattr(quota, k), v] for k, v in cleaned.items() if getattr(quota, k) != v}
    if not diff:
        return quota
    for name, (_, value) in diff.items():
        setattr(quota, name, value)
    quota.save(update_fields=[*diff, "updated_at"])
    audit_record(
        entity="user_quota",
        action="update",
        actor=actor,
        payload={"id": str(quota.pk), "user": str(quota.user_id), "changes": diff},
    )
    return quota


@transaction.atomic
def quota_delete(*, quota: UserQuota, actor: User | None) -> None:
    """Back to the settings defaults."""
    payload = _quota_payload(quota)
    deleted, _ = UserQuota.objects.filter(pk=quota.pk).delete()
    if not deleted:
        raise NotFound("Quota not found.")
    audit_record(entity="user_quota", action="delete", actor=actor, payload=payload)
