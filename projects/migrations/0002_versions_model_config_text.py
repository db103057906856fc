"""Version.model_config_text and VersionHistory.model_config_text: a version's config (and
each history snapshot of it) as JSON text in its author's key order, beside the jsonb
`model_config` (which sorts object keys), checked equal to it by the database.

Rows that exist before this migration are backfilled from their jsonb column: the order
their authors wrote is already lost, so they keep jsonb's order (shorter keys first).
Each UPDATE rewrites every row of its table once, under its lock (docs/zones.md)."""

import django.db.models.functions.comparison
from django.db import migrations, models

# Frozen SQL: a migration must do the same thing whatever the live code says later.
BACKFILL = """
UPDATE projects.versions SET model_config_text = model_config::text WHERE model_config_text IS NULL;
UPDATE projects.version_history SET model_config_text = model_config::text WHERE model_config_text IS NULL;
"""


def _text_equals_jsonb():
    return models.Q(
        ("model_config", django.db.models.functions.comparison.Cast("model_config_text", models.JSONField()))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="version", name="model_config_text", field=models.TextField(null=True)),
        migrations.AddField(model_name="versionhistory", name="model_config_text", field=models.TextField(null=True)),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="version", name="model_config_text", field=models.TextField(db_default="{}", default="{}")
        ),
        migrations.AlterField(
            model_name="versionhistory",
            name="model_config_text",
            field=models.TextField(db_default="{}", default="{}"),
        ),
        migrations.AddConstraint(
            model_name="version",
            constraint=models.CheckConstraint(condition=_text_equals_jsonb(), name="versions_model_config_text_check"),
        ),
        migrations.AddConstraint(
            model_name="versionhistory",
            constraint=models.CheckConstraint(
                condition=_text_equals_jsonb(), name="version_history_model_config_text_check"
            ),
        ),
    ]
