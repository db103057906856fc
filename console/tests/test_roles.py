"""The console groups from the data migration, their rules, and the viewer role's
read-only guarantee."""

import pytest
from django.contrib.auth.models import Group, Permission

from console import roles

pytestmark = pytest.mark.django_db


def _perms(group_name: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=group_name).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_auditors_only_read():
    auditors = _perms("Auditors")
    writes = {p for p in auditors if not p.split(".")[1].startswith("view_")}
    assert writes == {"console.run_chain_verification"}
    for expected in (
        "accounts.view_user",
        "audits.view_auditlogrow",
        "audits.view_verification",
        "experiments.view_promotion",
        "quarantine.view_quarantinerecord",
        "providers.view_usagetracking",
        "auth.view_group",
        "console.view_database_health",
    ):
        assert expected in auditors, expected
    assert "auth.view_permission" not in auditors


def test_operators_add_the_everyday_actions_and_no_approvals():
    operators, auditors = _perms("Operators"), _perms("Auditors")
    assert operators - auditors == roles.OPERATOR_ACTIONS
    for never in ("experiments.change_promotion", "quarantine.change_reevaluationrequest", "auth.change_group"):
        assert never not in operators


def test_every_model_of_the_console_apps_is_readable_by_auditors():
    from django.apps import apps

    auditors = _perms("Auditors")
    for model in apps.get_models():
        opts = model._meta
        if opts.app_label in roles.CONSOLE_APPS and "view" in opts.default_permissions:
            assert f"{opts.app_label}.view_{opts.model_name}" in auditors, opts.label


def test_syncing_again_only_adds(db):
    extra = Permission.objects.get(codename="change_project")
    auditors = Group.objects.get(name="Auditors")
    auditors.permissions.add(extra)  # granted by hand: kept
    missing = Permission.objects.get(codename="view_user")
    auditors.permissions.remove(missing)  # a rule's permission lost: restored
    held = roles.sync_groups()
    assert "projects.change_project" in _perms("Auditors") and "accounts.view_user" in _perms("Auditors")
    assert held["Auditors"] == auditors.permissions.count()
    assert roles.sync_groups() == held  # idempotent


def test_a_viewer_never_holds_more_than_view_permissions(make_user):
    viewer = make_user("viewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Operators"))
    viewer.user_permissions.add(Permission.objects.get(codename="change_project"))
    held = viewer.get_all_permissions()
    assert held and all(p.split(".")[1].startswith("view_") for p in held)
    assert not viewer.has_perm("console.run_chain_verification")
    assert viewer.has_perm("console.view_database_health") and viewer.has_module_perms("accounts")


def test_an_operator_of_role_user_holds_the_group_permissions(operator):
    assert operator.has_perm("accounts.change_user") and not operator.has_perm("accounts.add_user")
    assert not operator.has_perm("experiments.change_promotion")


def test_role_admin_holds_everything(admin_user):
    assert admin_user.has_perm("console.view_database_health") and admin_user.has_perm("experiments.change_promotion")
