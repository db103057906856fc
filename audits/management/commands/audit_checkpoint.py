"""Export the chain head, signed, for keeping outside the database."""

import json
import os

from django.core.management.base import BaseCommand, CommandError

from audits.chain import chain_pending
from audits.keycheck import wrong_key_is_a_command_error
from audits.verify import make_checkpoint


class Command(BaseCommand):
    help = (
        "Print (or write with --out) the latest sealed audit entry (chain_seq, id, ts, signature), HMAC-signed "
        "with AUDIT_SIGNING_KEY. Keep it outside the database; `verify_audit_chain --checkpoint FILE` later "
        "proves that no tail was cut off or re-chained."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="write the checkpoint to this file (mode 0600) instead of stdout")

    @wrong_key_is_a_command_error
    def handle(self, *args, out=None, **options):
        chain_pending(wait=True)
        text = json.dumps(make_checkpoint(), indent=1, sort_keys=True) + "\n"
        if not out:
            self.stdout.write(text, ending="")
            return
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc}") from None
        self.stdout.write(f"checkpoint written to {out}")
