"""Role-based permission classes every app's API uses (SPEC §2 roles).

- viewer: reads what it may see, writes nothing
- user:   reads and writes its own resources
- admin:  reads and writes everything, approves workflows

Which rows a role may see is the selectors' job (another user's object is a 404, never a
403); these classes decide only whether the role may attempt the method at all.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def is_admin(user) -> bool:
    return _active(user) and getattr(user, "role", None) == "admin"


def can_write(user) -> bool:
    return _active(user) and getattr(user, "role", None) in ("admin", "user")


class RoleBasedAccess(BasePermission):
    """The default: any active user reads; users and admins write; viewers read only."""

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        if not _active(request.user):
            return False
        return request.method in SAFE_METHODS or can_write(request.user)


class AdminOnly(BasePermission):
    message = "Only administrators may do this."

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)


class AdminWritesOthersRead(BasePermission):
    """Catalogues (policies, providers, blacklist): everyone reads, admins write."""

    message = "Only administrators may change this."

    def has_permission(self, request, view) -> bool:
        if not _active(request.user):
            return False
        return request.method in SAFE_METHODS or is_admin(request.user)


class WritersOnly(BasePermission):
    """Personal resources (my keys, my usage): users and admins, not viewers, even to read."""

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        return can_write(request.user)


class SelfService(BasePermission):
    """One's own account (profile, password, sessions, two-factor, logout): every active
    user, viewers included, for every method. What is "one's own" is the view's job."""

    message = "Authentication credentials were not provided or are not valid."

    def has_permission(self, request, view) -> bool:
        return _active(request.user)
