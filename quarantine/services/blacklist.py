"""The blacklist's one home: config hashes that may not run again, and the config-hash
advisory lock that orders every change of them.

An experiment is never created with a blacklisted config: creation takes the hash's lock
shared and then reads the blacklist (blacklisted_after_shared_lock); blacklisting
takes it exclusively (hash_lock). Rows are added by quarantining an experiment
(experiments.services.quarantining) or by an administrator, lifted by an administrator
(hand-added rows only) or by a passing re-evaluation (quarantine.services.reevaluation).
The Blacklist model is experiments'; its writes are all here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from audits.services import audit_record
from core import canonical
from core.exceptions import Conflict, PermissionDenied, ValidationFailed
from core.ids import uuid7
from core.locks import AdvisoryLock
from core.validation import clean_text
from experiments import rules
from experiments.models import Blacklist, ReviewStatus
from quarantine.models import QuarantineRecord

# Namespace of the config-hash advisory locks (two-key form: no clash with the
# single-bigint keys of the audit log).
HASH_LOCK_NAMESPACE = AdvisoryLock.CONFIG_HASH


def _require_admin(actor: User | None, what: str) -> None:
    # The system (actor None) may; a person must be an administrator.
    if actor is not None and not actor.is_admin_role:
        raise PermissionDenied(f"Only administrators may {what}.")


def _text(value: Any, field: str, *, required: bool = False, max_length: int = 10_000) -> str:
    return clean_text(value, field, required=required, max_length=max_length)


def hash_key(config_hash: str) -> int:
    return int(config_hash[:8], 16) - 2**31


def hash_lock(config_hash: str) -> None:
    """Transaction-scoped exclusive advisory lock on one config hash (see the module
    docstring); creation takes it shared, in blacklisted_after_shared_lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [HASH_LOCK_NAMESPACE, hash_key(config_hash)])


def blacklisted_after_shared_lock(config_hash: str) -> tuple[str, list]:
    """The shared config-hash lock, then whether the hash is blacklisted (a row not
    lifted): an SQL expression with its values, for the statement of an experiment's
    create (experiments.services.lifecycle). The blacklist must be read after the lock is
    granted, so that a blacklisting that held the lock and committed meanwhile is seen;
    inside one statement that takes a snapshot of its own, which the function
    experiments.blacklisted_after_shared_lock (migration experiments 0005) takes after
    the lock (test_races: creation waits for a blacklisting in flight, then sees it)."""
    return (
        "experiments.blacklisted_after_shared_lock(%s::integer, %s::integer, %s)",
        [int(HASH_LOCK_NAMESPACE), hash_key(config_hash), config_hash],
    )


def _blacklist_view(b: Blacklist) -> dict:
    return {
        "config_hash": b.config_hash,
        "review_status": b.review_status,
        "lifted": b.lifted_at is not None,
    }


def blacklist_upsert(
    *, config_hash: str, reason: str, evidence: dict, actor: User | None, now: datetime
) -> tuple[Blacklist, bool]:
    """Blacklist a hash (caller holds its exclusive hash lock): insert, re-activate a
    lifted row, or keep an active one as it is. Returns (row, changed)."""
    actor_id = getattr(actor, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO blacklist (id, created_at, updated_at, config_hash, reason, evidence, quarantined_at,
                                   quarantined_by_id, review_status, lift_reason)
            VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, 'pending', '')
            ON CONFLICT (config_hash) DO UPDATE SET
                reason = EXCLUDED.reason, evidence = EXCLUDED.evidence, quarantined_at = EXCLUDED.quarantined_at,
                quarantined_by_id = EXCLUDED.quarantined_by_id, review_status = 'pending', reviewed_by_id = NULL,
                reviewed_at = NULL, lifted_at = NULL, lifted_by_id = NULL, lift_reason = '',
                updated_at = EXCLUDED.updated_at
            WHERE blacklist.lifted_at IS NOT NULL
            RETURNING id
            """,
            [uuid7(), now, now, config_hash, reason, canonical.dumps(evidence), now, actor_id],
        )
        changed = cursor.fetchone() is not None
    entry = Blacklist.objects.get(config_hash=config_hash)
    if changed:
        audit_record(
            entity="blacklist",
            action="add",
            actor=actor,
            payload={
                "id": str(entry.pk),
                "config_hash": config_hash,
                "reason": reason,
                "after": _blacklist_view(entry),
            },
        )
    return entry, changed


@transaction.atomic
def blacklist_add(
    *, actor: User | None, reason: str, config: dict | None = None, config_hash: str | None = None, evidence: Any = None
) -> Blacklist:
    """An administrator blacklists a config (or its hash) directly. 409 when the hash is
    already blacklisted."""
    _require_admin(actor, "blacklist a configuration")
    reason = _text(reason, "reason", required=True, max_length=5000)
    evidence = rules.validate_config(evidence if evidence is not None else {}, "evidence")
    if config is not None:
        digest = rules.config_hash(config)
        if config_hash and config_hash != digest:
            raise ValidationFailed.field("config_hash", "Does not match the config's hash.")
    elif config_hash:
        digest = str(config_hash).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValidationFailed.field("config_hash", "64 hexadecimal characters (SHA-256).")
    else:
        raise ValidationFailed("Give a config or a config_hash.", details={"config": ["required"]})
    hash_lock(digest)
    entry, changed = blacklist_upsert(
        config_hash=digest, reason=reason, evidence=evidence, actor=actor, now=timezone.now()
    )
    if not changed:
        raise Conflict("This configuration is already blacklisted.", details={"blacklist": str(entry.pk)})
    return entry


def _blacklist_lift_locked(
    entry: Blacklist, *, actor: User | None, reason: str, review_status: str = ReviewStatus.REVIEWED
) -> Blacklist:
    now = timezone.now()
    entry.lifted_at = now
    entry.lifted_by = actor
    entry.lift_reason = reason
    entry.review_status = review_status
    entry.reviewed_by = actor
    entry.reviewed_at = now
    entry.save(
        update_fields=[
            "lifted_at",
            "lifted_by",
            "lift_reason",
            "review_status",
            "reviewed_by",
            "reviewed_at",
            "updated_at",
        ]
    )
    audit_record(
        entity="blacklist",
        action="lift",
        actor=actor,
        payload={
            "id": str(entry.pk),
            "config_hash": entry.config_hash,
            "reason": reason,
            "after": _blacklist_view(entry),
        },
    )
    return entry


@transaction.atomic
def blacklist_lift(*, entry: Blacklist, actor: User | None, reason: str) -> Blacklist:
    """An administrator lifts a blacklist entry that was added by hand. A quarantined
    configuration comes back only through an approved re-evaluation (409 otherwise)."""
    _require_admin(actor, "lift a blacklist entry")
    reason = _text(reason, "reason", required=True, max_length=5000)
    hash_lock(entry.config_hash)
    locked = Blacklist.objects.select_for_update().get(pk=entry.pk)
    if locked.lifted_at is not None:
        raise Conflict("This entry is already lifted.")
    if QuarantineRecord.objects.filter(config_hash=locked.config_hash).exists():
        raise Conflict(
            "This configuration is quarantined: it comes back only through an approved re-evaluation.",
            details={"config_hash": locked.config_hash},
        )
    return _blacklist_lift_locked(locked, actor=actor, reason=reason)


@transaction.atomic
def blacklist_review(*, entry: Blacklist, review_status: str, actor: User | None) -> Blacklist:
    _require_admin(actor, "review a blacklist entry")
    if review_status not in ReviewStatus.values:
        raise ValidationFailed.field("review_status", f"One of {', '.join(ReviewStatus.values)}.")
    locked = Blacklist.objects.select_for_update().get(pk=entry.pk)
    return _set_review_status(locked, review_status=review_status, actor=actor)


def _set_review_status(entry: Blacklist, *, review_status: str, actor: User | None) -> Blacklist:
    if entry.review_status == review_status:
        return entry
    before = entry.review_status
    entry.review_status = review_status
    fields = ["review_status", "updated_at"]
    if review_status == ReviewStatus.REVIEWED:
        entry.reviewed_by, entry.reviewed_at = actor, timezone.now()
        fields += ["reviewed_by", "reviewed_at"]
    entry.save(update_fields=fields)
    audit_record(
        entity="blacklist",
        action="review",
        actor=actor,
        payload={"id": str(entry.pk), "config_hash": entry.config_hash, "before": before, "after": review_status},
    )
    return entry


def blacklist_for_reevaluation(*, config_hash: str, actor: User | None, event: str) -> Blacklist | None:
    """Called by quarantine.services in its transaction, holding the hash lock:
    'appealed' (a re-evaluation was requested), 'reviewed' (rejected, or completed with
    a failing result) or 'lifted' (completed with a passing result)."""
    entry = Blacklist.objects.select_for_update().filter(config_hash=config_hash).first()
    if entry is None:
        return None
    if event == "appealed":
        return _set_review_status(entry, review_status=ReviewStatus.APPEALED, actor=actor)
    if event == "reviewed":
        return _set_review_status(entry, review_status=ReviewStatus.REVIEWED, actor=actor)
    if event == "lifted":
        if entry.lifted_at is not None:
            return entry
        return _blacklist_lift_locked(entry, actor=actor, reason="Re-evaluation passed: approved for retry.")
    raise ValueError(f"unknown blacklist event {event!r}")
