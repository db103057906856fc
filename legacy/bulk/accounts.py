"""Bulk import of users and their settings (the legacy import): the rules of
user_create / user_update, set-based.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.hashers import identify_hasher, make_password
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role
from accounts.services.users import SETTINGS_MAX_BYTES, normalize_email
from audits.services import audit_record
from core import bulk, canonical
from core.exceptions import ValidationFailed
from core.ids import uuid7


@dataclass(frozen=True)
class UserImport:
    """An account to import. `password_hash` is already in Django's stored form (a legacy
    bcrypt hash goes through accounts.hashers.legacy_bcrypt_to_django); None means the
    account has no usable password until it is reset."""

    email: str
    role: str = Role.USER
    name: str = ""
    is_staff: bool = False
    verified: bool = False
    password_hash: str | None = None
    created_at: datetime | None = None
    last_login: datetime | None = None


_ROLES = frozenset(Role.values)


def _user_import_error(row: UserImport) -> tuple[str | None, str | None]:
    """(normalized e-mail, error) with user_create's rules."""
    try:
        email = normalize_email(row.email)
    except ValidationFailed:
        return None, f"email: not a valid e-mail address ({str(row.email)[:254]!r})"
    if row.role not in _ROLES:
        return email, f"role: unknown role {row.role!r}"
    if not isinstance(row.name, str) or len(row.name) > 200:
        return email, "name: at most 200 characters"
    if "\x00" in row.name:
        return email, "name: NUL characters are not allowed"
    if row.password_hash:
        try:
            identify_hasher(row.password_hash)
        except ValueError:
            return email, "password_hash: not a password hash this system can verify"
    return email, None


@transaction.atomic
def users_import(*, users: list[UserImport], actor, context: dict | None = None) -> list:
    """Create many accounts at once (legacy import): user_create's rules for every row
    (e-mail normalized and validated, known role, role=admin implies is_staff and
    is_superuser, a hash this system can verify or an unusable password), one
    INSERT ... ON CONFLICT (email) DO NOTHING for the lot, one audit entry for the batch.

    Returns one core.bulk.RowResult per row, in order: created (new id), existed (the
    e-mail already had an account, left untouched; also a repeat within `users`), or
    refused with the reason."""

    results: list = [None] * len(users)
    first_of: dict[str, int] = {}
    rows: list[tuple[int, str, UserImport]] = []
    for index, row in enumerate(users):
        email, error = _user_import_error(row)
        if error or email is None:  # no e-mail comes only with an error
            results[index] = bulk.refused(error or "email: missing")
        elif email in first_of:
            results[index] = ("same", first_of[email])
        else:
            first_of[email] = index
            rows.append((index, email, row))
    now = timezone.now()
    if rows:
        payload = []
        for _, email, row in rows:
            admin = row.role == Role.ADMIN
            payload.append(
                [
                    uuid7(),
                    email,
                    row.name,
                    row.role,
                    bool(row.is_staff) or admin,
                    admin,
                    bool(row.verified),
                    row.password_hash or make_password(None),
                    row.created_at or now,
                    row.last_login,
                ]
            )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO users (id, email, name, role, is_staff, is_superuser, verified, password, created_at,
                                   updated_at, last_login, totp_secret, totp_enabled, failed_login_attempts,
                                   settings, is_active)
                SELECT (r->>0)::uuid, r->>1, r->>2, r->>3, (r->>4)::bool, (r->>5)::bool, (r->>6)::bool, r->>7,
                       (r->>8)::timestamptz, %s, (r->>9)::timestamptz, '', false, 0, '{}'::jsonb, true
                FROM jsonb_array_elements(%s::jsonb) AS r
                ON CONFLICT (email) DO NOTHING
                RETURNING id, email
                """,
                [now, bulk.json_rows(payload)],
            )
            inserted = {email: user_id for user_id, email in cursor.fetchall()}
            missing = [email for _, email, _ in rows if email not in inserted]
            found = {}
            if missing:
                cursor.execute("SELECT email, id FROM users WHERE email = ANY(%s)", [missing])
                found = dict(cursor.fetchall())
        for index, email, _ in rows:
            if email in inserted:
                results[index] = bulk.created(inserted[email])
            else:
                results[index] = bulk.existing(found.get(email))
    for index, value in enumerate(results):
        if isinstance(value, tuple):
            results[index] = bulk.existing(results[value[1]].id)
    created_ids = [str(r.id) for r in results if r.ok and not r.existed]
    if created_ids:
        roles: dict[str, int] = {}
        for _, email, row in rows:
            if email in inserted:
                roles[row.role] = roles.get(row.role, 0) + 1
        audit_record(
            entity="user",
            action="import",
            actor=actor,
            payload={**(context or {}), "count": len(created_ids), "roles": roles, "ids": created_ids},
        )
    return results


@transaction.atomic
def user_settings_import(*, items: list[tuple], actor, context: dict | None = None) -> list:
    """Merge imported preferences into users' settings (legacy import): `items` are
    (user id, settings object). user_update's rules (a JSON object of at most
    SETTINGS_MAX_BYTES); keys the account already has keep their current value. One
    UPDATE for the lot, one audit entry. Returns one core.bulk.RowResult per item."""

    results: list = [None] * len(items)
    valid: list[tuple[int, object, str, dict]] = []
    for index, (user_id, value) in enumerate(items):
        if not isinstance(value, dict):
            results[index] = bulk.refused("settings: must be a JSON object")
            continue
        try:
            text = canonical.dumps(value)
        except (TypeError, ValueError) as exc:
            results[index] = bulk.refused(f"settings: not storable JSON ({exc})")
            continue
        if len(text.encode()) > SETTINGS_MAX_BYTES:
            results[index] = bulk.refused(f"settings: more than {SETTINGS_MAX_BYTES} bytes of JSON")
            continue
        valid.append((index, user_id, text, value))
    if valid:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE users SET settings = (r->1) || users.settings, updated_at = %s
                FROM jsonb_array_elements(%s::jsonb) AS r WHERE users.id = (r->>0)::uuid
                RETURNING users.id::text
                """,
                [timezone.now(), bulk.json_rows([[v[1], v[3]] for v in valid])],
            )
            updated = {row[0] for row in cursor.fetchall()}
        for index, user_id, _, _ in valid:
            results[index] = bulk.created(user_id) if str(user_id) in updated else bulk.refused("no such user")
    done = [str(r.id) for r in results if r.ok]
    if done:
        audit_record(
            entity="user",
            action="settings_import",
            actor=actor,
            payload={**(context or {}), "count": len(done), "ids": done},
        )
    return results
