"""Domain exceptions. Services raise these; the API's one exception handler turns each into
the error envelope `{"error": {"code", "message", "details"}}` with its HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: dict | None = None, code: str | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        if code:
            self.code = code
        super().__init__(self.message)

    @property
    def headers(self) -> dict[str, str]:
        return {}


class ValidationFailed(DomainError):
    """Input that breaks a rule; `details` maps field names to lists of messages."""

    status_code = 400
    code = "validation_error"
    default_message = "The submitted data is not valid."

    @classmethod
    def field(cls, name: str, message: str, *, code: str | None = None) -> ValidationFailed:
        return cls(message, details={name: [message]}, code=code)


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"
    default_message = "Authentication credentials were not provided or are not valid."


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    default_message = "E-mail or password is not correct."


class OtpRequired(NotAuthenticated):
    code = "otp_required"
    default_message = "A one-time code from your authenticator app is required."


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"
    default_message = "You do not have permission to perform this action."


class EmailUnverified(PermissionDenied):
    code = "email_unverified"
    default_message = "Verify your e-mail address before logging in."


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, *, frm: str, to: str, entity: str = "object"):
        super().__init__(
            f"Cannot move {entity} from '{frm}' to '{to}'.",
            details={"from": frm, "to": to},
        )


class ConfigBlacklisted(Conflict):
    code = "config_blacklisted"
    default_message = "This configuration is blacklisted (quarantined)."


class ProjectArchived(Conflict):
    code = "project_archived"
    default_message = "The project is archived and read-only."


class _RetryAfter(DomainError):
    def __init__(self, message: str | None = None, *, retry_after: int, details: dict | None = None):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, details={**(details or {}), "retry_after": self.retry_after})

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class AccountLocked(_RetryAfter):
    status_code = 423
    code = "account_locked"
    default_message = "Too many failed logins: the account is locked for a while."


class QuotaExceeded(_RetryAfter):
    status_code = 429
    code = "quota_exceeded"
    default_message = "Usage quota exceeded."
