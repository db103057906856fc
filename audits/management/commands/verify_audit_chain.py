"""Recompute the audit chain and report the first broken link."""

import json
import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from audits import signing
from audits.chain import chain_pending
from audits.keycheck import WrongSigningKey, key_matches_chain
from audits.services import verification_record
from audits.verify import default_workers, verify_chain
from core.json_types import OUT_OF_RANGE, datetime_out_of_range
from core.progress import ProgressStream


def _parse_since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since: not an ISO date or time: {value!r}") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if datetime_out_of_range(parsed):
        raise CommandError(f"--since: {OUT_OF_RANGE}")
    return parsed


def broken_also(result) -> list[str]:
    """The other problems verification found (forged markers, rows outside the chain)."""
    return [
        f"id={b['id']} ts={b['ts']} chain_seq={b['chain_seq']}: {b['reason']}" for b in result.as_dict()["also_broken"]
    ]


class Command(BaseCommand):
    help = (
        "Verify the audit chain: recompute every entry's HMAC and link, in chain order, with bounded memory. "
        "Prints OK with the number of entries, or the first broken link, and exits non-zero when broken."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="start at the first entry at or after this date/time (ISO 8601)")
        parser.add_argument("--checkpoint", help="a file written by audit_checkpoint: also prove no tail was cut")
        parser.add_argument("--no-seal", action="store_true", help="do not seal pending entries before verifying")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="worker processes walking ranges of the chain on one snapshot (default: one per CPU, at most 8; "
            "1 walks it in this process)",
        )

    def handle(self, *args, since=None, checkpoint=None, no_seal=False, workers=None, **options):
        as_json = options["json"]
        if workers is None:
            workers = default_workers()
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        since_dt = _parse_since(since) if since else None
        doc = None
        if checkpoint:
            try:
                with open(checkpoint, encoding="utf-8") as fh:
                    doc = json.load(fh)
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read checkpoint {checkpoint}: {exc}") from None
        # A wrong key is not tampering: say so, and neither seal nor record anything
        # under it (the record would itself be an entry signed with the wrong key).
        with connection.cursor() as cursor:
            if not key_matches_chain(cursor, signing.signing_key(), oldest_too=True):
                raise CommandError(WrongSigningKey.default_message, returncode=3)
        if not no_seal:
            chain_pending(wait=True)
        bar = tqdm(desc="verifying", unit=" entries", disable=None, mininterval=0.5, file=ProgressStream(self.stderr))
        started = time.monotonic()
        try:
            result = verify_chain(since=since_dt, checkpoint=doc, progress=bar.update, unbounded=True, workers=workers)
        except WrongSigningKey as exc:
            raise CommandError(exc.message, returncode=3) from None
        finally:
            bar.close()
        elapsed_ms = int((time.monotonic() - started) * 1000)
        verification_record(result=result, source="command", since=since_dt, duration_ms=elapsed_ms)
        if as_json:
            self.stdout.write(json.dumps(result.as_dict(), indent=1))
        if result.ok:
            if not as_json:
                pending = f", {result.pending} pending" if result.pending else ""
                if result.acknowledged:
                    pending += f", {result.acknowledged} entries sealed under a wrong key, acknowledged"
                self.stdout.write(f"OK: {result.checked} entries verified (head #{result.head_seq}){pending}")
                if result.restore_note:
                    self.stdout.write(f"checkpoint: {result.restore_note}")
            return
        broken = result.as_dict()["first_broken"]
        for other in broken_also(result):
            self.stderr.write(f"also BROKEN: {other}")
        raise CommandError(
            f"BROKEN after {result.checked} good entries: id={broken['id']} ts={broken['ts']} "
            f"chain_seq={broken['chain_seq']}: {broken['reason']}"
            + (f" (expected {broken['expected']}, found {broken['found']})" if broken["expected"] else "")
        )
