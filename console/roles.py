"""The console's groups: which staff see and do what (docs/admin.md).

- **Auditors**: read-only. Every "view" permission of the domain apps, the groups list,
  the database health page and running a chain verification (which reads the chain and
  records only that it ran).
- **Operators**: the Auditors' rights plus the day-to-day operational actions: unlock
  users and sign them out (a user's name is the only field they may edit: role, activity,
  verification and console access stay administrators' — accounts.services refuses
  them), revoke login sessions, acknowledge cost alerts, deactivate users' provider keys,
  probe providers' health.

Approving promotions and re-evaluations, quarantining and overriding verdicts are not in
any group: the services allow them to role=admin only (four-eyes), whatever Django
permission a staff member holds. role=admin users hold every permission already
(accounts.backends); role=viewer staff keep only the "view" permissions of their groups.

The groups are created by console's data migration 0002 and filled after every
`migrate` (post_migrate), so models added later (production's) join the rules without a
new migration. Syncing only adds permissions the rules name; it never removes one an
administrator granted by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

AUDITORS = "Auditors"
OPERATORS = "Operators"

# The apps whose models the console shows.
CONSOLE_APPS = (
    "accounts",
    "audits",
    "projects",
    "experiments",
    "quarantine",
    "providers",
    "production",
    "legacy",
)

CONSOLE_PAGES = {"console.view_database_health", "console.run_chain_verification"}

OPERATOR_ACTIONS = {
    "accounts.change_user",  # unlock, sign out everywhere (admin fields stay read-only)
    "accounts.change_session",  # revoke a login session
    "providers.change_costalert",  # acknowledge
    "providers.change_userprovider",  # deactivate a user's key
    "providers.change_providerhealth",  # probe providers now
}


def _is_view(app_label: str, codename: str) -> bool:
    return codename.startswith("view_") and (
        app_label in CONSOLE_APPS or f"{app_label}.{codename}" == "auth.view_group"
    )


def auditor_rule(app_label: str, codename: str) -> bool:
    return _is_view(app_label, codename) or f"{app_label}.{codename}" in CONSOLE_PAGES


def operator_rule(app_label: str, codename: str) -> bool:
    return auditor_rule(app_label, codename) or f"{app_label}.{codename}" in OPERATOR_ACTIONS


GROUPS: dict[str, Callable[[str, str], bool]] = {AUDITORS: auditor_rule, OPERATORS: operator_rule}


def ensure_permissions(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create every model's permissions now (Django does it only after all migrations,
    too late for a data migration that hands them out)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Historical app configs carry no models module; create_permissions skips those.
        had = getattr(app_config, "models_module", None)
        app_config.models_module = had or True
        try:
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = had


def sync_groups(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Create the console groups and add the permissions their rules name; returns how
    many permissions each group holds. Idempotent; never removes a permission."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.using(using).values_list("pk", "content_type__app_label", "codename").order_by("pk")
    )
    # Written through the link table on `using` explicitly: a related manager would pick
    # its database from the router (migrations may run on the owner connection).
    Link = Group.permissions.through
    held = {}
    for name, rule in GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = [pk for pk, app_label, codename in permissions if rule(app_label, codename)]
        Link.objects.using(using).bulk_create(
            [Link(group_id=group.pk, permission_id=pk) for pk in wanted], ignore_conflicts=True
        )
        held[name] = Link.objects.using(using).filter(group_id=group.pk).count()
    return held


def sync_after_migrate(sender, *, apps=global_apps, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    ensure_permissions(apps=apps, using=using)
    sync_groups(apps=apps, using=using)
