"""A tally of analysis sessions by status (core.db.tallies): the exact `count` of an
admin's list of every session, or of every session with some statuses, read from a few
hundred rows instead of counting up to the whole table. Seeding locks the table against
writes for as long as one `count(*) ... GROUP BY status` over it takes."""

from django.db import migrations

# The SQL as it was when this migration was written (core.db.tallies generated it then),
# frozen here: a migration must install the same thing whatever the live code says later.
INSTALL = """
LOCK TABLE production.analysis_sessions IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE production.analysis_sessions_status_tally (value text NOT NULL, delta bigint NOT NULL);
CREATE INDEX analysis_sessions_status_tally_value ON production.analysis_sessions_status_tally (value) INCLUDE (delta);
CREATE SEQUENCE production.analysis_sessions_status_tally_writes;
COMMENT ON TABLE production.analysis_sessions_status_tally IS 'Row count of production.analysis_sessions by status: sum(delta) per value. Kept by triggers (core.db.tallies).';

CREATE FUNCTION production.analysis_sessions_status_tally_fold() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'read committed'
       AND pg_try_advisory_xact_lock(7300001, hashtext('production.analysis_sessions_status_tally')) THEN
        WITH gone AS (DELETE FROM production.analysis_sessions_status_tally RETURNING value, delta)
        INSERT INTO production.analysis_sessions_status_tally (value, delta)
        SELECT value, sum(delta) FROM gone GROUP BY value HAVING sum(delta) <> 0;
    END IF;
END $$;

CREATE FUNCTION production.analysis_sessions_status_tally_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO production.analysis_sessions_status_tally (value, delta) SELECT status, count(*) FROM new_rows GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO production.analysis_sessions_status_tally (value, delta) SELECT status, -count(*) FROM old_rows GROUP BY status;
    ELSE  -- an update that leaves status alone nets to nothing and writes nothing
        INSERT INTO production.analysis_sessions_status_tally (value, delta)
        SELECT value, sum(delta) FROM (
            SELECT status AS value, -1 AS delta FROM old_rows
            UNION ALL SELECT status, 1 FROM new_rows
        ) AS change GROUP BY value HAVING sum(delta) <> 0;
    END IF;
    IF FOUND AND nextval('production.analysis_sessions_status_tally_writes') % 256 = 0 THEN
        PERFORM production.analysis_sessions_status_tally_fold();
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION production.analysis_sessions_status_tally_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM production.analysis_sessions_status_tally;
    RETURN NULL;
END $$;

CREATE TRIGGER analysis_sessions_status_tally_insert AFTER INSERT ON production.analysis_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION production.analysis_sessions_status_tally_count();
CREATE TRIGGER analysis_sessions_status_tally_update AFTER UPDATE ON production.analysis_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION production.analysis_sessions_status_tally_count();
CREATE TRIGGER analysis_sessions_status_tally_delete AFTER DELETE ON production.analysis_sessions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION production.analysis_sessions_status_tally_count();
CREATE TRIGGER analysis_sessions_status_tally_truncate AFTER TRUNCATE ON production.analysis_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION production.analysis_sessions_status_tally_reset();

INSERT INTO production.analysis_sessions_status_tally (value, delta) SELECT status, count(*) FROM production.analysis_sessions GROUP BY status;
"""

UNINSTALL = """
DROP TRIGGER IF EXISTS analysis_sessions_status_tally_insert ON production.analysis_sessions;
DROP TRIGGER IF EXISTS analysis_sessions_status_tally_update ON production.analysis_sessions;
DROP TRIGGER IF EXISTS analysis_sessions_status_tally_delete ON production.analysis_sessions;
DROP TRIGGER IF EXISTS analysis_sessions_status_tally_truncate ON production.analysis_sessions;
DROP FUNCTION IF EXISTS production.analysis_sessions_status_tally_count(), production.analysis_sessions_status_tally_reset(), production.analysis_sessions_status_tally_fold();
DROP TABLE IF EXISTS production.analysis_sessions_status_tally;
DROP SEQUENCE IF EXISTS production.analysis_sessions_status_tally_writes;
"""


class Migration(migrations.Migration):
    dependencies = [("production", "0004_analysis_sessions_proj_st_idx")]

    operations = [migrations.RunSQL(INSTALL, UNINSTALL)]
