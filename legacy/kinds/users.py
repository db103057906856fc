"""users.jsonl → accounts (accounts.services.users_import).

Roles map as FORMAT.md says: admin → admin; operator → user with admin-console access
(is_staff); user → user; readonly → viewer. A bcrypt hash is kept (it verifies at login
and is replaced by Argon2id then); null means the user must reset the password. The
same e-mail twice, in any case, is one user: the first record wins, the others count as
already present. An e-mail that already has an account is left as it is."""

from __future__ import annotations

from accounts.hashers import legacy_bcrypt_to_django
from legacy import values
from legacy.bulk.accounts import UserImport, users_import
from legacy.kinds.base import Context, Item
from legacy.reader import RawRecord

ROLES = {"admin": ("admin", False), "operator": ("user", True), "user": ("user", False), "readonly": ("viewer", False)}


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    email = values.email(d, "email")
    role = values.field(d, "role")
    if role not in ROLES:
        raise values.Reject(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    tristate_role, is_staff = ROLES[role]
    password_hash = values.field(d, "password_hash", required=False)
    if password_hash is not None:
        if not isinstance(password_hash, str):
            raise values.Reject("field 'password_hash' must be a bcrypt hash or null")
        try:
            password_hash = legacy_bcrypt_to_django(password_hash)
        except ValueError as exc:
            raise values.Reject(f"field 'password_hash': {exc}") from None
    user = UserImport(
        email=email,
        role=tristate_role,
        is_staff=is_staff,
        name=values.text(d, "name", required=False, max_length=200).strip(),
        verified=values.boolean(d, "verified"),
        password_hash=password_hash,
        created_at=values.time(d, "created_at", required=False, now=ctx.now),
        last_login=values.time(d, "last_login", required=False, now=ctx.now),
    )
    return Item(key=email, digest=values.digest_text(rec.text), rec=rec, value=user)


def write(items: list[Item], ctx: Context) -> list:
    return users_import(users=[it.value for it in items], actor=ctx.actor, context=ctx.audit_context())
