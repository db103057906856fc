"""The sequencer's work queue read through a plpgsql function, so its plan is cached.

Pending entries can sit in any monthly partition (a legacy event, a late commit), so the
query cannot be pruned: planned afresh on every batch it cost about 3 ms of planning over
two dozen partitions, more than executing it, and the sequencer runs it once or twice per
batch. plpgsql keeps the statement's plan for the session (a generic plan after a few
calls, since the parameters prune nothing). The timestamp is rendered exactly as
audits.signing.TS_SQL renders it (what entry_hmac was computed over); a test compares them.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION audits.audit_log_pending(p_limit integer, p_skip bigint[])
RETURNS TABLE (id bigint, ts text, entity text, action text, actor text, payload text, entry_hmac text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, audits AS $$
BEGIN
    RETURN QUERY
        SELECT a.id, to_char(a.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               a.entity::text, a.action::text, a.actor::text, a.payload::text, a.entry_hmac::text
          FROM audits.audit_log AS a
         WHERE a.chain_seq IS NULL AND a.id <> ALL (p_skip)
         ORDER BY a.id
         LIMIT p_limit;
END $$;
"""

REVERSE = "DROP FUNCTION IF EXISTS audits.audit_log_pending(integer, bigint[]);"


class Migration(migrations.Migration):
    dependencies = [("audits", "0005_chain_head")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
