"""Django authentication backend for the admin console.

Login is e-mail + password (+ one-time code when the account has two-factor on), with the
same lockout rules and security events as the API login (accounts.services.password_login).
Only staff may log in this way.

Permissions: role=admin holds every permission (SPEC §2: admins read and write
everything); other staff hold what their Django groups and permissions grant (read-only
"Auditors", "Operators", ...; console/roles.py). role=viewer only ever reads (SPEC §2):
a viewer keeps the "view" permissions of its groups and nothing else, whatever a group
grants. What no one may do at all (change audit entries, quarantine content) is refused
by the ModelAdmins and the database regardless."""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

from core.exceptions import DomainError


def is_read_permission(perm: str) -> bool:
    """'app.view_model': the only kind a role=viewer staff member may hold."""
    return perm.partition(".")[2].startswith("view_")


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

    def get_all_permissions(self, user_obj, obj=None):
        perms = super().get_all_permissions(user_obj, obj)
        if getattr(user_obj, "role", None) == "viewer" and not user_obj.is_superuser:
            return {perm for perm in perms if is_read_permission(perm)}
        return perms

    def _is_role_admin(self, user_obj) -> bool:
        return bool(user_obj and user_obj.is_active and getattr(user_obj, "role", None) == "admin")

    def has_perm(self, user_obj, perm, obj=None):
        return self._is_role_admin(user_obj) or super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        return self._is_role_admin(user_obj) or super().has_module_perms(user_obj, app_label)
