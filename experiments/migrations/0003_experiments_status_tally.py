"""A tally of experiments by status (core.db.tallies): the exact `count` of an admin's
list of every experiment, or of every experiment with some statuses, read from a few
hundred rows instead of counting up to the whole table. Seeding locks the table against
writes for as long as one `count(*) ... GROUP BY status` over it takes."""

from django.db import migrations

from core.db.tallies import install_sql, uninstall_sql


class Migration(migrations.Migration):
    dependencies = [("experiments", "0002_experiments_project_status_idx")]

    operations = [
        migrations.RunSQL(
            install_sql("experiments", "experiments", "status"), uninstall_sql("experiments", "experiments", "status")
        )
    ]
