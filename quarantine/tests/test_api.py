import pytest

from core.testing import assert_error
from experiments.models import Blacklist, Experiment
from projects.tests.factories import FAILING, PASSING, quarantined_experiment
from quarantine import services
from quarantine.models import QuarantineRecord, RecordStatus, ReevaluationRequest

API = "/api/v1"


def fail_over_http(client, project, config):
    """Create, run, complete and submit failing metrics through the API."""
    exp = client.post(
        f"{API}/experiments/", {"project": str(project.pk), "name": "risky", "config": config}, format="json"
    ).json()
    for to in ("running", "completed"):
        assert client.post(f"{API}/experiments/{exp['id']}/transition", {"to": to}, format="json").status_code == 200
    verdict = client.post(
        f"{API}/experiments/{exp['id']}/evaluations/", {"metrics": FAILING, "ai_confidence": 0.97}, format="json"
    ).json()
    assert verdict["effective_verdict"] == "fail"
    return exp


@pytest.mark.django_db
def test_quarantine_reevaluate_retry_end_to_end_over_http(
    project,
    regular_user,
    user_client,
    admin_client_api,
    viewer_client,
    other_user_client,
    make_user,
    api_client_for,
    audit_entries,
):
    config = {"model": "m3", "prompt": "v7"}
    exp = fail_over_http(user_client, project, config)
    # The failure is archived, readable by every role, and blacklisted.
    assert user_client.get(f"{API}/experiments/{exp['id']}").json()["status"] == "quarantined"
    records = viewer_client.get(f"{API}/quarantine/", {"project": str(project.pk)}).json()["results"]
    assert len(records) == 1
    record = records[0]
    assert (
        record["config"] == config and record["failure_metrics"] == FAILING and record["review_status"] == "quarantined"
    )
    assert other_user_client.get(f"{API}/quarantine/{record['id']}").status_code == 200  # readable by all roles
    assert_error(
        user_client.post(
            f"{API}/experiments/", {"project": str(project.pk), "name": "again", "config": config}, format="json"
        ),
        409,
        "config_blacklisted",
    )
    # Records are read-only through the API.
    assert_error(
        admin_client_api.patch(f"{API}/quarantine/{record['id']}", {"reason": "x"}, format="json"),
        405,
        "method_not_allowed",
    )
    assert_error(admin_client_api.delete(f"{API}/quarantine/{record['id']}"), 405, "method_not_allowed")
    # The owner asks for a re-evaluation; viewers and other users may not.
    reeval_url = f"{API}/quarantine/{record['id']}/reevaluations/"
    assert_error(viewer_client.post(reeval_url, {"reason": "please"}, format="json"), 403, "permission_denied")
    assert_error(other_user_client.post(reeval_url, {"reason": "please"}, format="json"), 403, "permission_denied")
    assert_error(user_client.post(reeval_url, {}, format="json"), 400, "validation_error")
    requested = user_client.post(reeval_url, {"reason": "fixed the tokenizer bug"}, format="json")
    assert requested.status_code == 201, requested.content
    req = requested.json()
    assert req["status"] == "pending"
    assert_error(user_client.post(reeval_url, {"reason": "twice"}, format="json"), 409, "conflict")
    blacklist = viewer_client.get(f"{API}/blacklist/", {"config_hash": record["config_hash"]}).json()["results"][0]
    assert blacklist["review_status"] == "appealed" and blacklist["active"] is True
    # An admin approves: the record goes under review.
    url = f"{API}/reevaluations/{req['id']}"
    assert_error(user_client.post(f"{url}/approve"), 403, "permission_denied")
    assert_error(
        admin_client_api.post(f"{url}/complete", {"result": {"verdict": "pass"}}, format="json"),
        409,
        "invalid_transition",
    )
    approved = admin_client_api.post(f"{url}/approve", {"notes": "worth a retry"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert viewer_client.get(f"{API}/quarantine/{record['id']}").json()["review_status"] == "under_review"
    # ... and completes it with a passing result: approved_retry, blacklist lifted.
    assert_error(
        admin_client_api.post(f"{url}/complete", {"result": {"verdict": "maybe"}}, format="json"),
        400,
        "validation_error",
    )
    assert_error(admin_client_api.post(f"{url}/complete", {"result": "pass"}, format="json"), 400, "validation_error")
    completed = admin_client_api.post(
        f"{url}/complete", {"result": {"verdict": "pass", "metrics": PASSING, "notes": "clean rerun"}}, format="json"
    )
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    final = viewer_client.get(f"{API}/quarantine/{record['id']}").json()
    assert final["review_status"] == "approved_retry" and "clean rerun" in final["review_notes"]
    assert final["config"] == config and final["reason"] == record["reason"]  # the archive itself never changed
    assert viewer_client.get(f"{API}/blacklist/{blacklist['id']}").json()["active"] is False
    # The same config runs again as a new experiment.
    retry = user_client.post(
        f"{API}/experiments/", {"project": str(project.pk), "name": "retry", "config": config}, format="json"
    )
    assert retry.status_code == 201 and retry.json()["config_hash"] == record["config_hash"]
    assert retry.json()["id"] != exp["id"]
    # Audit chain: request, approve, complete, record review changes, blacklist lift.
    assert audit_entries("reevaluation", "request", id=req["id"])
    assert audit_entries("reevaluation", "approve", id=req["id"])
    assert audit_entries("reevaluation", "complete", id=req["id"])[0].payload["verdict"] == "pass"
    transitions = [e.payload["after"] for e in audit_entries("quarantine_record", "review", id=record["id"])]
    assert transitions == ["under_review", "approved_retry"]
    assert audit_entries("blacklist", "lift", id=blacklist["id"])


@pytest.mark.django_db
def test_failing_reevaluation_returns_the_record_to_quarantined(project, regular_user, admin_user, other_admin):
    _, record = quarantined_experiment(project, regular_user)
    req = services.reevaluation_request(record=record, reason="retry", actor=regular_user)
    req = services.reevaluation_approve(request=req, actor=admin_user)
    req = services.reevaluation_complete(request=req, result={"verdict": "fail"}, actor=other_admin)
    record.refresh_from_db()
    assert record.review_status == RecordStatus.QUARANTINED and record.reviewed_by == other_admin
    entry = Blacklist.objects.get(config_hash=record.config_hash)
    assert entry.active and entry.review_status == "reviewed"
    # A new request may follow.
    assert services.reevaluation_request(record=record, reason="second try", actor=regular_user).status == "pending"


@pytest.mark.django_db
def test_rejected_request_keeps_the_quarantine(project, regular_user, user_client, admin_client_api):
    _, record = quarantined_experiment(project, regular_user)
    req = services.reevaluation_request(record=record, reason="retry", actor=regular_user)
    rejected = admin_client_api.post(
        f"{API}/reevaluations/{req.pk}/reject", {"notes": "no new evidence"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_notes"] == "no new evidence"
    assert_error(admin_client_api.post(f"{API}/reevaluations/{req.pk}/approve"), 409, "invalid_transition")
    record.refresh_from_db()
    assert record.review_status == RecordStatus.QUARANTINED
    assert Blacklist.objects.get(config_hash=record.config_hash).review_status == "reviewed"


@pytest.mark.django_db
def test_reevaluation_approval_is_four_eyes(project, admin_user, admin_client_api):
    _, record = quarantined_experiment(project, admin_user)
    req = admin_client_api.post(
        f"{API}/quarantine/{record.pk}/reevaluations/", {"reason": "mine"}, format="json"
    ).json()
    error = assert_error(admin_client_api.post(f"{API}/reevaluations/{req['id']}/approve"), 403, "permission_denied")
    assert "Four-eyes" in error["message"]


@pytest.mark.django_db
def test_only_quarantined_records_can_be_reevaluated(project, regular_user, admin_user, other_admin):
    _, record = quarantined_experiment(project, regular_user)
    req = services.reevaluation_request(record=record, reason="r", actor=regular_user)
    services.reevaluation_approve(request=req, actor=admin_user)
    from core.exceptions import Conflict

    with pytest.raises(Conflict):
        services.reevaluation_request(record=record, reason="again", actor=regular_user)


@pytest.mark.django_db
def test_a_retried_config_that_fails_again_goes_back_to_quarantine(project, regular_user, admin_user, other_admin):
    experiment, record = quarantined_experiment(project, regular_user)
    req = services.reevaluation_request(record=record, reason="r", actor=regular_user)
    services.reevaluation_approve(request=req, actor=admin_user)
    services.reevaluation_complete(
        request=ReevaluationRequest.objects.get(pk=req.pk), result={"verdict": "pass"}, actor=other_admin
    )
    retry, same_record = quarantined_experiment(project, regular_user, config=experiment.config)
    assert same_record.pk == record.pk and same_record.review_status == RecordStatus.QUARANTINED
    assert str(retry.pk) in same_record.review_notes and same_record.experiment_id == experiment.pk
    assert Blacklist.objects.get(config_hash=record.config_hash).active
    assert Experiment.objects.get(pk=retry.pk).status == "quarantined"


@pytest.mark.django_db
def test_reevaluation_lists_and_filters(project, regular_user, viewer_client, other_user_client):
    _, record = quarantined_experiment(project, regular_user)
    services.reevaluation_request(record=record, reason="r", actor=regular_user)
    assert viewer_client.get(f"{API}/reevaluations/", {"status": "pending"}).json()["count"] == 1
    assert viewer_client.get(f"{API}/reevaluations/", {"status": "completed"}).json()["count"] == 0
    assert other_user_client.get(f"{API}/quarantine/{record.pk}/reevaluations/").json()["count"] == 1
    assert_error(viewer_client.get(f"{API}/reevaluations/", {"status": "bogus"}), 400, "validation_error")
    assert_error(viewer_client.get(f"{API}/quarantine/", {"review_status": "bogus"}), 400, "validation_error")
    assert viewer_client.get(f"{API}/quarantine/", {"review_status": "quarantined"}).json()["count"] == 1
    assert_error(viewer_client.get(f"{API}/reevaluations/00000000-0000-0000-0000-000000000000"), 404, "not_found")


@pytest.mark.django_db
def test_anonymous_sees_nothing(project, regular_user, anon_client):
    _, record = quarantined_experiment(project, regular_user)
    assert_error(anon_client.get(f"{API}/quarantine/"), 401, "not_authenticated")
    assert_error(anon_client.get(f"{API}/quarantine/{record.pk}"), 401, "not_authenticated")
    assert_error(
        anon_client.post(f"{API}/quarantine/{record.pk}/reevaluations/", {"reason": "x"}, format="json"),
        401,
        "not_authenticated",
    )


@pytest.mark.django_db
def test_archived_project_refuses_reevaluation(project, regular_user, user_client):
    from projects.services import project_archive

    _, record = quarantined_experiment(project, regular_user)
    project_archive(project=project, actor=regular_user)
    assert_error(
        user_client.post(f"{API}/quarantine/{record.pk}/reevaluations/", {"reason": "x"}, format="json"),
        409,
        "project_archived",
    )
    assert QuarantineRecord.objects.get(pk=record.pk).review_status == "quarantined"
