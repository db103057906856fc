"""Experiment.config_text: the config as JSON text in the user's key order (jsonb, which
`config` is stored as, sorts object keys).

Rows that exist before this migration are backfilled from the jsonb column: the order
their users wrote is already lost, so they keep jsonb's order (shorter keys first). The
UPDATE rewrites every row of the table once, under its lock (docs/zones.md)."""

import django.db.models.functions.comparison
from django.db import migrations, models

# Frozen SQL: a migration must do the same thing whatever the live code says later.
BACKFILL = "UPDATE experiments.experiments SET config_text = config::text WHERE config_text IS NULL"


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0003_experiments_status_tally"),
    ]

    operations = [
        migrations.AddField(model_name="experiment", name="config_text", field=models.TextField(null=True)),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AlterField(model_name="experiment", name="config_text", field=models.TextField()),
        migrations.AddConstraint(
            model_name="experiment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("config", django.db.models.functions.comparison.Cast("config_text", models.JSONField()))
                ),
                name="experiments_config_text_check",
            ),
        ),
    ]
