"""The chain head in a one-row table, kept by the sequencer in each seal transaction.

Reading the head from the log itself (`ORDER BY chain_seq DESC LIMIT 1` over every
monthly partition) costs a plan and an index probe per partition on every batch; this
row costs one primary-key read. It is a cache, not evidence: the sequencer writes it in
the same transaction as the entries it seals, and verification never trusts it (a
tampered head only makes the next entries link to a wrong prev_hash, which verification
reports). Written through audits.audit_log_seal_head() (SECURITY DEFINER), like sealing.
"""
from django.db import migrations

FORWARD = r"""
CREATE TABLE audits.audit_chain_head (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chain_seq   bigint  NOT NULL,
    signature   char(64) NOT NULL
);
INSERT INTO audits.audit_chain_head (chain_seq, signature)
SELECT COALESCE(
           (SELECT chain_seq FROM audits.audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1), 0),
       COALESCE(
           (SELECT signature FROM audits.audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1),
           repeat('0', 64));

CREATE FUNCTION audits.audit_log_seal_head(p_seq bigint, p_signature text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, audits AS $$
    UPDATE audits.audit_chain_head SET chain_seq = p_seq, signature = p_signature WHERE chain_seq < p_seq;
$$;
"""

REVERSE = r"""
DROP FUNCTION IF EXISTS audits.audit_log_seal_head(bigint, text);
DROP TABLE IF EXISTS audits.audit_chain_head;
"""


class Migration(migrations.Migration):
    dependencies = [("audits", "0004_seal_function")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
