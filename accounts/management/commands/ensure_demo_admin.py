"""Ensure the local demo administrator exists and print how to log in (used by `make run`)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, User
from accounts.services import user_create
from config.env import env


class Command(BaseCommand):
    help = "Create the demo admin from DEMO_ADMIN_EMAIL/DEMO_ADMIN_PASSWORD if missing, and print its login."

    def handle(self, *args, **options):
        email = env.str("DEMO_ADMIN_EMAIL", default="admin@tristate.local").lower()
        password = env.str("DEMO_ADMIN_PASSWORD", default="")
        if not password:
            raise CommandError("DEMO_ADMIN_PASSWORD is not set (it is written into .env by make run).")
        if not User.objects.filter(email=email).exists():
            user_create(
                email=email,
                password=password,
                name="Demo Admin",
                role=Role.ADMIN,
                verified=True,
                is_staff=True,
                is_superuser=True,
                validate=False,
            )
            self.stdout.write(f"Created demo admin {email}")
        self.stdout.write(f"Demo admin login: {email} / {password}  (http://127.0.0.1:8000/admin/)")
