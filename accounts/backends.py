"""Django authentication backend for the admin login: e-mail + password (+ one-time code
when the account has two-factor on), with the same lockout rules and security events as
the API login (accounts.services.password_login). Only staff may log in this way."""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

from core.exceptions import DomainError


class EmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, email=None, otp=None, **kwargs):
        from accounts.services import password_login

        identifier = email or username
        if not identifier or password is None:
            return None
        try:
            return password_login(request=request, email=identifier, password=password, otp=otp, require_staff=True)
        except DomainError as exc:
            # The login form shows why (locked, code needed, ...); PermissionDenied stops
            # Django from trying other backends.
            if request is not None:
                request.login_error = exc
            raise DjangoPermissionDenied(exc.message) from None

    def user_can_authenticate(self, user):
        return user.is_active
