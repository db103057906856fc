"""Record a restore of the database in the audit log (scripts/pgbackrest.sh runs it)."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from audits.chain import chain_pending
from audits.restores import restore_record, restored_head


def _parse_target(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"--target-time: not an ISO date and time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Write the audit entry of a database restore (entity 'database', action 'restored'): the target time, "
        "the backup label and the chain head as restored. Run it first thing after the restored server is up, "
        "before the application writes: it is then the first entry after the restore."
    )

    def add_arguments(self, parser):
        parser.add_argument("--backup-label", required=True, help="the backup set restored (pgBackRest label)")
        parser.add_argument("--target-time", default="", help="the recovery target (ISO 8601); empty: latest WAL")
        parser.add_argument("--tool", default="pgbackrest")

    def handle(self, *args, backup_label, target_time="", tool="pgbackrest", **options):
        if not backup_label.strip():
            raise CommandError("--backup-label must not be empty")
        target = _parse_target(target_time)
        # The head before anything is sealed: entries after it are the ones the restore
        # may have renumbered or cut.
        head = restored_head()
        entry_id = restore_record(target_time=target, backup_label=backup_label.strip(), head=head, tool=tool)
        chain_pending(wait=True)
        self.stdout.write(
            f"restore recorded: audit entry {entry_id} (target {target.isoformat() if target else 'latest'}, "
            f"backup {backup_label.strip()}, chain kept up to position {head['chain_seq']}, "
            f"{head['pending']} pending entries sealed after it)"
        )
