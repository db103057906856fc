"""experiments.blacklisted_after_shared_lock(): the config hash's shared advisory lock, then
whether the hash is blacklisted, read in a snapshot taken after the lock was granted.

An experiment's create is one statement (its checks, the row and its audit entry), and a
statement reads everything in the snapshot it started with. The blacklist must be read
after the lock: a blacklisting that held the lock exclusively and committed while the
create waited must be seen. A VOLATILE PL/pgSQL function takes a new snapshot for each
query it runs (READ COMMITTED), so its EXISTS is read after the lock, as when the two were
separate statements. The lock's keys are passed in: they are computed in one place
(quarantine.services.blacklist.hash_key), which blacklisting uses for its exclusive lock.
"""

from django.db import migrations

# Frozen SQL: a migration must do the same thing whatever the live code says later.
FUNCTION = """
CREATE FUNCTION experiments.blacklisted_after_shared_lock(lock_space integer, lock_key integer, digest text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, experiments
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(lock_space, lock_key);
    -- A new snapshot, taken now that the lock is granted (VOLATILE, READ COMMITTED).
    RETURN EXISTS (SELECT 1 FROM experiments.blacklist WHERE config_hash = digest AND lifted_at IS NULL);
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0004_experiments_config_text"),
    ]

    operations = [
        migrations.RunSQL(
            FUNCTION, "DROP FUNCTION experiments.blacklisted_after_shared_lock(integer, integer, text);"
        ),
    ]
