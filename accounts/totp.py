"""Second factor at login (RFC 6238 TOTP). Enrolment and verification arrive with the
accounts work; until a user enrols, nothing is required."""

from core.exceptions import OtpRequired


def check_login_otp(*, user, otp: str | None, request=None) -> None:
    if not user.totp_enabled:
        return
    if not otp:
        raise OtpRequired()
    raise OtpRequired("TOTP verification is not available yet.")
