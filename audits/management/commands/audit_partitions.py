"""Create missing monthly audit partitions ahead; retire expired ones."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audits.keycheck import wrong_key_is_a_command_error
from audits.upkeep import partitions_maintain


class Command(BaseCommand):
    help = (
        "Create every missing monthly partition of audits.audit_log up to --ahead months ahead (default 3). "
        "With --retain-months M, record a signed checkpoint for each partition wholly older than M months, "
        "then DETACH ... CONCURRENTLY and drop it (verification of what remains still passes). "
        "Idempotent; two concurrent runs are safe (advisory lock)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, default=settings.AUDIT_PARTITIONS_AHEAD)
        parser.add_argument("--retain-months", type=int, default=None)
        parser.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")

    @wrong_key_is_a_command_error
    def handle(self, *args, ahead, retain_months, dry_run, **options):
        try:
            report = partitions_maintain(ahead=ahead, retain_months=retain_months, dry_run=dry_run)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for line in report.lines():
            self.stdout.write(line)
