from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from core.exceptions import Conflict, NotFound, PermissionDenied, ProjectArchived, ValidationFailed
from projects import selectors, services
from projects.models import Baseline, HistoryAction, Project, Tag, Version, VersionHistory
from projects.tests.factories import make_experiment, make_project


@pytest.mark.django_db
def test_creating_a_project_creates_its_three_versions_and_is_audited(regular_user, audit_entries):
    project = services.project_create(owner=regular_user, name="  Review bot ", actor=regular_user)
    assert project.name == "Review bot"
    versions = Version.objects.filter(project=project).order_by("tag")
    assert [v.tag for v in versions] == ["v1", "v2", "v3"]
    assert all(v.model_config == {} for v in versions)
    [entry] = audit_entries("project", "create", id=project.pk)
    assert entry.actor == regular_user.pk
    assert entry.payload["owner"] == str(regular_user.pk)


@pytest.mark.django_db
def test_project_names_are_unique_per_owner_only(regular_user, other_user):
    services.project_create(owner=regular_user, name="Same", actor=regular_user)
    services.project_create(owner=other_user, name="Same", actor=other_user)
    with pytest.raises(Conflict):
        services.project_create(owner=regular_user, name="Same", actor=regular_user)
    assert Project.objects.filter(name="Same").count() == 2


@pytest.mark.django_db
def test_viewers_write_nothing_and_users_create_only_for_themselves(viewer_user, regular_user, other_user, admin_user):
    with pytest.raises(PermissionDenied):
        services.project_create(owner=viewer_user, name="x", actor=viewer_user)
    with pytest.raises(PermissionDenied):
        services.project_create(owner=other_user, name="x", actor=regular_user)
    with pytest.raises(ValidationFailed):
        services.project_create(owner=viewer_user, name="x", actor=admin_user)
    project = services.project_create(owner=other_user, name="for oscar", actor=admin_user)
    assert project.owner == other_user


@pytest.mark.django_db
def test_archived_projects_refuse_every_write(project, regular_user, admin_user, audit_entries):
    version = Version.objects.get(project=project, tag=Tag.V1)
    baseline = Baseline.objects.filter(project=project).first()
    services.project_archive(project=project, actor=regular_user)
    assert audit_entries("project", "archive", id=project.pk)
    refusals = [
        lambda: services.project_update(project=project, name="new", actor=regular_user),
        lambda: services.version_update(version=version, model_config={"a": 1}, actor=admin_user),
        lambda: services.baseline_create(project=project, metric_key="f1", operator=">", threshold=1, actor=admin_user),
        lambda: services.baseline_update(baseline=baseline, active=False, actor=regular_user),
        lambda: services.baseline_delete(baseline=baseline, actor=regular_user),
        lambda: make_experiment(project, regular_user),
        lambda: selectors.project_get(user=regular_user, pk=project.pk, for_write=True),
    ]
    for refuse in refusals:
        with pytest.raises(ProjectArchived):
            refuse()
    services.project_unarchive(project=project, actor=regular_user)
    services.project_update(project=project, name="writable again", actor=regular_user)
    assert Project.objects.get(pk=project.pk).name == "writable again"


@pytest.mark.django_db
def test_project_get_hides_other_users_projects_and_refuses_viewer_writes(project, other_user, viewer_user, admin_user):
    with pytest.raises(NotFound):
        selectors.project_get(user=other_user, pk=project.pk)
    with pytest.raises(NotFound):
        selectors.project_get(user=other_user, pk=project.pk, for_write=True)
    assert selectors.project_get(user=viewer_user, pk=project.pk) == project
    with pytest.raises(PermissionDenied):
        selectors.project_get(user=viewer_user, pk=project.pk, for_write=True)
    assert selectors.project_get(user=admin_user, pk=project.pk, for_write=True) == project
    with pytest.raises(NotFound):
        selectors.project_get(user=admin_user, pk="not-a-uuid")


@pytest.mark.django_db
def test_version_config_changes_write_history_in_the_same_transaction(project, regular_user, audit_entries):
    v1 = Version.objects.get(project=project, tag=Tag.V1)
    services.version_update(version=v1, model_config={"model": "a"}, reason="first", actor=regular_user)
    services.version_update(version=v1, model_config={"model": "b"}, actor=regular_user)
    services.version_update(version=v1, model_config={"model": "b"}, actor=regular_user)  # no change, no row
    services.version_update(version=v1, changelog="notes only", actor=regular_user)  # not a config change
    rows = list(VersionHistory.objects.filter(version=v1).order_by("created_at"))
    assert [(r.action, r.model_config, r.from_tag, r.to_tag) for r in rows] == [
        (HistoryAction.UPDATED, {"model": "a"}, "v1", "v1"),
        (HistoryAction.UPDATED, {"model": "b"}, "v1", "v1"),
    ]
    assert rows[0].reason == "first" and rows[0].changed_by == regular_user
    entries = audit_entries("version", "updated", id=v1.pk)
    assert len(entries) == 2
    assert entries[1].payload["before"]["model_config_sha256"] != entries[1].payload["after"]["model_config_sha256"]
    assert audit_entries("version", "changelog", id=v1.pk)


@pytest.mark.django_db
def test_only_admins_edit_production_and_quarantine_configs_by_hand(project, regular_user, admin_user):
    v2 = Version.objects.get(project=project, tag=Tag.V2)
    with pytest.raises(PermissionDenied):
        services.version_update(version=v2, model_config={"x": 1}, actor=regular_user)
    services.version_update(version=v2, changelog="owner may document v2", actor=regular_user)
    services.version_update(version=v2, model_config={"x": 1}, reason="hotfix", actor=admin_user)
    assert Version.objects.get(pk=v2.pk).model_config == {"x": 1}


@pytest.mark.django_db
def test_version_config_at_answers_from_history(project, regular_user):
    v1 = Version.objects.get(project=project, tag=Tag.V1)
    services.version_update(version=v1, model_config={"n": 1}, actor=regular_user)
    services.version_update(version=v1, model_config={"n": 2}, actor=regular_user)
    first, second = VersionHistory.objects.filter(version=v1).order_by("created_at")
    assert (
        selectors.version_config_at(version=v1, ts=first.created_at - timedelta(microseconds=1))["model_config"] == {}
    )
    assert selectors.version_config_at(version=v1, ts=first.created_at)["model_config"] == {"n": 1}
    assert selectors.version_config_at(version=v1, ts=second.created_at - timedelta(microseconds=1))[
        "model_config"
    ] == {"n": 1}
    at_now = selectors.version_config_at(version=v1, ts=timezone.now())
    assert at_now["model_config"] == {"n": 2} and at_now["history"] == second
    with pytest.raises(NotFound):
        selectors.version_config_at(version=v1, ts=v1.created_at - timedelta(seconds=1))


@pytest.mark.django_db
def test_baselines_validate_and_audit(project, regular_user, audit_entries):
    with pytest.raises(ValidationFailed):
        services.baseline_create(project=project, metric_key="f1", operator="!=", threshold=1, actor=regular_user)
    with pytest.raises(ValidationFailed):
        services.baseline_create(project=project, metric_key="f1", operator=">", threshold="abc", actor=regular_user)
    with pytest.raises(ValidationFailed):
        services.baseline_create(project=project, metric_key="", operator=">", threshold=1, actor=regular_user)
    b = services.baseline_create(project=project, metric_key="f1", operator=">", threshold="0.5", actor=regular_user)
    b = services.baseline_update(baseline=b, threshold="0.75", active=False, actor=regular_user)
    assert str(b.threshold) == "0.75" and not b.active
    [entry] = audit_entries("baseline", "update", id=b.pk)
    assert entry.payload["before"]["threshold"] != entry.payload["after"]["threshold"]
    services.baseline_delete(baseline=b, actor=regular_user)
    assert not Baseline.objects.filter(pk=b.pk).exists()
    assert audit_entries("baseline", "delete", id=b.pk)


@pytest.mark.django_db
def test_database_refuses_bad_enum_values(project):
    with pytest.raises(IntegrityError):
        Baseline.objects.create(project=project, metric_key="m", operator="~", threshold=1)


@pytest.mark.django_db
def test_database_refuses_a_fourth_version_or_unknown_tag(project):
    with pytest.raises(IntegrityError):
        Version.objects.create(project=project, tag="v4")


@pytest.mark.django_db
def test_database_refuses_a_duplicate_tag(project):
    with pytest.raises(IntegrityError):
        Version.objects.create(project=project, tag="v1")


@pytest.mark.django_db
def test_policies_are_admin_managed_and_attach_once(project, regular_user, admin_user, audit_entries):
    with pytest.raises(PermissionDenied):
        services.policy_create(name="p", rego_code="package x", actor=regular_user)
    policy = services.policy_create(
        name="no-secrets", rego_code="package review\ndeny[msg] { false }", actor=admin_user
    )
    with pytest.raises(Conflict):
        services.policy_create(name="no-secrets", rego_code="package y", actor=admin_user)
    link = services.project_policy_attach(project=project, policy=policy, actor=regular_user)
    assert link.attached_by == regular_user
    with pytest.raises(Conflict):
        services.project_policy_attach(project=project, policy=policy, actor=regular_user)
    with pytest.raises(Conflict):
        services.policy_delete(policy=policy, actor=admin_user)
    services.project_policy_detach(project=project, policy=policy, actor=regular_user)
    with pytest.raises(NotFound):
        services.project_policy_detach(project=project, policy=policy, actor=regular_user)
    services.policy_update(policy=policy, active=False, actor=admin_user)
    with pytest.raises(ValidationFailed):
        services.project_policy_attach(project=project, policy=policy, actor=regular_user)
    services.policy_delete(policy=policy, actor=admin_user)
    assert audit_entries("project_policy", "attach") and audit_entries("project_policy", "detach")
    assert audit_entries("policy", "delete", id=policy.pk)


@pytest.mark.django_db
def test_a_project_with_experiments_cannot_be_deleted(regular_user):
    empty = make_project(regular_user, name="empty")
    services.project_delete(project=empty, actor=regular_user)
    assert not Project.objects.filter(pk=empty.pk).exists()
    busy = make_project(regular_user, name="busy")
    make_experiment(busy, regular_user)
    with pytest.raises(Conflict):
        services.project_delete(project=busy, actor=regular_user)
    assert Project.objects.filter(pk=busy.pk).exists()
