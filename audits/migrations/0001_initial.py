"""The audit log: a RANGE-partitioned (monthly, on ts), append-only, hash-chained table.

Plain SQL (Django cannot express partitioning or these triggers), inside
SeparateDatabaseAndState so Django's state knows the unmanaged models that map it.
No DEFAULT partition: it would block DETACH ... CONCURRENTLY and, once it held rows of a
month, make creating that month's partition impossible. Partitions are created ahead by
`manage.py audit_partitions` and on demand by `audits.audit_log_ensure_partition()`.
"""
from django.db import migrations, models

FORWARD = r"""
CREATE SCHEMA IF NOT EXISTS audits;

CREATE SEQUENCE audits.audit_log_id_seq AS bigint;

CREATE TABLE audits.audit_log (
    id          bigint       NOT NULL DEFAULT nextval('audits.audit_log_id_seq'),
    ts          timestamptz  NOT NULL DEFAULT now(),
    entity      varchar(64)  NOT NULL,
    action      varchar(64)  NOT NULL,
    actor       uuid         NULL,            -- a user id; deliberately no FK: entries outlive users
    payload     jsonb        NOT NULL DEFAULT '{}'::jsonb,
    entry_hmac  char(64)     NOT NULL,        -- HMAC of the entry's own content, made by its writer
    chain_seq   bigint       NULL,            -- position in the chain, set once when sealed
    prev_hash   char(64)     NULL,            -- the previous entry's signature
    signature   char(64)     NULL,            -- HMAC of content + chain_seq + prev_hash
    PRIMARY KEY (id, ts),
    CONSTRAINT audit_log_sealed_together_check CHECK (
        (chain_seq IS NULL) = (signature IS NULL) AND (signature IS NULL) = (prev_hash IS NULL)
    ),
    CONSTRAINT audit_log_entity_check CHECK (entity <> ''),
    CONSTRAINT audit_log_action_check CHECK (action <> '')
) PARTITION BY RANGE (ts);
ALTER SEQUENCE audits.audit_log_id_seq OWNED BY audits.audit_log.id;

-- Filters of the API and admin always come with a time range: (x, ts) serves both the
-- equality and the range, and partition pruning removes the months outside it.
CREATE INDEX audit_log_entity_idx ON audits.audit_log (entity, ts);
CREATE INDEX audit_log_actor_idx ON audits.audit_log (actor, ts);
CREATE INDEX audit_log_action_idx ON audits.audit_log (action, ts);
CREATE INDEX audit_log_ts_idx ON audits.audit_log (ts);
-- Verification walks the chain in chain_seq order.
CREATE INDEX audit_log_chain_seq_idx ON audits.audit_log (chain_seq);
-- The sequencer's work queue: tiny, since entries are sealed within about a second.
CREATE INDEX audit_log_pending_idx ON audits.audit_log (id) WHERE chain_seq IS NULL;

-- Immutability. The only UPDATE ever allowed is sealing a pending entry into the chain:
-- chain_seq/prev_hash/signature go from NULL to values, once, with every other column
-- unchanged. A forged seal needs AUDIT_SIGNING_KEY, which never enters the database, so
-- verification still catches one.
CREATE FUNCTION audits.audit_log_refuse_change() RETURNS trigger
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

CREATE FUNCTION audits.audit_log_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: TRUNCATE on % refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Row triggers on the partitioned parent are cloned onto every partition, present and future.
CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audits.audit_log
    FOR EACH ROW EXECUTE FUNCTION audits.audit_log_refuse_change();
-- A statement trigger on the parent does not fire for TRUNCATE of one partition: every
-- partition gets its own (audit_log_ensure_partition creates it).
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audits.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audits.audit_log_refuse_truncate();

-- Create the month's partition (bounds: midnight UTC of the 1st) unless it exists.
-- SECURITY DEFINER: the application role may create a missing month on demand without
-- owning the table or having CREATE on the schema. Serialized by an advisory lock so two
-- writers racing into a new month both succeed.
CREATE FUNCTION audits.audit_log_ensure_partition(p_month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audits AS $$
DECLARE
    first_day date := date_trunc('month', p_month)::date;
    next_day  date := (date_trunc('month', p_month) + interval '1 month')::date;
    part      text := format('audit_log_%s', to_char(first_day, 'YYYY_MM'));
BEGIN
    IF to_regclass(format('audits.%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(7301001);
    IF to_regclass(format('audits.%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE audits.%I PARTITION OF audits.audit_log FOR VALUES FROM (%L) TO (%L)',
        part, first_day::text || ' 00:00:00+00', next_day::text || ' 00:00:00+00');
    EXECUTE format(
        'CREATE TRIGGER %I BEFORE TRUNCATE ON audits.%I FOR EACH STATEMENT '
        'EXECUTE FUNCTION audits.audit_log_refuse_truncate()', part || '_no_truncate', part);
    RETURN true;
END $$;

-- Per-day counts, maintained by the sequencer as it seals entries (each entry is sealed
-- exactly once, so the counts are exact and need no scan of the log).
CREATE TABLE audits.audit_daily_counts (
    day     date        NOT NULL,
    entity  varchar(64) NOT NULL,
    action  varchar(64) NOT NULL,
    count   bigint      NOT NULL CHECK (count >= 0),
    PRIMARY KEY (day, entity, action)
);

CREATE VIEW audits.statistics AS
    SELECT day, entity, action, count FROM audits.audit_daily_counts;

-- This month and the next three exist from the start.
SELECT audits.audit_log_ensure_partition((date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date)
FROM generate_series(0, 3) AS m;
"""

REVERSE = r"""
DROP VIEW IF EXISTS audits.statistics;
DROP TABLE IF EXISTS audits.audit_daily_counts;
DROP TABLE IF EXISTS audits.audit_log CASCADE;
DROP FUNCTION IF EXISTS audits.audit_log_ensure_partition(date);
DROP FUNCTION IF EXISTS audits.audit_log_refuse_truncate();
DROP FUNCTION IF EXISTS audits.audit_log_refuse_change();
DROP SEQUENCE IF EXISTS audits.audit_log_id_seq;
"""


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, REVERSE)],
            state_operations=[
                migrations.CreateModel(
                    name="AuditEntry",
                    fields=[
                        ("pk", models.CompositePrimaryKey("id", "ts", blank=True, editable=False, primary_key=True, serialize=False)),
                        ("id", models.BigIntegerField()),
                        ("ts", models.DateTimeField()),
                        ("entity", models.CharField(max_length=64)),
                        ("action", models.CharField(max_length=64)),
                        ("actor", models.UUIDField(blank=True, null=True)),
                        ("payload", models.JSONField(default=dict)),
                        ("entry_hmac", models.CharField(max_length=64)),
                        ("chain_seq", models.BigIntegerField(blank=True, null=True)),
                        ("prev_hash", models.CharField(blank=True, max_length=64, null=True)),
                        ("signature", models.CharField(blank=True, max_length=64, null=True)),
                    ],
                    options={"db_table": "audit_log", "managed": False},
                ),
                migrations.CreateModel(
                    name="AuditLogRow",
                    fields=[
                        ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                        ("ts", models.DateTimeField()),
                        ("entity", models.CharField(max_length=64)),
                        ("action", models.CharField(max_length=64)),
                        ("actor", models.UUIDField(blank=True, null=True)),
                        ("payload", models.JSONField(default=dict)),
                        ("entry_hmac", models.CharField(max_length=64)),
                        ("chain_seq", models.BigIntegerField(blank=True, null=True)),
                        ("prev_hash", models.CharField(blank=True, max_length=64, null=True)),
                        ("signature", models.CharField(blank=True, max_length=64, null=True)),
                    ],
                    options={"db_table": "audit_log", "managed": False, "verbose_name": "audit log entry",
                             "verbose_name_plural": "audit log", "ordering": ["-ts", "-id"]},
                ),
                migrations.CreateModel(
                    name="Statistic",
                    fields=[
                        ("day", models.DateField(primary_key=True, serialize=False)),
                        ("entity", models.CharField(max_length=64)),
                        ("action", models.CharField(max_length=64)),
                        ("count", models.BigIntegerField()),
                    ],
                    options={"db_table": "statistics", "managed": False, "ordering": ["-day", "entity", "action"]},
                ),
            ],
        ),
    ]
