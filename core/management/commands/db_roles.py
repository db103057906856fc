"""Create or update the application role and its least-privilege grants."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from core.db.privileges import grant_statements


class Command(BaseCommand):
    help = (
        "Create (if missing) the application role named by DATABASE_URL and grant it exactly what the app needs: "
        "read/write on domain tables, but no UPDATE/DELETE/TRUNCATE on the audit log or quarantine content, and "
        "no ownership (so no ALTER or DISABLE TRIGGER). Runs as DATABASE_OWNER_URL. Idempotent. --print shows "
        "the SQL instead of running it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--print", action="store_true", dest="print_only", help="print the SQL, change nothing")
        parser.add_argument("--role", help="application role name (default: the user of DATABASE_URL)")

    def handle(self, *args, print_only=False, role=None, **options):
        from django.conf import settings

        alias = "owner" if "owner" in settings.DATABASES else "default"
        app_role = role or settings.DATABASES["default"]["USER"]
        owner_role = settings.DATABASES[alias]["USER"]
        if not app_role:
            raise CommandError("no application role: DATABASE_URL has no user and --role is not given")
        conn = connections[alias]
        statements = grant_statements(conn, app_role=app_role, owner_role=owner_role)
        if print_only:
            for sql in statements:
                self.stdout.write(sql.rstrip(";") + ";")
            return
        if app_role == owner_role:
            self.stdout.write(f"application role {app_role} is also the owner: nothing to restrict")
            return
        with conn.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
        if options.get("verbosity", 1):
            self.stdout.write(f"role {app_role}: {len(statements)} privilege statements applied (owner {owner_role})")
