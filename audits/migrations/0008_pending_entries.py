"""Pending entries wait in their own table; the log itself is never updated.

Until now a writer appended its entry to audits.audit_log with chain_seq, prev_hash and
signature NULL, and the sequencer later UPDATEd the row to seal it. That UPDATE rewrote
every entry once more: a new row version through all eight indexes of the log (chain_seq
is indexed, so it can never be a HOT update), written into the very pages the writers
were filling, and left a dead version behind for vacuum.

Now:
- a writer appends its entry (content and entry_hmac, as before) to
  audits.audit_pending, a plain table with one index, in the same transaction as the
  change it records;
- the sequencer moves committed entries into the log with their chain position, through
  audits.audit_seal() (SECURITY DEFINER): one INSERT of the sealed rows, then the DELETE
  of the pending ones, in the sequencer's transaction. An entry is in exactly one of the
  two tables in every snapshot;
- the log refuses every UPDATE, DELETE and TRUNCATE, with no exception left, and every row
  of it has its chain position (NOT NULL);
- a pending entry can leave its table only for the log: a DELETE whose rows are not in the
  log with the same content is refused, and UPDATE and TRUNCATE are refused;
- audits.audit_entries is the log and the pending entries together (chain columns NULL
  for the pending ones): what the API and the admin list.

Entries pending when this migration runs are moved to the new table (the refusal of a
DELETE is relaxed for that one statement, inside this migration's transaction).
"""

from django.db import migrations

ENTRY_COLUMNS = "id, ts, entity, action, actor, payload, entry_hmac"

FORWARD = rf"""
CREATE TABLE audits.audit_pending (
    id          bigint       PRIMARY KEY,
    ts          timestamptz  NOT NULL,
    entity      varchar(64)  NOT NULL CHECK (entity <> ''),
    action      varchar(64)  NOT NULL CHECK (action <> ''),
    actor       uuid         NULL,
    payload     jsonb        NOT NULL DEFAULT '{{}}'::jsonb,
    entry_hmac  char(64)     NOT NULL
);
COMMENT ON TABLE audits.audit_pending IS
    'Audit entries written but not yet sealed into the chain; the sequencer moves them to audits.audit_log.';

-- Move the entries still pending (the one DELETE from the log ever allowed, in this
-- transaction only), then make the log refuse every change for good.
CREATE OR REPLACE FUNCTION audits.audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.chain_seq IS NULL
       AND current_setting('audits.moving_pending_entries', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
SET LOCAL audits.moving_pending_entries = 'on';
WITH moved AS (DELETE FROM audits.audit_log WHERE chain_seq IS NULL RETURNING {ENTRY_COLUMNS})
INSERT INTO audits.audit_pending ({ENTRY_COLUMNS}) SELECT {ENTRY_COLUMNS} FROM moved;
SET LOCAL audits.moving_pending_entries = 'off';

CREATE OR REPLACE FUNCTION audits.audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

DROP INDEX audits.audit_log_pending_idx;
ALTER TABLE audits.audit_log
    ALTER COLUMN chain_seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN signature SET NOT NULL;
DROP FUNCTION audits.audit_log_seal(text, bigint[], bigint[], text[], text[]);
DROP FUNCTION audits.audit_log_pending(integer, bigint[]);

-- A pending entry leaves only into the log: each deleted row must be there already, with
-- the same content. One check per statement (the sequencer deletes a batch at a time).
CREATE FUNCTION audits.audit_pending_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pending audit entries are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE FUNCTION audits.audit_pending_check_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT FROM gone AS g
        WHERE NOT EXISTS (
            SELECT FROM audits.audit_log AS a
            WHERE a.id = g.id AND a.ts = g.ts AND a.entity = g.entity AND a.action = g.action
              AND a.actor IS NOT DISTINCT FROM g.actor AND a.payload = g.payload AND a.entry_hmac = g.entry_hmac
        )
    ) THEN
        RAISE EXCEPTION 'pending audit entries are append-only: DELETE on % refused (an entry leaves only into the log)',
            TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_pending_no_update
    BEFORE UPDATE ON audits.audit_pending
    FOR EACH ROW EXECUTE FUNCTION audits.audit_pending_refuse_change();
CREATE TRIGGER audit_pending_no_truncate
    BEFORE TRUNCATE ON audits.audit_pending
    FOR EACH STATEMENT EXECUTE FUNCTION audits.audit_pending_refuse_change();
CREATE TRIGGER audit_pending_only_moved
    AFTER DELETE ON audits.audit_pending REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION audits.audit_pending_check_moved();

-- Seal a batch: its entries (ids in chain order, with their positions, previous hashes
-- and signatures, computed by the sequencer, which holds the key) go into the log, in
-- their months' partitions, and leave the pending table. Returns how many it moved.
CREATE FUNCTION audits.audit_seal(p_ids bigint[], p_seqs bigint[], p_prevs text[], p_sigs text[])
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audits AS $$
DECLARE
    moved bigint;
BEGIN
    PERFORM audits.audit_log_ensure_partition(m.month)
       FROM (SELECT DISTINCT date_trunc('month', p.ts AT TIME ZONE 'UTC')::date AS month
               FROM audits.audit_pending AS p WHERE p.id = ANY (p_ids)) AS m;
    INSERT INTO audits.audit_log ({ENTRY_COLUMNS}, chain_seq, prev_hash, signature)
    SELECT p.id, p.ts, p.entity, p.action, p.actor, p.payload, p.entry_hmac, v.seq, v.prev, v.sig
      FROM unnest(p_ids, p_seqs, p_prevs, p_sigs) AS v(id, seq, prev, sig)
      JOIN audits.audit_pending AS p ON p.id = v.id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    DELETE FROM audits.audit_pending WHERE id = ANY (p_ids);
    RETURN moved;
END $$;

-- Every entry, sealed or not: what the API and the admin read.
CREATE VIEW audits.audit_entries AS
    SELECT {ENTRY_COLUMNS}, chain_seq, prev_hash, signature FROM audits.audit_log
    UNION ALL
    SELECT {ENTRY_COLUMNS}, NULL::bigint, NULL::char(64), NULL::char(64) FROM audits.audit_pending;
"""

REVERSE = rf"""
DROP VIEW audits.audit_entries;
DROP FUNCTION audits.audit_seal(bigint[], bigint[], text[], text[]);
ALTER TABLE audits.audit_log
    ALTER COLUMN chain_seq DROP NOT NULL,
    ALTER COLUMN prev_hash DROP NOT NULL,
    ALTER COLUMN signature DROP NOT NULL;
CREATE INDEX audit_log_pending_idx ON audits.audit_log (id) WHERE chain_seq IS NULL;
CREATE OR REPLACE FUNCTION audits.audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL
       AND NEW.id = OLD.id AND NEW.ts = OLD.ts
       AND NEW.entity = OLD.entity AND NEW.action = OLD.action
       AND NEW.actor IS NOT DISTINCT FROM OLD.actor
       AND NEW.payload = OLD.payload AND NEW.entry_hmac = OLD.entry_hmac
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
INSERT INTO audits.audit_log ({ENTRY_COLUMNS}) SELECT {ENTRY_COLUMNS} FROM audits.audit_pending;
DROP TABLE audits.audit_pending;
DROP FUNCTION audits.audit_pending_check_moved();
DROP FUNCTION audits.audit_pending_refuse_change();
CREATE FUNCTION audits.audit_log_seal(p_partition text, p_ids bigint[], p_seqs bigint[],
                                      p_prevs text[], p_sigs text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audits AS $$
DECLARE
    sealed bigint;
BEGIN
    IF p_partition !~ '^audit_log_[0-9]{{4}}_[0-9]{{2}}$' THEN
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


class Migration(migrations.Migration):
    dependencies = [("audits", "0007_object_history_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, REVERSE)],
            state_operations=[
                migrations.AlterModelTable(name="auditentry", table="audit_entries"),
                migrations.AlterModelTable(name="auditlogrow", table="audit_entries"),
            ],
        ),
    ]
