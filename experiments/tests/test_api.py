import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.testing import assert_error
from experiments import services
from experiments.models import Experiment, Status
from projects.models import Tag, Version
from projects.tests.factories import PASSING, evaluating_experiment, make_experiment, make_project

API = "/api/v1"


def queries_for(client, url) -> int:
    client.get(url)  # warm-up
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def create(client, project, config, **extra):
    return client.post(
        f"{API}/experiments/", {"project": str(project.pk), "name": "exp", "config": config, **extra}, format="json"
    )


@pytest.mark.django_db
def test_promotion_path_end_to_end_over_http(
    project,
    regular_user,
    user_client,
    admin_client_api,
    admin_user,
    make_user,
    api_client_for,
    viewer_client,
    audit_entries,
):
    second_admin = api_client_for(make_user("admin", name="Second Admin"))
    # 1. the owner creates an experiment and runs it
    created = create(user_client, project, {"model": "m2", "temperature": 0.1}, dataset_id="golden-set")
    assert created.status_code == 201, created.content
    exp = created.json()
    assert exp["status"] == "created" and exp["version"] == "v1" and exp["verdict"] is None
    url = f"{API}/experiments/{exp['id']}"
    for to in ("running", "completed"):
        moved = user_client.post(f"{url}/transition", {"to": to}, format="json")
        assert moved.status_code == 200 and moved.json()["status"] == to
    assert_error(viewer_client.post(f"{url}/transition", {"to": "failed"}, format="json"), 403, "permission_denied")
    # 2. metrics → AI verdict
    evaluation = user_client.post(f"{url}/evaluations/", {"metrics": PASSING, "ai_confidence": 0.92}, format="json")
    assert evaluation.status_code == 201, evaluation.content
    assert evaluation.json()["ai_verdict"] == "pass" and evaluation.json()["effective_verdict"] == "pass"
    detail = user_client.get(url).json()
    assert detail["status"] == "evaluating" and detail["verdict"] == "pass"
    assert viewer_client.get(f"{url}/evaluations/").json()["count"] == 1
    # 3. the owner proposes; four-eyes approval by an admin; another admin completes
    proposed = user_client.post(f"{API}/promotions/", {"experiment": exp["id"], "reason": "beats v2"}, format="json")
    assert proposed.status_code == 201, proposed.content
    promotion_url = f"{API}/promotions/{proposed.json()['id']}"
    assert_error(user_client.post(f"{promotion_url}/approve"), 403, "permission_denied")
    assert_error(viewer_client.post(f"{promotion_url}/approve"), 403, "permission_denied")
    assert_error(admin_client_api.post(f"{promotion_url}/complete"), 409, "invalid_transition")
    approved = admin_client_api.post(f"{promotion_url}/approve", {"reason": "numbers check out"}, format="json")
    assert approved.status_code == 200 and approved.json()["approver"] == str(admin_user.pk)
    assert_error(second_admin.post(f"{promotion_url}/approve"), 409, "invalid_transition")
    completed = second_admin.post(f"{promotion_url}/complete")
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    # 4. v2 holds the config; the experiment is promoted; history tells it
    assert user_client.get(url).json()["status"] == "promoted"
    v2 = user_client.get(f"{API}/projects/{project.pk}/versions/v2").json()
    assert v2["model_config"] == {"model": "m2", "temperature": 0.1} and v2["promoted_at"]
    history = user_client.get(f"{API}/versions/{v2['id']}/history").json()["results"]
    assert [(h["action"], h["from_tag"], h["to_tag"]) for h in history] == [("promoted", "v1", "v2")]
    assert_error(user_client.post(f"{url}/transition", {"to": "failed"}, format="json"), 409, "invalid_transition")
    # 5. every step is in the audit chain
    actions = [(e.entity, e.action) for e in audit_entries("experiment", "transition", id=exp["id"])]
    assert len(actions) == 4  # running, completed, evaluating, promoted
    assert audit_entries("promotion", "complete", id=proposed.json()["id"])[0].actor == second_admin.user.pk


@pytest.mark.django_db
def test_experiment_create_refusals(project, other_project, user_client, viewer_client, admin_client_api, anon_client):
    assert_error(create(user_client, other_project, {"a": 1}), 400, "validation_error")  # not your project
    assert_error(create(viewer_client, project, {"a": 1}), 403, "permission_denied")
    assert_error(create(anon_client, project, {"a": 1}), 401, "not_authenticated")
    assert_error(create(user_client, project, [1, 2]), 400, "validation_error")
    assert_error(create(user_client, project, {"a": 1}, name=""), 400, "validation_error")
    bad_json = user_client.post(f"{API}/experiments/", data=b'{"project": ', content_type="application/json")
    assert_error(bad_json, 400, "parse_error")
    services.blacklist_add(config={"z": 1, "y": 2}, reason="bad", actor=admin_client_api.user)
    refused = user_client.post(
        f"{API}/experiments/",
        data=f'{{"project": "{project.pk}", "name": "e", "config": {{ "y" : 2,\n "z":1 }} }}',
        content_type="application/json",
    )
    error = assert_error(refused, 409, "config_blacklisted")
    assert error["details"]["config_hash"] == services.config_hash({"y": 2, "z": 1})
    assert create(admin_client_api, other_project, {"a": 1}).status_code == 201  # admins write everywhere


@pytest.mark.django_db
def test_transition_refusals(project, regular_user, user_client, other_user_client):
    experiment = make_experiment(project, regular_user)
    url = f"{API}/experiments/{experiment.pk}/transition"
    error = assert_error(user_client.post(url, {"to": "completed"}, format="json"), 409, "invalid_transition")
    assert error["details"] == {"from": "created", "to": "completed"}
    assert_error(user_client.post(url, {"to": "promoted"}, format="json"), 400, "validation_error")
    assert_error(user_client.post(url, {"to": "nonsense"}, format="json"), 400, "validation_error")
    assert_error(other_user_client.post(url, {"to": "running"}, format="json"), 404, "not_found")
    assert Experiment.objects.get(pk=experiment.pk).status == Status.CREATED


@pytest.mark.django_db
def test_evaluation_and_override_over_http(
    project, regular_user, user_client, admin_client_api, viewer_client, other_user_client
):
    experiment = make_experiment(project, regular_user, status=Status.COMPLETED)
    url = f"{API}/experiments/{experiment.pk}/evaluations/"
    assert_error(
        user_client.post(url, {"metrics": {"accuracy": "high"}, "ai_confidence": 0.9}, format="json"),
        400,
        "validation_error",
    )
    assert_error(
        user_client.post(url, {"metrics": PASSING, "ai_confidence": 1.5}, format="json"), 400, "validation_error"
    )
    assert_error(
        viewer_client.post(url, {"metrics": PASSING, "ai_confidence": 0.9}, format="json"), 403, "permission_denied"
    )
    assert_error(other_user_client.get(url), 404, "not_found")
    review = user_client.post(url, {"metrics": PASSING, "ai_confidence": 0.4}, format="json").json()
    assert review["ai_verdict"] == "manual_review" and review["checks"]["rule"] == "low_confidence"
    override_url = f"{API}/evaluations/{review['id']}/override"
    assert_error(
        user_client.post(override_url, {"verdict": "pass", "reason": "ok"}, format="json"), 403, "permission_denied"
    )
    assert_error(admin_client_api.post(override_url, {"verdict": "pass"}, format="json"), 400, "validation_error")
    assert_error(
        admin_client_api.post(override_url, {"verdict": "maybe", "reason": "x"}, format="json"), 400, "validation_error"
    )
    done = admin_client_api.post(override_url, {"verdict": "pass", "reason": "read the diffs myself"}, format="json")
    assert (
        done.status_code == 200
        and done.json()["effective_verdict"] == "pass"
        and done.json()["evaluated_by"] == "human"
    )
    assert user_client.get(f"{API}/experiments/{experiment.pk}").json()["verdict"] == "pass"
    assert user_client.get(f"{API}/evaluations/{review['id']}").json()["override_reason"] == "read the diffs myself"
    detail = user_client.get(f"{API}/projects/{project.pk}").json()
    assert detail["agreement"]["overridden"] == 1 and detail["agreement"]["agreed"] == 0


@pytest.mark.django_db
def test_failing_metrics_quarantine_over_http(project, regular_user, user_client, viewer_client):
    experiment = make_experiment(project, regular_user, status=Status.COMPLETED)
    body = user_client.post(
        f"{API}/experiments/{experiment.pk}/evaluations/",
        {"metrics": {"accuracy": 0.2, "latency_ms": 10}, "ai_confidence": 0.99},
        format="json",
    ).json()
    assert body["ai_verdict"] == "fail"
    assert user_client.get(f"{API}/experiments/{experiment.pk}").json()["status"] == "quarantined"
    records = viewer_client.get(f"{API}/quarantine/").json()["results"]
    assert [r["experiment"] for r in records] == [str(experiment.pk)]
    blacklist = viewer_client.get(f"{API}/blacklist/", {"active": "true"}).json()["results"]
    assert [b["config_hash"] for b in blacklist] == [experiment.config_hash]
    assert_error(create(user_client, project, experiment.config), 409, "config_blacklisted")


@pytest.mark.django_db
def test_admin_quarantine_endpoint(project, regular_user, user_client, admin_client_api):
    experiment = make_experiment(project, regular_user, status=Status.FAILED)
    url = f"{API}/experiments/{experiment.pk}/quarantine"
    assert_error(user_client.post(url, {"reason": "mine"}, format="json"), 403, "permission_denied")
    assert_error(admin_client_api.post(url, {}, format="json"), 400, "validation_error")
    response = admin_client_api.post(url, {"reason": "crash loop", "evidence": {"exit": 137}}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["experiment"]["status"] == "quarantined" and body["quarantine_record"] and body["blacklist"]
    assert_error(admin_client_api.post(url, {"reason": "again"}, format="json"), 409, "invalid_transition")


@pytest.mark.django_db
def test_promotion_refusals_over_http(project, regular_user, user_client, other_user_client, admin_client_api):
    created = make_experiment(project, regular_user)
    assert_error(
        user_client.post(f"{API}/promotions/", {"experiment": str(created.pk)}, format="json"),
        409,
        "invalid_transition",
    )
    review, _ = evaluating_experiment(project, regular_user, confidence=0.1)
    assert_error(user_client.post(f"{API}/promotions/", {"experiment": str(review.pk)}, format="json"), 409, "conflict")
    passing, _ = evaluating_experiment(project, regular_user)
    assert_error(
        other_user_client.post(f"{API}/promotions/", {"experiment": str(passing.pk)}, format="json"),
        400,
        "validation_error",
    )
    promotion = user_client.post(f"{API}/promotions/", {"experiment": str(passing.pk)}, format="json").json()
    assert_error(
        user_client.post(f"{API}/promotions/", {"experiment": str(passing.pk)}, format="json"), 409, "conflict"
    )
    assert_error(other_user_client.get(f"{API}/promotions/{promotion['id']}"), 404, "not_found")
    rejected = admin_client_api.post(f"{API}/promotions/{promotion['id']}/reject", {"reason": "freeze"}, format="json")
    assert rejected.json()["status"] == "rejected" and rejected.json()["decision_reason"] == "freeze"
    assert_error(admin_client_api.post(f"{API}/promotions/{promotion['id']}/approve"), 409, "invalid_transition")


@pytest.mark.django_db
def test_admin_cannot_approve_own_promotion_over_http(project, admin_user, admin_client_api):
    experiment, _ = evaluating_experiment(project, admin_user)
    promotion = admin_client_api.post(f"{API}/promotions/", {"experiment": str(experiment.pk)}, format="json").json()
    error = assert_error(admin_client_api.post(f"{API}/promotions/{promotion['id']}/approve"), 403, "permission_denied")
    assert "Four-eyes" in error["message"]


@pytest.mark.django_db
def test_blacklist_api(admin_client_api, user_client, viewer_client):
    payload = {"config": {"k": 1}, "reason": "leaks PII", "evidence": {"ticket": "SEC-1"}}
    assert_error(user_client.post(f"{API}/blacklist/", payload, format="json"), 403, "permission_denied")
    created = admin_client_api.post(f"{API}/blacklist/", payload, format="json")
    assert created.status_code == 201 and created.json()["active"] is True
    entry = created.json()
    assert_error(admin_client_api.post(f"{API}/blacklist/", payload, format="json"), 409, "conflict")
    assert_error(admin_client_api.post(f"{API}/blacklist/", {"reason": "x"}, format="json"), 400, "validation_error")
    assert_error(
        admin_client_api.post(f"{API}/blacklist/", {"config_hash": "abc", "reason": "x"}, format="json"),
        400,
        "validation_error",
    )
    assert viewer_client.get(f"{API}/blacklist/{entry['id']}").json()["reason"] == "leaks PII"
    patched = admin_client_api.patch(f"{API}/blacklist/{entry['id']}", {"review_status": "reviewed"}, format="json")
    assert patched.json()["review_status"] == "reviewed" and patched.json()["reviewed_by"]
    assert_error(
        admin_client_api.patch(f"{API}/blacklist/{entry['id']}", {"review_status": "gone"}, format="json"),
        400,
        "validation_error",
    )
    lifted = admin_client_api.post(f"{API}/blacklist/{entry['id']}/lift", {"reason": "fixed upstream"}, format="json")
    assert lifted.json()["active"] is False
    assert viewer_client.get(f"{API}/blacklist/", {"active": "false"}).json()["count"] == 1
    assert_error(viewer_client.get(f"{API}/blacklist/", {"active": "perhaps"}), 400, "validation_error")


@pytest.mark.django_db
def test_comparison_reports_over_http(project, other_project, regular_user, other_user, user_client, other_user_client):
    experiment, _ = evaluating_experiment(project, regular_user)
    v2 = Version.objects.get(project=project, tag=Tag.V2)
    payload = {
        "v1_experiment": str(experiment.pk),
        "v2_version": str(v2.pk),
        "dataset_id": "golden",
        "v1_metrics": {"accuracy": 0.91, "latency_ms": 200},
        "v2_metrics": {"accuracy": 0.93, "latency_ms": 180},
    }
    response = user_client.post(f"{API}/comparison-reports/", payload, format="json")
    assert response.status_code == 201, response.content
    report = response.json()
    assert report["recommendation"] == "keep" and report["metrics"]["metrics"]["accuracy"]["outcome"] == "regressed"
    assert user_client.get(f"{API}/comparison-reports/", {"recommendation": "keep"}).json()["count"] == 1
    assert_error(other_user_client.get(f"{API}/comparison-reports/{report['id']}"), 404, "not_found")
    other_v2 = Version.objects.get(project=other_project, tag=Tag.V2)
    assert_error(
        user_client.post(f"{API}/comparison-reports/", {**payload, "v2_version": str(other_v2.pk)}, format="json"),
        400,
        "validation_error",
    )
    v1 = Version.objects.get(project=project, tag=Tag.V1)
    assert_error(
        user_client.post(f"{API}/comparison-reports/", {**payload, "v2_version": str(v1.pk)}, format="json"),
        400,
        "validation_error",
    )
    assert_error(
        user_client.post(f"{API}/comparison-reports/", {**payload, "v1_metrics": {"a": True}}, format="json"),
        400,
        "validation_error",
    )


@pytest.mark.django_db
def test_experiment_list_filters_ordering_and_visibility(
    project, other_project, regular_user, other_user, user_client, viewer_client
):
    running = make_experiment(project, regular_user, status=Status.RUNNING, name="b-running")
    make_experiment(project, regular_user, status=Status.FAILED, name="a-failed")
    make_experiment(other_project, other_user, name="theirs")

    def names(client, **params):
        return [e["name"] for e in client.get(f"{API}/experiments/", params).json()["results"]]

    assert set(names(user_client)) == {"b-running", "a-failed"}
    assert len(names(viewer_client)) == 3
    assert names(user_client, status="running") == ["b-running"]
    assert set(names(viewer_client, status=["running", "created"])) == {"b-running", "theirs"}
    assert names(viewer_client, project=str(other_project.pk)) == ["theirs"]
    assert names(viewer_client, created_by=str(other_user.pk)) == ["theirs"]
    assert names(user_client, ordering="name") == ["a-failed", "b-running"]
    assert names(user_client, config_hash=running.config_hash) == ["b-running"]
    assert names(user_client, created_after=running.created_at.isoformat(), ordering="created_at")[0] == "b-running"
    assert_error(user_client.get(f"{API}/experiments/", {"status": "nope"}), 400, "validation_error")
    assert_error(user_client.get(f"{API}/experiments/", {"project": "nope"}), 400, "validation_error")
    assert_error(user_client.get(f"{API}/experiments/", {"created_after": "soon"}), 400, "validation_error")
    page = user_client.get(f"{API}/experiments/", {"page_size": 1}).json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]


@pytest.mark.django_db
def test_lists_cost_a_constant_number_of_queries(
    project, regular_user, admin_user, user_client, admin_client_api, viewer_client
):
    def seed(n):
        for _ in range(n):
            experiment, _ = evaluating_experiment(project, regular_user)
            promotion = services.promotion_request(experiment=experiment, actor=regular_user)
            services.promotion_reject(promotion=promotion, actor=admin_user)
            services.evaluation_submit(
                experiment=experiment, metrics={"accuracy": 0.1, "latency_ms": 1}, ai_confidence=0.9, actor=regular_user
            )
        v2 = Version.objects.get(project=project, tag=Tag.V2)
        for experiment in Experiment.objects.filter(project=project)[:n]:
            services.comparison_create(
                experiment=experiment, v2_version=v2, v1_metrics=PASSING, v2_metrics=PASSING, actor=regular_user
            )

    experiment = make_experiment(project, regular_user)
    urls = [
        f"{API}/experiments/",
        f"{API}/experiments/?status=quarantined&ordering=-updated_at",
        f"{API}/promotions/",
        f"{API}/blacklist/",
        f"{API}/comparison-reports/",
        f"{API}/quarantine/",
        f"{API}/reevaluations/",
        f"{API}/projects/{project.pk}/baselines/",
        f"{API}/experiments/{experiment.pk}/evaluations/",
    ]
    seed(1)
    clients = (user_client, admin_client_api, viewer_client)
    before = {(i, url): queries_for(c, url) for i, c in enumerate(clients) for url in urls}
    seed(4)
    for _ in range(3):
        services.evaluation_submit(
            experiment=make_experiment(project, regular_user, status=Status.COMPLETED),
            metrics=PASSING,
            ai_confidence=0.9,
            actor=regular_user,
        )
    after = {(i, url): queries_for(c, url) for i, c in enumerate(clients) for url in urls}
    assert after == before
    assert user_client.get(f"{API}/experiments/").json()["count"] == 9


@pytest.mark.django_db
def test_experiment_detail_update(project, regular_user, user_client, viewer_client):
    experiment = make_experiment(project, regular_user)
    url = f"{API}/experiments/{experiment.pk}"
    patched = user_client.patch(url, {"name": "renamed", "dataset_id": "ds-2"}, format="json")
    assert patched.status_code == 200 and patched.json()["name"] == "renamed"
    assert_error(viewer_client.patch(url, {"name": "x"}, format="json"), 403, "permission_denied")
    assert_error(user_client.patch(url, {"config": {"sneaky": 1}}, format="json"), 400, "validation_error")
    assert_error(user_client.delete(url), 405, "method_not_allowed")


@pytest.mark.django_db
def test_admin_writes_in_any_project(project, regular_user, admin_client_api):
    experiment = make_experiment(project, regular_user)
    moved = admin_client_api.post(f"{API}/experiments/{experiment.pk}/transition", {"to": "running"}, format="json")
    assert moved.status_code == 200
    assert make_project(regular_user, name="x", baselines=()).owner == regular_user
