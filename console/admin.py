"""The console's groups page: Django's Group admin, with every change made through
console.services (audited: the permissions granted and taken away) and open to
administrators only (groups hand out permissions; staff who may view groups, e.g.
Auditors, see them read-only)."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group

from console import services
from core.admin_tools import ServiceAdmin


def _is_admin(user) -> bool:
    return bool(user.is_active and (user.is_superuser or getattr(user, "role", None) == "admin"))


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(ServiceAdmin, DjangoGroupAdmin):
    list_display = ["name", "permission_count", "member_count"]

    def get_queryset(self, request):
        from django.db.models import Count

        return (
            super()
            .get_queryset(request)
            .annotate(n_permissions=Count("permissions", distinct=True), n_members=Count("user", distinct=True))
        )

    @admin.display(description="permissions", ordering="n_permissions")
    def permission_count(self, group):
        return group.n_permissions

    @admin.display(description="members", ordering="n_members")
    def member_count(self, group):
        return group.n_members

    def has_add_permission(self, request):
        return _is_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return _is_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return _is_admin(request.user)

    def save_model(self, request, obj, form, change):
        saved = services.group_save(
            actor=request.user,
            name=form.cleaned_data["name"],
            permissions=form.cleaned_data.get("permissions") or [],
            group=obj if change else None,
        )
        self.mark_saved(obj, saved)

    def save_related(self, request, form, formsets, change):
        """The permissions were saved by the service."""

    def delete_model(self, request, obj):
        services.group_delete(actor=request.user, group=obj)
