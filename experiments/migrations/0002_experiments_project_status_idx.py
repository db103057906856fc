"""Index experiments by (project, status, created_at): a project's list filtered by status
reads its page and its count from this index instead of walking every experiment of the
project. Built CONCURRENTLY, so writes go on while it builds (hence not atomic)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("experiments", "0001_initial")]

    operations = [
        AddIndexConcurrently(
            model_name="experiment",
            index=models.Index(fields=["project", "status", "-created_at"], name="experiments_project_status_idx"),
        ),
    ]
