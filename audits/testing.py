"""Test-suite support for the audit log (imported by the root conftest only)."""

from django.db import connection

from audits import signing
from audits.keycheck import key_matches_chain


def restart_chain_sealed_under_another_key() -> bool:
    """Empty the audit log of a reused test database whose chain was sealed under another
    AUDIT_SIGNING_KEY (the test key was lengthened to the 32 bytes every process now
    requires): the sequencer refuses to extend such a chain, and every verification would
    report the wrong key. Needs the superuser the test suite runs as, to switch the log's
    triggers off. Returns whether it did. Never used outside the test suite."""
    with connection.cursor() as cursor:
        if key_matches_chain(cursor, signing.signing_key(), oldest_too=True):
            return False
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute("TRUNCATE audits.audit_log, audits.audit_pending, audits.audit_daily_counts")
            cursor.execute("UPDATE audits.audit_chain_head SET chain_seq = 0, signature = %s", [signing.GENESIS])
        finally:
            cursor.execute("SET session_replication_role = origin")
    return True
