"""`migrate`, run as the owner role when DATABASE_OWNER_URL is configured.

The application role owns nothing and cannot create or alter tables; migrations and the
privileges that follow them are the owner's job. Without an owner URL (one role for
everything), this is Django's migrate unchanged.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.commands.migrate import Command as DjangoMigrate


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Runs as DATABASE_OWNER_URL when set, then re-applies the app role's privileges."

    def handle(self, *args, **options):
        owner = "owner" in settings.DATABASES
        if owner and options.get("database") in (None, "default"):
            options["database"] = "owner"
        super().handle(*args, **options)
        if owner and options["database"] == "owner" and not options.get("plan") and not options.get("check_unapplied"):
            call_command("db_roles", verbosity=0)
