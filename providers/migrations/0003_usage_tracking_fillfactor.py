"""Room on each page of usage_tracking for HOT updates.

Every record increments a row that was inserted earlier the same day. The counters are
not indexed, so such an update can stay on the row's page (a HOT update, no index
writes) if the page has free space; at the default fillfactor (100) pages fill up with
the day's new rows and updates spill to other pages, writing all five indexes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("providers", "0002_usage_record_function")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE providers.usage_tracking SET (fillfactor = 80)",
            "ALTER TABLE providers.usage_tracking RESET (fillfactor)",
        )
    ]
