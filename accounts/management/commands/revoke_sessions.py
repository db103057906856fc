"""Sign a user out everywhere from the command line (suspected compromise)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import RevokeReason, User
from accounts.services import sessions_revoke_all


class Command(BaseCommand):
    help = "Revoke every live session of a user: refresh and access tokens stop at once (audited)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *, email, **options):
        user = User.objects.filter(email=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email!r}.")
        count = sessions_revoke_all(user=user, reason=RevokeReason.ADMIN, actor=None)
        self.stdout.write(f"{user.email}: revoked {count} session(s)")
