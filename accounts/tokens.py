"""Token formats. Secrets are random (>= 256 bits from `secrets`), shown once, and
stored only as SHA-256 hashes, so a database dump lets nobody log in.

Access token: `<session id, base64url>.<expiry, unix seconds>.<HMAC-SHA256, base64url>`,
keyed by a key derived from SECRET_KEY. It names its session, and every request checks
that session row (one indexed lookup), so revoking a session kills its access tokens at
once, with no grace period.

E-mail verification token: Django's signing (HMAC-SHA256 under SECRET_KEY, with a
timestamp) of the user id and the address being verified. Nothing is stored: it proves
only that its holder read that mailbox, and it stops working when the address changes
or EMAIL_VERIFICATION_TTL passes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

from core.db import bound, rows


def new_secret() -> str:
    """A fresh 256-bit random secret, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _access_key() -> bytes:
    return hashlib.sha256(b"tristate.access-token|" + settings.SECRET_KEY.encode()).digest()


def mint_access_token(session_id: uuid.UUID, *, now: datetime | None = None) -> tuple[str, datetime]:
    expires = (now or timezone.now()) + settings.ACCESS_TOKEN_TTL
    head = f"{_b64(session_id.bytes)}.{int(expires.timestamp())}"
    mac = hmac.new(_access_key(), head.encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{_b64(mac)}", expires.replace(microsecond=0)


def parse_access_token(token: str, *, now: datetime | None = None) -> uuid.UUID | None:
    """The session id of a well-formed, correctly signed, unexpired token, else None."""
    try:
        sid_text, exp_text, mac_text = token.split(".")
        head = f"{sid_text}.{exp_text}"
        expected = hmac.new(_access_key(), head.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac_text)):
            return None
        if int(exp_text) <= int((now or timezone.now()).timestamp()):
            return None
        return uuid.UUID(bytes=_unb64(sid_text))
    except (ValueError, TypeError, UnicodeEncodeError):
        return None


# last_used is refreshed at most this often, so authenticated reads do not all write.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class _SessionLookup:
    """The one query behind every authenticated request: a live session joined to its
    active user, by primary key.

    Two costs dominate it, neither of them the lookup itself (~0.06 ms in PostgreSQL):
    compiling the equivalent select_related() queryset in Python, and PostgreSQL
    planning the join anew each time (~0.2 ms; Django's client-side binding never
    reuses a plan). So the statement is built once from the models' concrete fields and
    prepared once per database connection (core.db.bound); rows become model
    instances through Model.from_db and each field's from_db_value, exactly what the
    ORM would return. bench/accounts.py measures the result against the raw query.
    """

    def __init__(self):
        from accounts.models import Session, User

        self.session_model, self.user_model = Session, User
        self.session_fields = list(Session._meta.concrete_fields)
        self.user_fields = list(User._meta.concrete_fields)
        columns = f"{rows.columns(self.session_fields, 's')}, {rows.columns(self.user_fields, 'u')}"
        self.sql = (
            f"SELECT {columns} FROM accounts.sessions s JOIN accounts.users u ON u.id = s.user_id "
            "WHERE s.id = %s AND s.revoked_at IS NULL AND s.expires_at > %s AND u.is_active"
        )

    def __call__(self, session_id: uuid.UUID, now: datetime):
        return self.session_from_row(bound.fetch_row(self.sql, [session_id, now]))

    def session_from_row(self, row):
        if row is None:
            return None
        from django.db import connection

        split = len(self.session_fields)
        session = rows.instance_from_row(self.session_model, self.session_fields, row[:split], connection.alias)
        session.user = rows.instance_from_row(self.user_model, self.user_fields, row[split:], connection.alias)
        return session


_lookup: _SessionLookup | None = None


def _session_lookup() -> _SessionLookup:
    global _lookup
    if _lookup is None:
        _lookup = _SessionLookup()
    return _lookup


def resolve_access_token(token: str):
    """The live accounts.Session (with its user) behind an access token, or None."""
    from accounts.models import Session

    session_id = parse_access_token(token)
    if session_id is None:
        return None
    now = timezone.now()
    session = _session_lookup()(session_id, now)
    if session is None:
        return None
    if session.last_used is None or now - session.last_used > LAST_USED_GRANULARITY:
        # Bookkeeping, not a write of the request's own: named explicitly so the replica
        # router does not count it as one (read-your-writes, core.db.routers).
        Session.objects.using("default").filter(pk=session.pk).update(last_used=now)
    return session


EMAIL_VERIFY_SALT = "tristate.accounts.verify-email"


def make_email_verification_token(user) -> str:
    return signing.dumps({"u": str(user.pk), "e": user.email}, salt=EMAIL_VERIFY_SALT)


def read_email_verification_token(token: str) -> tuple[uuid.UUID, str]:
    """(user id, e-mail) of a valid token. Raises signing.SignatureExpired when it is
    older than EMAIL_VERIFICATION_TTL, signing.BadSignature when it is not ours."""
    data = signing.loads(token, salt=EMAIL_VERIFY_SALT, max_age=settings.EMAIL_VERIFICATION_TTL)
    try:
        return uuid.UUID(data["u"]), str(data["e"])
    except (KeyError, TypeError, ValueError):
        raise signing.BadSignature("malformed verification token") from None
