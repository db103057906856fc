"""Every save, delete and action taken in the console is in the audit chain with the
staff member as actor, next to the entries of the services it called; refusals leave no
change behind and are messages, never errors."""

from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from console.audit import ConsoleModelAdmin
from core.testing import registered_model_admins
from experiments.models import Promotion

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_save_is_audited_with_the_staff_actor(superuser_console, superadmin, world, new_audit):
    from projects.models import Policy

    policy = Policy.objects.get(name="console policy")
    url = reverse("admin:projects_policy_change", args=[policy.pk])
    response = superuser_console.post(
        url, {"name": "console policy", "description": "now described", "rego_code": "package console", "active": "on"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    console_entry = new_audit(entity="admin", action="change").get()
    assert console_entry.actor == superadmin.pk
    assert console_entry.payload == {
        "model": "projects.policy",
        "id": str(policy.pk),
        "fields": ["Description"],
        "request_id": mock.ANY,
    }
    domain_entry = new_audit(entity="policy", action="update").get()
    assert domain_entry.actor == superadmin.pk


def test_an_addition_and_a_deletion_are_audited(superuser_console, superadmin, new_audit):
    from projects.models import Policy

    response = superuser_console.post(
        reverse("admin:projects_policy_add"), {"name": "temporary", "description": "", "rego_code": "package t"}
    )
    assert response.status_code == 302
    policy = Policy.objects.get(name="temporary")
    addition = new_audit(entity="admin", action="add").get()
    assert addition.payload == {"model": "projects.policy", "id": str(policy.pk), "request_id": mock.ANY}
    response = superuser_console.post(reverse("admin:projects_policy_delete", args=[policy.pk]), {"post": "yes"})
    assert response.status_code == 302 and not Policy.objects.filter(pk=policy.pk).exists()
    deletion = new_audit(entity="admin", action="delete").get()
    assert deletion.actor == superadmin.pk
    assert deletion.payload == {
        "model": "projects.policy",
        "ids": [str(policy.pk)],
        "count": 1,
        "request_id": mock.ANY,
    }
    assert new_audit(entity="policy", action="delete").exists()


def test_an_action_is_audited_with_what_it_was_given_and_its_refusals(superuser_console, superadmin, world, new_audit):
    own = world["promotion"]
    # A promotion the superadmin requested: four-eyes refuses them its approval.
    from experiments.services import promotion_request
    from projects.tests.factories import evaluating_experiment

    experiment, _ = evaluating_experiment(own.experiment.project, superadmin)
    mine = promotion_request(experiment=experiment, actor=superadmin)
    response = superuser_console.post(
        reverse("admin:experiments_promotion_changelist"),
        {"action": "approve", "_selected_action": [str(own.pk), str(mine.pk)], "reason": "looks right"},
        follow=True,
    )
    messages = _messages(response)
    assert any("Four-eyes" in m for m in messages) and "Approved: 1." in messages
    assert Promotion.objects.get(pk=own.pk).status == "approved"
    assert Promotion.objects.get(pk=mine.pk).status == "pending"
    entry = new_audit(entity="admin", action="action").get()
    assert entry.actor == superadmin.pk
    assert entry.payload["model"] == "experiments.promotion" and entry.payload["name"] == "approve"
    assert sorted(entry.payload["ids"]) == sorted([str(own.pk), str(mine.pk)])
    assert entry.payload["selected"] == 2 and entry.payload["refusals"] == 1
    approvals = new_audit(entity="promotion", action="approve")
    assert [e.payload["id"] for e in approvals] == [str(own.pk)]


def test_a_refused_save_leaves_no_entry(superuser_console, superadmin, new_audit):
    url = reverse("admin:accounts_user_change", args=[superadmin.pk])
    response = superuser_console.post(
        url, {"name": "x", "role": "viewer", "is_active": "on", "verified": "on"}, follow=True
    )
    assert "last active administrator" in response.content.decode()
    assert not new_audit(entity="admin").exists()
    assert not new_audit(entity="user", action="update").exists()


def test_delete_selected_is_all_or_nothing(superuser_console, regular_user, new_audit):
    from projects.models import Baseline
    from projects.services import project_archive
    from projects.tests.factories import make_project

    open_project = make_project(regular_user, name="open")
    archived = make_project(regular_user, name="archived")
    project_archive(project=archived, actor=regular_user)  # read-only: the service refuses its baselines' deletion
    chosen = [Baseline.objects.filter(project=open_project).first(), Baseline.objects.filter(project=archived).first()]
    response = superuser_console.post(
        reverse("admin:projects_baseline_changelist"),
        {"action": "delete_selected", "_selected_action": [str(b.pk) for b in chosen], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert any("Nothing deleted" in m and "archived" in m for m in _messages(response)), _messages(response)
    assert Baseline.objects.filter(pk__in=[b.pk for b in chosen]).count() == 2
    assert not new_audit(entity="admin", action="delete").exists()
    assert not new_audit(entity="baseline", action="delete").exists()


def test_a_project_is_deleted_with_its_versions(superuser_console, regular_user, new_audit):
    from projects.models import Project, Version
    from projects.services import project_create

    project = project_create(owner=regular_user, name="short-lived", actor=regular_user)
    url = reverse("admin:projects_project_delete", args=[project.pk])
    assert "Cannot delete" not in superuser_console.get(url).content.decode()
    assert superuser_console.post(url, {"post": "yes"}).status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists() and not Version.objects.filter(project=project).exists()
    assert new_audit(entity="project", action="delete").exists() and new_audit(entity="admin", action="delete").exists()


def test_every_action_of_every_admin_needs_a_permission(rf, make_user):
    request = rf.get("/")
    request.user = make_user("user", is_staff=True)  # staff, without any permission
    for model, model_admin in registered_model_admins():
        assert isinstance(model_admin, ConsoleModelAdmin), model
        assert model_admin.get_actions(request) == {}, f"{model.__name__}: actions offered without a permission"


def test_an_action_without_a_declared_permission_needs_the_change_permission(rf, make_user, monkeypatch):
    from providers.models import CostAlert

    model_admin = admin.site.get_model_admin(CostAlert)

    def bare(modeladmin, request, queryset):
        return None

    monkeypatch.setattr(model_admin, "actions", [bare])
    request = rf.get("/")
    request.user = make_user("user", is_staff=True)
    assert "bare" not in model_admin.get_actions(request)
    request.user.user_permissions.add(Permission.objects.get(codename="change_costalert"))
    request.user = type(request.user).objects.get(pk=request.user.pk)  # fresh permission cache
    assert "bare" in model_admin.get_actions(request)


# --- groups ----------------------------------------------------------------------------------


def test_group_changes_are_audited_with_the_permissions_granted(superuser_console, superadmin, new_audit):
    view_user = Permission.objects.get(codename="view_user")
    change_user = Permission.objects.get(codename="change_user")
    response = superuser_console.post(
        reverse("admin:auth_group_add"), {"name": "Helpdesk", "permissions": [view_user.pk, change_user.pk]}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    group = Group.objects.get(name="Helpdesk")
    assert set(group.permissions.values_list("codename", flat=True)) == {"view_user", "change_user"}
    created = new_audit(entity="group", action="create").get()
    assert created.actor == superadmin.pk
    assert created.payload["added"] == ["accounts.change_user", "accounts.view_user"]
    response = superuser_console.post(
        reverse("admin:auth_group_change", args=[group.pk]), {"name": "Helpdesk", "permissions": [view_user.pk]}
    )
    assert response.status_code == 302
    updated = new_audit(entity="group", action="update").get()
    assert updated.payload["removed"] == ["accounts.change_user"] and updated.payload["added"] == []
    assert new_audit(entity="admin", action="change").exists()
    superuser_console.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"})
    assert new_audit(entity="group", action="delete").get().payload["name"] == "Helpdesk"


def test_only_administrators_change_groups(operator, auditor, console_for, world):
    group = Group.objects.get(name="Operators")
    for staff in (operator, auditor):
        console = console_for(staff)
        assert console.get(reverse("admin:auth_group_changelist")).status_code == 200
        assert console.post(reverse("admin:auth_group_change", args=[group.pk]), {"name": "x"}).status_code == 403
        assert console.get(reverse("admin:auth_group_add")).status_code == 403


def test_an_administrator_puts_staff_into_groups(superuser_console, superadmin, make_user, new_audit):
    from accounts.models import SecurityEvent

    staff = make_user("user", is_staff=True, name="New Staff")
    auditors = Group.objects.get(name="Auditors")
    response = superuser_console.post(
        reverse("admin:accounts_user_change", args=[staff.pk]),
        {
            "name": "New Staff",
            "role": "user",
            "is_active": "on",
            "verified": "on",
            "is_staff": "on",
            "groups": [auditors.pk],
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(staff.groups.values_list("name", flat=True)) == ["Auditors"]
    entry = new_audit(entity="user", action="groups").get()
    assert entry.actor == superadmin.pk and entry.payload["added"] == ["Auditors"]
    assert SecurityEvent.objects.filter(user=staff, action="user_update", details__groups__added=["Auditors"]).exists()


def test_an_operator_cannot_change_roles_or_groups(operator, console_for, regular_user, new_audit):
    console = console_for(operator)
    url = reverse("admin:accounts_user_change", args=[regular_user.pk])
    page = console.get(url).content.decode()
    assert 'name="name"' in page and 'name="role"' not in page and 'name="groups"' not in page
    response = console.post(url, {"name": "Renamed", "role": "admin", "groups": [1]})
    assert response.status_code == 302
    regular_user.refresh_from_db()
    assert regular_user.name == "Renamed" and regular_user.role == "user" and not regular_user.groups.exists()
    assert new_audit(entity="user", action="update").get().payload["fields"] == ["name"]
