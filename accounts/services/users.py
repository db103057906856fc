"""Users: the one way a user row is created, profile and admin edits (role, active,
staff, groups) and unlock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.hashers import identify_hasher, make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.models import EventStatus, RevokeReason, Role, SecurityAction, User
from accounts.services.events import security_event_record
from accounts.services.sessions import sessions_revoke_all
from accounts.types import AnyRequest
from audits.services import audit_record
from core.exceptions import Conflict, PermissionDenied, ValidationFailed

SITE_NAME = "Tristate"


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed.field("email", "Enter a valid e-mail address.") from None
    return email


def check_password_rules(password: str, user: User | None = None, field: str = "password") -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed("The password is too weak.", details={field: exc.messages}) from None


def hash_password(password: str) -> str:
    return make_password(password)


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    actor: User | None = None,
    name: str = "",
    role: str = Role.USER,
    verified: bool = False,
    is_staff: bool = False,
    is_superuser: bool = False,
    validate: bool = True,
    password_hash: str | None = None,
    **extra: Any,
) -> User:
    """Create a user. role=admin implies is_staff and is_superuser (the admin role is
    the whole console). Passwords are validated unless `validate=False`; a caller that
    already holds a hash (legacy import: `password_hash`, see accounts.hashers) passes
    that instead; with neither, the account has no usable password until it is reset."""
    email = normalize_email(email)
    if role not in Role.values:
        raise ValidationFailed.field("role", f"Unknown role '{role}'.")
    if len(name or "") > 200:
        raise ValidationFailed.field("name", "At most 200 characters.")
    if User.objects.filter(email=email).exists():
        raise Conflict("A user with this e-mail already exists.", details={"email": ["already registered"]})
    is_admin_role = role == Role.ADMIN
    user = User(
        email=email,
        name=name or "",
        role=role,
        verified=verified,
        is_staff=is_staff or is_admin_role,
        is_superuser=is_superuser or is_admin_role,
        **extra,
    )
    if password_hash:
        try:
            identify_hasher(password_hash)
        except ValueError:
            raise ValidationFailed.field("password_hash", "Not a password hash this system can verify.") from None
        user.password = password_hash
    elif password:
        if validate:
            check_password_rules(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError:  # a concurrent registration of the same address won
        raise Conflict("A user with this e-mail already exists.", details={"email": ["already registered"]}) from None
    audit_record(
        entity="user",
        action="create",
        actor=actor,
        payload={
            "id": str(user.pk),
            "email": email,
            "role": role,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "verified": verified,
        },
    )
    return user


ADMIN_FIELDS = ("role", "is_active", "verified", "is_staff")
PROFILE_FIELDS = ("name", "settings")
SETTINGS_MAX_BYTES = 32 * 1024


def _lock_admins_and_count_others(user: User) -> int:
    """Active admins other than `user`, counted under row locks (taken in pk order) so
    two admins demoting each other at once cannot both succeed."""
    admins = list(
        User.objects.select_for_update()
        .filter(role=Role.ADMIN, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return sum(1 for pk in admins if pk != user.pk)


@transaction.atomic
def user_update(*, user: User, actor: User | None, request: AnyRequest | None = None, **changes: Any) -> User:
    """Change a user's profile (name, settings: the user or an admin) or account
    (role, is_active, verified, is_staff: admins only).

    role=admin implies is_staff and is_superuser; leaving the admin role drops both
    unless is_staff is set in the same call. The last active admin cannot be demoted or
    deactivated (409). Deactivating revokes every session. Role changes and
    (de)activation are security events; everything is audited with before/after values.
    """
    unknown = set(changes) - set(ADMIN_FIELDS) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    if set(changes) & set(ADMIN_FIELDS) and actor is not None and getattr(actor, "role", None) != Role.ADMIN:
        raise PermissionDenied("Only administrators may change role, activity, verification or console access.")
    user = User.objects.select_for_update().get(pk=user.pk)

    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str) or len(name) > 200:
            raise ValidationFailed.field("name", "A text of at most 200 characters.")
    if "settings" in changes:
        value = changes["settings"]
        if not isinstance(value, dict):
            raise ValidationFailed.field("settings", "Settings are a JSON object.")
        if len(json.dumps(value)) > SETTINGS_MAX_BYTES:
            raise ValidationFailed.field("settings", f"Settings are limited to {SETTINGS_MAX_BYTES} bytes of JSON.")
    new_role = changes.get("role", user.role)
    if new_role not in Role.values:
        raise ValidationFailed.field("role", f"Unknown role '{new_role}'.")
    if new_role == Role.ADMIN:
        if changes.get("is_staff") is False:
            raise ValidationFailed.field("is_staff", "An administrator always has admin-console access.")
        changes["is_staff"] = True
        is_superuser = True
    elif user.role == Role.ADMIN:
        changes.setdefault("is_staff", False)
        is_superuser = False
    else:
        is_superuser = user.is_superuser

    stays_admin = new_role == Role.ADMIN and changes.get("is_active", user.is_active)
    if user.role == Role.ADMIN and user.is_active and not stays_admin and _lock_admins_and_count_others(user) == 0:
        raise Conflict("This is the last active administrator: promote another one first.")

    before = {field: getattr(user, field) for field in changes}
    for field, value in changes.items():
        setattr(user, field, value)
    user.is_superuser = is_superuser
    changed = [field for field in changes if before[field] != getattr(user, field)]
    if not changed:
        return user
    user.save(update_fields=[*changes, "is_superuser", "updated_at"])
    scalar = {f: {"from": before[f], "to": getattr(user, f)} for f in changed if f != "settings"}
    audit_record(
        entity="user",
        action="update",
        actor=actor,
        payload={"id": str(user.pk), "fields": sorted(changed), "changes": scalar},
    )
    if "role" in changed:
        security_event_record(
            action=SecurityAction.ROLE_CHANGE,
            status=EventStatus.SUCCESS,
            user=user,
            actor=actor,
            request=request,
            details={"from": before["role"], "to": user.role},
        )
    if "is_active" in changed:
        if not user.is_active:
            sessions_revoke_all(user=user, reason=RevokeReason.DEACTIVATED, actor=actor, request=request)
        security_event_record(
            action=SecurityAction.USER_ACTIVATED if user.is_active else SecurityAction.USER_DEACTIVATED,
            status=EventStatus.SUCCESS,
            user=user,
            actor=actor,
            request=request,
        )
    other = [f for f in changed if f in ("verified", "is_staff")]
    if other and actor is not None and getattr(actor, "pk", None) != user.pk:
        security_event_record(
            action=SecurityAction.USER_UPDATE,
            status=EventStatus.SUCCESS,
            user=user,
            actor=actor,
            request=request,
            details={"changes": {f: scalar[f] for f in other}},
        )
    return user


@transaction.atomic
def user_set_groups(
    *, user: User, groups: Iterable[Group], actor: User | None, request: AnyRequest | None = None
) -> User:
    """Set a staff member's console groups (Django groups: what the admin console lets
    them see and do). Administrators only: group membership hands out permissions. The
    change is audited with the names added and removed, and is a security event."""

    if actor is None or getattr(actor, "role", None) != Role.ADMIN:
        raise PermissionDenied("Only administrators may change a user's groups.")
    user = User.objects.select_for_update().get(pk=user.pk)
    wanted = {group.pk: group.name for group in Group.objects.filter(pk__in=[g.pk for g in groups])}
    current = dict(user.groups.values_list("pk", "name"))
    added = sorted(name for pk, name in wanted.items() if pk not in current)
    removed = sorted(name for pk, name in current.items() if pk not in wanted)
    if not added and not removed:
        return user
    user.groups.set(list(wanted))
    audit_record(
        entity="user",
        action="groups",
        actor=actor,
        payload={"id": str(user.pk), "added": added, "removed": removed, "groups": sorted(wanted.values())},
    )
    security_event_record(
        action=SecurityAction.USER_UPDATE,
        status=EventStatus.SUCCESS,
        user=user,
        actor=actor,
        request=request,
        details={"groups": {"added": added, "removed": removed}},
    )
    return user


@transaction.atomic
def user_unlock(*, user: User, actor: User | None, request: AnyRequest | None = None) -> User:
    """Lift a lockout and forget the failed attempts."""
    updated = User.objects.filter(pk=user.pk).update(failed_login_attempts=0, locked_until=None)
    if not updated:
        raise ValidationFailed("No such user.")
    audit_record(entity="user", action="unlock", actor=actor, payload={"id": str(user.pk)})
    security_event_record(
        action=SecurityAction.UNLOCK, status=EventStatus.SUCCESS, user=user, actor=actor, request=request
    )
    user.refresh_from_db(fields=["failed_login_attempts", "locked_until"])
    return user
