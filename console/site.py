"""The admin site of the operations console (installed as Django's default admin site by
console.apps.ConsoleAdminConfig, so `admin.site` and `@admin.register` are this)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse

from accounts.forms import AdminLoginForm
from console.audit import ConsoleModelAdmin


class ConsoleAdminSite(admin.AdminSite):
    site_header = "Tristate operations console"
    site_title = "Tristate"
    index_title = "Operations"
    # At laptop width (1,400 px) the list pages need the room: the home page and the
    # breadcrumbs lead everywhere the sidebar did.
    enable_nav_sidebar = False

    # E-mail, password and one-time code; accounts.backends.EmailBackend applies the same
    # lockout, two-factor and verification rules as the API login (password_login).
    login_form = AdminLoginForm

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every admin class registered here gets the console layer (console.audit):
        audited saves, deletes and actions; actions gated by a permission; refusals as
        messages. Apps keep writing plain ModelAdmins."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ConsoleModelAdmin):
            admin_class = type(
                admin_class.__name__,
                (admin_class, ConsoleModelAdmin),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        return super().register(model_or_iterable, admin_class, **options)

    def get_urls(self):
        from console import views

        pages = [
            path("console/", self.admin_view(views.console_home), name="console"),
            path("console/database/", self.admin_view(views.database_health), name="console_database"),
            path("console/verify-chain/", self.admin_view(views.verify_chain), name="console_verify_chain"),
        ]
        return pages + super().get_urls()

    def index(self, request, extra_context=None):
        from console.dashboard import build

        return super().index(request, {"cards": build(request), **(extra_context or {})})

    def console_pages(self, request) -> list[dict]:
        """The console's own pages this staff member may open (for the navigation)."""
        user = request.user
        pages = []
        if user.has_perm("console.view_database_health"):
            pages.append(("Database health", "DatabaseHealth", reverse("admin:console_database")))
        if user.has_perm("audits.view_verification"):
            pages.append(("Verify audit chain", "VerifyChain", reverse("admin:console_verify_chain")))
        return [
            {
                "name": name,
                "object_name": object_name,
                "admin_url": url,
                "add_url": None,
                "view_only": True,
                "perms": {"view": True},
            }
            for name, object_name, url in pages
        ]

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is None:
            pages = self.console_pages(request)
            if pages:
                app_list.insert(
                    0,
                    {
                        "name": "Console",
                        "app_label": "console",
                        "app_url": reverse("admin:console"),
                        "has_module_perms": True,
                        "models": pages,
                    },
                )
        return app_list
