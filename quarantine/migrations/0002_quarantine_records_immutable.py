"""Quarantine records are a read-only archive (SPEC §6), enforced by the database:

- BEFORE UPDATE: the content columns (quarantine.models.CONTENT_COLUMNS) may never
  change; only the review columns (review_status, reviewed_*, review_notes, updated_at) may.
- BEFORE DELETE (row trigger): records are never deleted.

Plain SQL triggers, not a library toggle a session could switch off. TRUNCATE is left to
privileges (the application role is not granted TRUNCATE in production): Django's test
flush empties managed tables with TRUNCATE, and a TRUNCATE trigger would break it.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION quarantine.quarantine_records_refuse_content_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id
       OR NEW.experiment_id IS DISTINCT FROM OLD.experiment_id
       OR NEW.config_hash IS DISTINCT FROM OLD.config_hash
       OR NEW.config IS DISTINCT FROM OLD.config
       OR NEW.reason IS DISTINCT FROM OLD.reason
       OR NEW.evidence IS DISTINCT FROM OLD.evidence
       OR NEW.failure_metrics IS DISTINCT FROM OLD.failure_metrics
       OR NEW.quarantined_at IS DISTINCT FROM OLD.quarantined_at
       OR NEW.quarantined_by_id IS DISTINCT FROM OLD.quarantined_by_id
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
    THEN
        RAISE EXCEPTION 'quarantine record % is read-only: its content columns cannot change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION quarantine.quarantine_records_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'quarantine record % cannot be deleted', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER quarantine_records_immutable
    BEFORE UPDATE ON quarantine.quarantine_records
    FOR EACH ROW EXECUTE FUNCTION quarantine.quarantine_records_refuse_content_change();

CREATE TRIGGER quarantine_records_no_delete
    BEFORE DELETE ON quarantine.quarantine_records
    FOR EACH ROW EXECUTE FUNCTION quarantine.quarantine_records_refuse_delete();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS quarantine_records_no_delete ON quarantine.quarantine_records;
DROP TRIGGER IF EXISTS quarantine_records_immutable ON quarantine.quarantine_records;
DROP FUNCTION IF EXISTS quarantine.quarantine_records_refuse_delete();
DROP FUNCTION IF EXISTS quarantine.quarantine_records_refuse_content_change();
"""


class Migration(migrations.Migration):
    dependencies = [("quarantine", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
