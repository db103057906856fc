"""The console's groups, "Auditors" (read-only) and "Operators" (day-to-day actions),
with the permissions console/roles.py names. Later migrations that add models are
covered by the post_migrate sync in console/apps.py (it only ever adds)."""

from django.db import migrations


def create_groups(apps, schema_editor):
    from console.roles import ensure_permissions, sync_groups

    alias = schema_editor.connection.alias
    ensure_permissions(apps=apps, using=alias)
    sync_groups(apps=apps, using=alias)


def remove_groups(apps, schema_editor):
    from console.roles import GROUPS

    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0003_session_last_write"),
        ("audits", "0004_seal_function"),
        ("projects", "0001_initial"),
        ("experiments", "0001_initial"),
        ("quarantine", "0002_quarantine_records_immutable"),
        ("providers", "0003_usage_tracking_fillfactor"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
