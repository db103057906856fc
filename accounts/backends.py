"""Django authentication backend for the admin console.

Login is e-mail + password under the same lockout rules as the API
(accounts.services.password_login). Permissions: role=admin holds every permission (as
SPEC §2 says, admins read and write everything); other staff hold what their Django
groups and permissions grant (read-only "Auditors", "Operators", ...). What no one may do
at all (change audit entries, quarantine content) is refused by the ModelAdmins and the
database regardless."""

from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        from accounts.services import password_login

        identifier = email or username
        if not identifier or password is None:
            return None
        return password_login(request=request, email=identifier, password=password, require_staff=True)

    def _is_role_admin(self, user_obj) -> bool:
        return bool(user_obj and user_obj.is_active and getattr(user_obj, "role", None) == "admin")

    def has_perm(self, user_obj, perm, obj=None):
        return self._is_role_admin(user_obj) or super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        return self._is_role_admin(user_obj) or super().has_module_perms(user_obj, app_label)
