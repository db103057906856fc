"""One object's history (`/audit-log/?object_id=…`, the console's History page) finds its
entries by the `id` its payload names. Without an index on that key every such look-up
scans the whole log; with it, a look-up reads one object's entries, newest first. Made on
the partitioned parent, so every partition, including those created later, has it."""

from django.db import migrations

FORWARD = "CREATE INDEX IF NOT EXISTS audit_log_object_idx ON audits.audit_log ((payload -> 'id'), ts);"
REVERSE = "DROP INDEX IF EXISTS audits.audit_log_object_idx;"


class Migration(migrations.Migration):
    dependencies = [("audits", "0006_pending_function")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
