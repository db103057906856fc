"""audit_log_ensure_partition: robust when two writers race into a new month.

After waiting for the advisory lock, the second writer must see the partition the first
one committed. to_regclass() reads the system cache, which an advisory lock does not
refresh, so the existence check now scans pg_class with a fresh snapshot, and a
duplicate_table error (possible under REPEATABLE READ, whose snapshot predates the other
commit) counts as "already there".
"""
from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION audits.audit_log_ensure_partition(p_month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audits AS $$
DECLARE
    first_day date := date_trunc('month', p_month)::date;
    next_day  date := (date_trunc('month', p_month) + interval '1 month')::date;
    part      text := format('audit_log_%s', to_char(first_day, 'YYYY_MM'));
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'audits' AND c.relname = part) THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(7301001);
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'audits' AND c.relname = part) THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE TABLE audits.%I PARTITION OF audits.audit_log FOR VALUES FROM (%L) TO (%L)',
            part, first_day::text || ' 00:00:00+00', next_day::text || ' 00:00:00+00');
        EXECUTE format(
            'CREATE TRIGGER %I BEFORE TRUNCATE ON audits.%I FOR EACH STATEMENT '
            'EXECUTE FUNCTION audits.audit_log_refuse_truncate()', part || '_no_truncate', part);
    EXCEPTION WHEN duplicate_table THEN
        RETURN false;
    END;
    RETURN true;
END $$;
"""

REVERSE = r"""
CREATE OR REPLACE FUNCTION audits.audit_log_ensure_partition(p_month date) RETURNS boolean
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
"""


class Migration(migrations.Migration):
    dependencies = [("audits", "0002_verifications")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
