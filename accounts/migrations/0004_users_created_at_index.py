"""An index on users.created_at, built without blocking sign-ups (CONCURRENTLY)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("accounts", "0003_session_last_write")]

    operations = [
        AddIndexConcurrently(
            model_name="user",
            index=models.Index(fields=["created_at"], name="users_created_at_idx"),
        ),
    ]
