"""Index analysis sessions by (project, status, created_at, id), including user_id: "my
sessions in this project with status S" reads its page in order and its count from the
index alone, instead of ANDing two bitmap scans (one over all of the user's sessions of
that status). Built CONCURRENTLY, so writes go on while it builds (hence not atomic)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("production", "0003_sessions_user_project_statistics")]

    operations = [
        AddIndexConcurrently(
            model_name="analysissession",
            index=models.Index(
                fields=["project", "status", "-created_at", "-id"],
                include=["user"],
                name="analysis_sessions_proj_st_idx",
            ),
        ),
    ]
