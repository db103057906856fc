"""Accounts services: every write to users, sessions, invitations, resets and security
events goes through here, atomic and audited in the same transaction. One module per
sub-domain; this package re-exports their public names (`from accounts.services import
user_create`).

Failed attempts (wrong password, wrong code, reused refresh token) must leave a trace
even though the request fails: those paths commit their security event in a small
transaction of their own and raise afterwards, outside it (accounts.services.events).
"""

from accounts.services.events import client_ip, client_meta, security_event_record
from accounts.services.invitations import (
    INVITATION_DEFAULT_TTL,
    INVITATION_MAX_TTL,
    INVITATION_MAX_USES,
    invitation_create,
    invitation_revoke,
)
from accounts.services.lockout import Attempt, login, password_login
from accounts.services.passwords import (
    PASSWORD_RESET_MIN_INTERVAL,
    _password_reset_issue,
    password_change,
    password_reset_confirm,
    password_reset_request,
)
from accounts.services.registration import (
    email_verification_resend,
    email_verification_send,
    email_verify,
    register,
    user_create_by_admin,
)
from accounts.services.sessions import (
    IssuedTokens,
    logout,
    logout_with_refresh,
    session_create,
    session_refresh,
    session_revoke,
    sessions_revoke_all,
)
from accounts.services.two_factor import TotpEnrolment, totp_confirm, totp_disable, totp_setup
from accounts.services.upkeep import accounts_purge_expired, totp_secrets_rewrap
from accounts.services.users import (
    ADMIN_FIELDS,
    PROFILE_FIELDS,
    SETTINGS_MAX_BYTES,
    SITE_NAME,
    normalize_email,
    user_create,
    user_set_groups,
    user_unlock,
    user_update,
)

__all__ = [
    "ADMIN_FIELDS",
    "INVITATION_DEFAULT_TTL",
    "INVITATION_MAX_TTL",
    "INVITATION_MAX_USES",
    "PASSWORD_RESET_MIN_INTERVAL",
    "PROFILE_FIELDS",
    "SETTINGS_MAX_BYTES",
    "SITE_NAME",
    "Attempt",
    "IssuedTokens",
    "TotpEnrolment",
    "_password_reset_issue",
    "accounts_purge_expired",
    "client_ip",
    "client_meta",
    "email_verification_resend",
    "email_verification_send",
    "email_verify",
    "invitation_create",
    "invitation_revoke",
    "login",
    "logout",
    "logout_with_refresh",
    "normalize_email",
    "password_change",
    "password_login",
    "password_reset_confirm",
    "password_reset_request",
    "register",
    "security_event_record",
    "session_create",
    "session_refresh",
    "session_revoke",
    "sessions_revoke_all",
    "totp_confirm",
    "totp_disable",
    "totp_secrets_rewrap",
    "totp_setup",
    "user_create",
    "user_create_by_admin",
    "user_set_groups",
    "user_unlock",
    "user_update",
]
