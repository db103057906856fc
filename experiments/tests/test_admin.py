"""The admin console of the three zones: every page renders, writes and workflow actions
go through the services (audited, four-eyes), quarantine records are read-only."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from experiments import services
from experiments.models import Blacklist, ComparisonReport, Evaluation, Experiment, Promotion, Status
from projects.models import Baseline, Policy, Project, ProjectPolicy, Tag, Version, VersionHistory
from projects.services import policy_create, project_archive, project_policy_attach
from projects.tests.factories import PASSING, evaluating_experiment, make_experiment, quarantined_experiment
from quarantine.models import QuarantineRecord, ReevaluationRequest
from quarantine.services import reevaluation_request


@pytest.fixture
def console(superadmin):
    client = Client()
    client.force_login(superadmin)
    return client


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def world(project, regular_user, admin_user, superadmin):
    """One row of every model of the three zones."""
    evaluating, evaluation = evaluating_experiment(project, regular_user, confidence=0.5)
    services.evaluation_override(evaluation=evaluation, verdict="pass", reason="ok", actor=admin_user)
    promotion = services.promotion_request(experiment=evaluating, actor=regular_user)
    _, record = quarantined_experiment(project, regular_user)
    reevaluation = reevaluation_request(record=record, reason="retry", actor=regular_user)
    v2 = Version.objects.get(project=project, tag=Tag.V2)
    services.comparison_create(
        experiment=evaluating, v2_version=v2, v1_metrics=PASSING, v2_metrics=PASSING, actor=regular_user
    )
    policy = policy_create(name="p", rego_code="package p", actor=admin_user)
    project_policy_attach(project=project, policy=policy, actor=regular_user)
    return {"promotion": promotion, "record": record, "reevaluation": reevaluation}


MODELS = [
    Project,
    Version,
    Baseline,
    Policy,
    ProjectPolicy,
    VersionHistory,
    Experiment,
    Evaluation,
    Promotion,
    Blacklist,
    ComparisonReport,
    QuarantineRecord,
    ReevaluationRequest,
]


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_admin_page_renders(console, world, model):
    opts = model._meta
    changelist = console.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    obj = model.objects.first()
    change = console.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    assert change.status_code == 200
    assert console.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "x"}).status_code == 200


@pytest.mark.django_db
def test_project_detail_shows_agreement(console, world, project):
    page = console.get(reverse("admin:projects_project_change", args=[project.pk])).content.decode()
    assert "Judge-vs-human agreement" in page and "0 of 1 overrides agree" in page


@pytest.mark.django_db
def test_project_created_in_the_admin_goes_through_the_service(console, regular_user, audit_entries):
    response = console.post(
        reverse("admin:projects_project_add"),
        {
            "name": "from console",
            "description": "",
            "owner": str(regular_user.pk),
            "settings": "{}",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
            "baselines-TOTAL_FORMS": "0",
            "baselines-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(name="from console")
    assert Version.objects.filter(project=project).count() == 3
    assert audit_entries("project", "create", id=project.pk)


@pytest.mark.django_db
def test_admin_refusals_are_messages_not_errors(console, project, regular_user):
    make_experiment(project, regular_user)
    response = console.post(reverse("admin:projects_project_delete", args=[project.pk]), {"post": "yes"}, follow=True)
    assert response.status_code == 200 and "Cannot delete project" in response.content.decode()
    assert Project.objects.filter(pk=project.pk).exists()
    project_archive(project=project, actor=regular_user)
    response = console.post(
        reverse("admin:projects_project_change", args=[project.pk]),
        {
            "name": "renamed",
            "description": "",
            "settings": "{}",
            "versions-TOTAL_FORMS": "3",
            "versions-INITIAL_FORMS": "3",
            "baselines-TOTAL_FORMS": "2",
            "baselines-INITIAL_FORMS": "2",
            **{
                f"versions-{i}-id": str(v.pk)
                for i, v in enumerate(Version.objects.filter(project=project).order_by("tag"))
            },
            **{f"versions-{i}-project": str(project.pk) for i in range(3)},
            **{
                f"baselines-{i}-id": str(b.pk)
                for i, b in enumerate(Baseline.objects.filter(project=project).order_by("metric_key"))
            },
            **{f"baselines-{i}-project": str(project.pk) for i in range(2)},
        },
        follow=True,
    )
    assert any("archived" in m for m in messages_of(response)), messages_of(response)
    assert Project.objects.get(pk=project.pk).name == project.name


@pytest.mark.django_db
def test_promotion_actions_obey_four_eyes(console, superadmin, project, admin_user, other_admin):
    experiment, _ = evaluating_experiment(project, superadmin)
    own = services.promotion_request(experiment=experiment, actor=superadmin)
    url = reverse("admin:experiments_promotion_changelist")
    response = console.post(url, {"action": "approve", "_selected_action": [own.pk], "reason": "mine"}, follow=True)
    assert any("Four-eyes" in m for m in messages_of(response))
    assert Promotion.objects.get(pk=own.pk).status == "pending"
    services.promotion_approve(promotion=own, actor=admin_user)
    other_experiment, _ = evaluating_experiment(project, admin_user)
    theirs = services.promotion_request(experiment=other_experiment, actor=admin_user)
    console.post(url, {"action": "approve", "_selected_action": [theirs.pk], "reason": "ok"})
    assert Promotion.objects.get(pk=theirs.pk).status == "approved"
    console.post(url, {"action": "complete", "_selected_action": [theirs.pk]})
    assert Experiment.objects.get(pk=other_experiment.pk).status == Status.PROMOTED
    assert Version.objects.get(project=project, tag=Tag.V2).model_config == other_experiment.config


@pytest.mark.django_db
def test_experiment_actions_and_quarantine_needs_a_reason(console, project, regular_user, audit_entries):
    experiment = make_experiment(project, regular_user)
    url = reverse("admin:experiments_experiment_changelist")
    console.post(url, {"action": "mark_running", "_selected_action": [experiment.pk]})
    assert Experiment.objects.get(pk=experiment.pk).status == Status.RUNNING
    console.post(url, {"action": "mark_failed", "_selected_action": [experiment.pk]})
    response = console.post(url, {"action": "quarantine", "_selected_action": [experiment.pk]}, follow=True)
    assert any("reason" in m for m in messages_of(response))
    console.post(url, {"action": "quarantine", "_selected_action": [experiment.pk], "reason": "bad outputs"})
    assert Experiment.objects.get(pk=experiment.pk).status == Status.QUARANTINED
    assert audit_entries("experiment", "quarantine", id=experiment.pk)


@pytest.mark.django_db
def test_reevaluation_actions(console, world, admin_user):
    req = world["reevaluation"]
    url = reverse("admin:quarantine_reevaluationrequest_changelist")
    console.post(url, {"action": "approve", "_selected_action": [req.pk], "reason": "go"})
    assert ReevaluationRequest.objects.get(pk=req.pk).status == "approved"
    console.post(url, {"action": "complete_pass", "_selected_action": [req.pk], "reason": "clean"})
    record = QuarantineRecord.objects.get(pk=world["record"].pk)
    assert record.review_status == "approved_retry" and "clean" in record.review_notes
    assert not Blacklist.objects.get(config_hash=record.config_hash).active


@pytest.mark.django_db
def test_quarantine_records_are_read_only_in_the_admin(console, world):
    record = world["record"]
    page = console.get(reverse("admin:quarantine_quarantinerecord_change", args=[record.pk])).content.decode()
    assert 'name="_save"' not in page
    assert console.get(reverse("admin:quarantine_quarantinerecord_add")).status_code == 403
    assert (
        console.post(reverse("admin:quarantine_quarantinerecord_delete", args=[record.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert QuarantineRecord.objects.filter(pk=record.pk).exists()
