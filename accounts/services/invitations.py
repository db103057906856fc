"""Invitations: codes an admin creates (role, uses, expiry) and registration consumes."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts import tokens
from accounts.models import Invitation, Role, User
from accounts.types import AnyRequest
from audits.services import audit_record
from core.exceptions import ValidationFailed

INVITATION_MAX_USES = 10_000
INVITATION_DEFAULT_TTL = timedelta(days=7)
INVITATION_MAX_TTL = timedelta(days=365)


@transaction.atomic
def invitation_create(
    *,
    actor: User | None,
    role: str = Role.USER,
    max_uses: int = 1,
    expires_at: datetime | None = None,
    request: AnyRequest | None = None,
) -> tuple[Invitation, str]:
    """A new invitation and its code. The code is returned here only: the database
    keeps its SHA-256."""
    now = timezone.now()
    if role not in Role.values:
        raise ValidationFailed.field("role", f"Unknown role '{role}'.")
    if not isinstance(max_uses, int) or not 1 <= max_uses <= INVITATION_MAX_USES:
        raise ValidationFailed.field("max_uses", f"Between 1 and {INVITATION_MAX_USES}.")
    expires_at = expires_at or now + INVITATION_DEFAULT_TTL
    if expires_at <= now:
        raise ValidationFailed.field("expires_at", "Must be in the future.")
    if expires_at > now + INVITATION_MAX_TTL:
        raise ValidationFailed.field("expires_at", "At most one year ahead.")
    code = tokens.new_secret()
    invitation = Invitation.objects.create(
        code_hash=tokens.hash_secret(code),
        role=role,
        max_uses=max_uses,
        expires_at=expires_at,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        entity="invitation",
        action="create",
        actor=actor,
        payload={"id": str(invitation.pk), "role": role, "max_uses": max_uses, "expires_at": expires_at},
    )
    return invitation, code


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User | None, request: AnyRequest | None = None) -> Invitation:
    """Revoke an invitation (idempotent). The row stays, for the record."""
    updated = Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    invitation.refresh_from_db()
    if updated:
        audit_record(
            entity="invitation",
            action="revoke",
            actor=actor,
            payload={"id": str(invitation.pk), "uses": invitation.uses, "max_uses": invitation.max_uses},
        )
    return invitation


def invitation_consume(code: str) -> tuple[str, str]:
    """Take one use of an invitation: (invitation id, role). One conditional UPDATE, so
    `uses` never passes `max_uses` however many registrations race (the row lock
    serializes them and each re-checks the condition). Raises 400 with a distinct code."""
    code_hash = tokens.hash_secret(code)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts.invitations SET uses = uses + 1 "
            "WHERE code_hash = %s AND revoked_at IS NULL AND expires_at > now() AND uses < max_uses "
            "RETURNING id, role",
            [code_hash],
        )
        row = cursor.fetchone()
    if row:
        return str(row[0]), row[1]
    invitation = Invitation.objects.filter(code_hash=code_hash).first()
    if invitation is None:
        raise ValidationFailed.field("invitation_code", "This invitation code is not valid.", code="invitation_invalid")
    status = invitation.status()
    messages = {
        "revoked": ("This invitation was revoked.", "invitation_revoked"),
        "expired": ("This invitation has expired.", "invitation_expired"),
        "used_up": ("This invitation has been used up.", "invitation_used_up"),
    }
    message, code_name = messages.get(status, ("This invitation code is not valid.", "invitation_invalid"))
    raise ValidationFailed.field("invitation_code", message, code=code_name)
