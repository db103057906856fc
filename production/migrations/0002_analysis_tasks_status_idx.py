"""Index analysis tasks by status (console counts and filters). Built CONCURRENTLY, so a
deployment with millions of tasks keeps writing while it builds (hence not atomic)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("production", "0001_initial")]

    operations = [
        AddIndexConcurrently(
            model_name="analysistask",
            index=models.Index(fields=["status"], name="analysis_tasks_status_idx"),
        ),
    ]
