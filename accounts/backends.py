"""Django authentication backend for the admin login: e-mail + password, with the same
lockout rules as the API login (accounts.services.login_check_password)."""

from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        from accounts.services import password_login

        identifier = email or username
        if not identifier or password is None:
            return None
        return password_login(request=request, email=identifier, password=password, require_staff=True)
