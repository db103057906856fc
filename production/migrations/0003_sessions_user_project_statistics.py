"""Extended statistics on analysis_sessions (user_id, project_id).

A project belongs to one owner, so its sessions share one user_id: the two filters are
dependent. Without telling the planner, it multiplies their selectivities, expects a
handful of rows for "my sessions in this project with this status" and ANDs two bitmap
index scans over all of the user's sessions of that status (1.1 ms on the benchmark data),
where walking the project's index in created_at order stops after the page (0.1 ms).
Statistics objects are plain SQL (Django has no operation for them); ANALYZE fills them.
"""

from django.db import migrations

CREATE = """
CREATE STATISTICS IF NOT EXISTS production.analysis_sessions_user_project (dependencies, ndistinct)
    ON user_id, project_id FROM production.analysis_sessions;
ANALYZE production.analysis_sessions;
"""
DROP = "DROP STATISTICS IF EXISTS production.analysis_sessions_user_project;"


class Migration(migrations.Migration):
    dependencies = [("production", "0002_analysis_tasks_status_idx")]

    operations = [migrations.RunSQL(CREATE, DROP)]
