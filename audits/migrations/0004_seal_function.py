"""Sealing through a SECURITY DEFINER function.

The application role gets no UPDATE privilege on the audit log at all (least privilege,
docs/operations.md): the sequencer seals entries by calling audits.audit_log_seal(),
which runs as the table's owner and can only do what the trigger allows anyway — set
chain_seq/prev_hash/signature of still-pending entries. It returns how many it sealed.
"""
from django.db import migrations

FORWARD = r"""
CREATE FUNCTION audits.audit_log_seal(p_partition text, p_ids bigint[], p_seqs bigint[],
                                      p_prevs text[], p_sigs text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audits AS $$
DECLARE
    sealed bigint;
BEGIN
    IF p_partition !~ '^audit_log_[0-9]{4}_[0-9]{2}$' THEN
        RAISE EXCEPTION 'not an audit log partition: %', p_partition USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format(
        'UPDATE audits.%I AS a SET chain_seq = v.seq, prev_hash = v.prev, signature = v.sig '
        'FROM unnest($1, $2, $3, $4) AS v(id, seq, prev, sig) '
        'WHERE a.id = v.id AND a.chain_seq IS NULL', p_partition)
    USING p_ids, p_seqs, p_prevs, p_sigs;
    GET DIAGNOSTICS sealed = ROW_COUNT;
    RETURN sealed;
END $$;
"""

REVERSE = "DROP FUNCTION IF EXISTS audits.audit_log_seal(text, bigint[], bigint[], text[], text[]);"


class Migration(migrations.Migration):
    dependencies = [("audits", "0003_ensure_partition_race")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
