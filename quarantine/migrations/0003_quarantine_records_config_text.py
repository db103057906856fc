"""QuarantineRecord.config_text: the archived config in its author's key order (jsonb, which
`config` is stored as, sorts object keys), a content column like `config`: the
immutability trigger of migration 0002 now guards it too.

Records that exist before this migration are filled from their experiment's
config_text when it holds the same value (it always should: the record archives the
experiment's config), else from the jsonb column; the backfill runs before the trigger
guards the column."""

import django.db.models.functions.comparison
from django.db import migrations, models

# Frozen SQL: a migration must do the same thing whatever the live code says later.
BACKFILL = """
UPDATE quarantine.quarantine_records AS q
SET config_text = CASE WHEN e.config_text::jsonb = q.config THEN e.config_text ELSE q.config::text END
FROM experiments.experiments AS e
WHERE e.id = q.experiment_id AND q.config_text IS NULL;
UPDATE quarantine.quarantine_records SET config_text = config::text WHERE config_text IS NULL;
"""

_GUARD = r"""
CREATE OR REPLACE FUNCTION quarantine.quarantine_records_refuse_content_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id
       OR NEW.experiment_id IS DISTINCT FROM OLD.experiment_id
       OR NEW.config_hash IS DISTINCT FROM OLD.config_hash
       OR NEW.config IS DISTINCT FROM OLD.config
       {config_text}OR NEW.reason IS DISTINCT FROM OLD.reason
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
"""
GUARD_WITH_TEXT = _GUARD.replace("{config_text}", "OR NEW.config_text IS DISTINCT FROM OLD.config_text\n       ")
GUARD_AS_IN_0002 = _GUARD.replace("{config_text}", "")


class Migration(migrations.Migration):
    dependencies = [
        ("quarantine", "0002_quarantine_records_immutable"),
        ("experiments", "0004_experiments_config_text"),
    ]

    operations = [
        migrations.AddField(model_name="quarantinerecord", name="config_text", field=models.TextField(null=True)),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AlterField(model_name="quarantinerecord", name="config_text", field=models.TextField()),
        migrations.AddConstraint(
            model_name="quarantinerecord",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("config", django.db.models.functions.comparison.Cast("config_text", models.JSONField()))
                ),
                name="quarantine_records_config_text_check",
            ),
        ),
        migrations.RunSQL(GUARD_WITH_TEXT, GUARD_AS_IN_0002),
    ]
