"""Does the AUDIT_SIGNING_KEY in hand match the chain's? Checked before anything is
sealed (once per process) and before a verification runs.

A process started with a wrong key (a typo, another environment's key, an empty one)
would otherwise seal entries under it: from then on verification with the real key
reports the chain broken at those entries, and verification with the wrong key reports
every entry as edited. Both read as tampering. Instead:

- the sequencer refuses to seal when none of the newest sealed entries verifies under
  its key (WrongSigningKey; the entries stay pending, nothing is lost);
- verification with a key under which neither the newest nor the oldest sealed entries
  verify stops with "wrong AUDIT_SIGNING_KEY" and writes nothing.

An empty chain accepts any key (the first sealed entry sets it). Looking at a window of
entries, not at the head alone, lets the right key go on sealing after a few entries
were sealed under a wrong one before this check existed (docs/audit.md: acknowledging
them).
"""

from __future__ import annotations

import functools
import logging
import os

from django.core.management.base import CommandError

from audits import signing
from core.exceptions import DomainError

logger = logging.getLogger("tristate.audit")

WINDOW = 256
_COLUMNS = f"id, {signing.TS_SQL}, entity, action, actor::text, payload::text, entry_hmac"

# (pid, key digest) of the last key this process found matching the chain.
_checked: tuple[int, str] | None = None


class WrongSigningKey(DomainError):
    status_code = 503
    code = "wrong_signing_key"
    default_message = (
        "wrong AUDIT_SIGNING_KEY: no sealed audit entry verifies under the key this process was started with; "
        "nothing was sealed or written. Start it with the key the chain was written with."
    )


def _verifies(key: bytes, row) -> bool:
    entry_id, ts, entity, action, actor, payload, mac = row
    return signing.entry_hmac(key, signing.content(entry_id, ts, entity, action, actor, payload)) == mac


def key_matches_chain(cursor, key: bytes, *, oldest_too: bool = False) -> bool:
    """True when the chain is empty or one of its newest (and, with oldest_too, oldest)
    WINDOW sealed entries has an entry_hmac that verifies under `key`."""
    orders = ["DESC", "ASC"] if oldest_too else ["DESC"]
    # Each read is a walk of the log's chain_seq index from one end (every sealing
    # process runs it once); without that index it would sort the whole log.
    seen = False
    for order in orders:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM audits.audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq {order} LIMIT %s",
            [WINDOW],
        )
        rows = cursor.fetchall()
        seen = seen or bool(rows)
        if any(_verifies(key, row) for row in rows):
            return True
    return not seen


def ensure_sealing_key(cursor, key: bytes) -> None:
    """Raise WrongSigningKey unless `key` matches the chain; checked once per process
    (and again if the key changes, as tests do)."""
    global _checked
    tag = (os.getpid(), signing.entry_hmac(key, b"key-check"))
    if _checked == tag:
        return
    if not key_matches_chain(cursor, key):
        logger.error("audit sequencer: %s", WrongSigningKey.default_message)
        raise WrongSigningKey()
    _checked = tag


def wrong_key_is_a_command_error(handle):
    """For a management command's handle(): a wrong key ends the command with its
    message and exit status 3 (as verify_audit_chain does), not with a traceback."""

    @functools.wraps(handle)
    def run(self, *args, **options):
        try:
            return handle(self, *args, **options)
        except WrongSigningKey as exc:
            raise CommandError(exc.message, returncode=3) from None

    return run
