"""The console's groups, "Auditors" (read-only) and "Operators" (day-to-day actions).

The names are frozen here; the permissions each group holds are handed out by the
post_migrate sync in console/apps.py (console/roles.py's rules), which runs after every
`migrate`, so this migration imports no live code and models added later join the rules
without a new migration."""

from django.db import migrations

GROUP_NAMES = ("Auditors", "Operators")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in GROUP_NAMES:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name__in=GROUP_NAMES).delete()


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
