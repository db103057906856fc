"""Seal pending audit entries into the chain (once, or continuously)."""

import time

from django.core.management.base import BaseCommand

from audits.chain import chain_pending
from audits.keycheck import wrong_key_is_a_command_error


class Command(BaseCommand):
    help = (
        "Seal committed audit entries that are still pending into the hash chain. Entries are normally sealed "
        "right after their transaction commits; this catches up after a crash. --loop keeps running (a sidecar "
        "that bounds chain lag even when writers stop mid-way)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep sealing every --interval seconds")
        parser.add_argument("--interval", type=float, default=1.0)

    @wrong_key_is_a_command_error
    def handle(self, *args, loop=False, interval=1.0, **options):
        total = chain_pending(wait=True)
        if not loop:
            self.stdout.write(f"sealed {total} pending entries")
            return
        self.stdout.write("sealing pending audit entries; Ctrl-C to stop")
        try:
            while True:
                time.sleep(interval)
                total += chain_pending(wait=False)
        except KeyboardInterrupt:
            self.stdout.write(f"stopped; sealed {total} entries")
