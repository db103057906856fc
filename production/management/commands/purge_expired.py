"""manage.py purge_expired [--dry-run] [--batch-size N]"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from core.exceptions import DomainError
from production.models import Artifact
from production.services import PURGE_LOCK, purge_expired


class Command(BaseCommand):
    help = (
        "Delete what has expired: artifacts whose expires_at has passed (in batches, each its own audited "
        "transaction), login sessions past their expiry, used or expired password resets, expired invitations. "
        "Idempotent; one run at a time."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows of each kind per transaction (default 1000)."
        )

    def handle(self, *, dry_run: bool, batch_size: int, verbosity: int = 1, **_):
        if not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be from 1 to 100000")
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [PURGE_LOCK])
            if not cursor.fetchone()[0]:
                raise CommandError("another purge_expired is running; try again when it has finished")
        try:
            due = 0 if dry_run else Artifact.objects.filter(expires_at__lte=now).count()
            with tqdm(total=due, desc="artifacts", unit="row", disable=verbosity < 1 or not due) as bar:
                report = purge_expired(now=now, batch_size=batch_size, dry_run=dry_run, progress=bar.update)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [PURGE_LOCK])
        self.stdout.write(report.line())
