"""Acknowledge entries that were sealed under a wrong AUDIT_SIGNING_KEY (docs/audit.md)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audits import signing
from audits.acknowledge import wrong_key_acknowledge
from audits.keycheck import WrongSigningKey, key_matches_chain
from core.exceptions import ValidationFailed


class Command(BaseCommand):
    help = (
        "Record, signed with the right AUDIT_SIGNING_KEY, that the sealed entries at chain positions FIRST..LAST "
        "that do not verify under it were sealed under a wrong key. verify_audit_chain then accepts exactly those "
        "rows, unchanged, and reports how many it accepted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--first", type=int, required=True, help="first chain position of the range")
        parser.add_argument("--last", type=int, required=True, help="last chain position of the range")
        parser.add_argument("--reason", required=True, help="why: what was misconfigured, when, who checked")

    def handle(self, *args, first, last, reason, **options):
        with connection.cursor() as cursor:
            if not key_matches_chain(cursor, signing.signing_key(), oldest_too=True):
                raise CommandError(WrongSigningKey.default_message, returncode=3)
        try:
            entry_id = wrong_key_acknowledge(first_seq=first, last_seq=last, reason=reason)
        except ValidationFailed as exc:
            raise CommandError(exc.message) from None
        # Sealed after this commit like every entry (AUDIT_SEALER), after the entries it names.
        self.stdout.write(f"acknowledged: entry {entry_id} names the wrong-key entries at positions {first}..{last}")
