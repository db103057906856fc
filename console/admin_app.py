"""Django's admin app, installed with the operations console as its default site (so
`admin.site` and every app's `@admin.register` are console.site.ConsoleAdminSite).
INSTALLED_APPS lists this instead of "django.contrib.admin"."""

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    default_site = "console.site.ConsoleAdminSite"
