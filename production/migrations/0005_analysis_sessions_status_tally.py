"""A tally of analysis sessions by status (core.db.tallies): the exact `count` of an
admin's list of every session, or of every session with some statuses, read from a few
hundred rows instead of counting up to the whole table. Seeding locks the table against
writes for as long as one `count(*) ... GROUP BY status` over it takes."""

from django.db import migrations

from core.db.tallies import install_sql, uninstall_sql


class Migration(migrations.Migration):
    dependencies = [("production", "0004_analysis_sessions_proj_st_idx")]

    operations = [
        migrations.RunSQL(
            install_sql("production", "analysis_sessions", "status"),
            uninstall_sql("production", "analysis_sessions", "status"),
        )
    ]
