"""Lift a login lockout from the command line (e.g. the only administrator locked out)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import user_unlock


class Command(BaseCommand):
    help = "Lift the login lockout of a user and reset their failed-attempt count (audited)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *, email, **options):
        user = User.objects.filter(email=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email!r}.")
        was_locked = user.is_locked()
        user_unlock(user=user, actor=None)
        self.stdout.write(f"{user.email}: {'unlocked' if was_locked else 'was not locked; failed attempts reset'}")
