"""The operations console: Django's admin, made role-aware and audited (docs/admin.md).

This app holds the console's permissions, groups, dashboard and pages;
console.admin_app.ConsoleAdminConfig installs Django's admin with console.site as its
default site."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from console.roles import sync_after_migrate

        # Keeps the console groups complete when a migration adds models (their view
        # permissions join "Auditors"), and after test flushes. Only ever adds.
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="console.sync_groups")
