"""Second factor (RFC 6238 TOTP: HMAC-SHA1, 6 digits, 30-second steps — what every
authenticator app speaks), through pyotp.

The secret lives only sealed (core.crypto one-column box bound to the user's row by
`totp_context`). A code is accepted for the current step and one step either side (clock
drift), and never twice: `users.totp_last_step` remembers the newest step used, and
consuming a code is one conditional UPDATE, so two requests racing with the same code
cannot both win.

The checks at login (missing code, wrong code, lockout accounting) are in
accounts.services.password_login; this module only knows codes and secrets.
"""

from __future__ import annotations

import hmac
import re
import time

import pyotp
from django.conf import settings
from django.db import connection

from accounts.models import totp_context
from core import crypto
from core.exceptions import OtpRequired

STEP_SECONDS = 30
DIGITS = 6
# Steps accepted either side of now (RFC 6238 §5.2 recommends allowing one for drift).
DRIFT_STEPS = 1
_CODE = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    """160 random bits (RFC 4226's recommended length), base32 as authenticator apps expect."""
    return pyotp.random_base32(length=32)


def provisioning_uri(*, secret: str, email: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=settings.TOTP_ISSUER
    )


def seal_secret(*, user_id, secret: str) -> str:
    return crypto.seal_box(secret, context=totp_context(user_id))


def open_secret(*, user_id, sealed: str) -> str:
    return crypto.open_box(sealed, context=totp_context(user_id))


def normalize_code(code) -> str | None:
    """'123 456' and '123-456' as typed from an app become '123456'; anything else None."""
    if not isinstance(code, str):
        return None
    text = re.sub(r"[\s-]", "", code)
    return text if _CODE.match(text) else None


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(*, secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code equals `code` (within the drift window), else None.
    Every candidate is compared in constant time."""
    normalized = normalize_code(code)
    if normalized is None:
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    step = current_step(now)
    found = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if hmac.compare_digest(otp.generate_otp(candidate), normalized) and found is None:
            found = candidate
    return found


def code_at(secret: str, when: float) -> str:
    """The code an authenticator shows at unix time `when` (tests, tooling)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(when)


def consume_step(*, user_id, step: int) -> bool:
    """Record `step` as used, unless it (or a later one) already was. Atomic: of two
    requests presenting the same code at once, exactly one gets True."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts.users SET totp_last_step = %s "
            "WHERE id = %s AND (totp_last_step IS NULL OR totp_last_step < %s)",
            [step, user_id, step],
        )
        return cursor.rowcount == 1


def verify_and_consume(*, user, code, now: float | None = None) -> bool:
    """True when `code` is valid for the user's sealed secret and was not used before."""
    if not user.totp_secret:
        return False
    secret = open_secret(user_id=user.pk, sealed=user.totp_secret)
    step = matching_step(secret=secret, code=code, now=now)
    if step is None:
        return False
    return consume_step(user_id=user.pk, step=step)


def check_login_otp(*, user, otp: str | None, request=None) -> None:
    """Raise OtpRequired when the user has 2FA and gave no code, InvalidCredentials when the
    code does not verify or was already used. (password_login does the lockout accounting
    around the same checks; this is the bare check for other callers.)"""
    from core.exceptions import InvalidCredentials

    if not user.totp_enabled:
        return
    if not otp:
        raise OtpRequired()
    if not verify_and_consume(user=user, code=otp):
        raise InvalidCredentials("The one-time code is not valid.", details={"otp": ["invalid or already used"]})
