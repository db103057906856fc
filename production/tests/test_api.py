"""The production API for every role: the whole session lifecycle, refusals with their
error envelopes, the audit entries written, filters, and constant query counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.testing import assert_error
from production.models import AnalysisSession, AnalysisTask, Artifact, CodeReviewResult
from production.tests.factories import digest, make_artifact, make_review, make_session, make_task
from projects.services import project_archive
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db

API = "/api/v1/analysis-sessions"


def queries_for(client, url) -> int:
    client.get(url)  # warm-up (session last_used, caches)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def artifact_body(**extra):
    body = {
        "type": "report",
        "s3_uri": "s3://reviews-bucket/sessions/report.json",
        "sha256": digest(),
        "size_bytes": 4096,
    }
    body.update(extra)
    return body


def test_session_lifecycle_over_http(
    project, regular_user, user_client, viewer_client, admin_client_api, other_user_client, anon_client, new_audit
):
    # 1. the owner starts a session (v2 by default) and plans its tasks
    created = user_client.post(f"{API}/", {"project": str(project.pk), "metadata": {"pr": 7}}, format="json")
    assert created.status_code == 201, created.content
    session = created.json()
    assert (session["status"], session["version"], session["user"], session["provider"]) == (
        "created",
        "v2",
        str(regular_user.pk),
        None,
    )
    url = f"{API}/{session['id']}"
    tasks = {}
    for kind in ("static", "dynamic", "graph", "ai"):
        response = user_client.post(f"{url}/tasks/", {"type": kind}, format="json")
        assert response.status_code == 201, response.content
        tasks[kind] = response.json()
        assert tasks[kind]["status"] == "pending" and tasks[kind]["duration_ms"] is None
    moved = user_client.post(f"{url}/transition", {"to": "queued"}, format="json")
    assert moved.status_code == 200 and moved.json()["status"] == "queued"
    # 2. a viewer reads everything and writes nothing; another user sees nothing
    assert viewer_client.get(url).json()["id"] == session["id"]
    assert_error(viewer_client.post(f"{url}/tasks/", {"type": "ai"}, format="json"), 403, "permission_denied")
    assert_error(viewer_client.post(f"{url}/cancel"), 403, "permission_denied")
    assert_error(other_user_client.get(url), 404, "not_found")
    assert_error(other_user_client.get(f"{url}/tasks/"), 404, "not_found")
    assert_error(other_user_client.post(f"{url}/cancel"), 404, "not_found")
    assert_error(anon_client.get(url), 401, "not_authenticated")
    # 3. tasks run and finish; the first to run starts the session
    for kind in ("static", "dynamic", "graph"):
        task_url = f"{url}/tasks/{tasks[kind]['id']}"
        running = user_client.patch(task_url, {"status": "running"}, format="json")
        assert running.status_code == 200 and running.json()["started_at"], running.content
        done = user_client.patch(task_url, {"status": "completed", "result": {"findings": 2}}, format="json")
        body = done.json()
        assert body["status"] == "completed" and body["result"] == {"findings": 2}
        assert body["duration_ms"] is not None and body["duration_ms"] >= 0
    detail = user_client.get(url).json()
    assert detail["status"] == "running" and detail["started_at"]
    assert [t["type"] for t in detail["tasks"]] == ["static", "dynamic", "graph", "ai"]
    # 4. results and artifacts along the way (an admin may write any session)
    review = user_client.post(
        f"{url}/code-reviews/",
        {"code_language": "Python", "code_length": 5400, "overall_score": 91.5, "issues_count": 3},
        format="json",
    )
    assert review.status_code == 201, review.content
    assert review.json()["code_language"] == "python" and review.json()["overall_score"] == "91.50"
    artifact = admin_client_api.post(f"{url}/artifacts/", artifact_body(), format="json")
    assert artifact.status_code == 201, artifact.content
    # 5. the last task finishes the session
    ai_url = f"{url}/tasks/{tasks['ai']['id']}"
    user_client.patch(ai_url, {"status": "running"}, format="json")
    user_client.patch(ai_url, {"status": "completed"}, format="json")
    final = viewer_client.get(url).json()
    assert final["status"] == "completed" and final["finished_at"] >= final["started_at"]
    assert_error(user_client.post(f"{url}/tasks/", {"type": "ai"}, format="json"), 409, "conflict")
    assert_error(user_client.post(f"{url}/cancel"), 409, "invalid_transition")
    assert_error(user_client.patch(ai_url, {"status": "failed"}, format="json"), 409, "invalid_transition")
    # 6. every step is in the audit chain, with its actor
    moves = [
        (e.payload["from"], e.payload["to"])
        for e in new_audit(entity="analysis_session", action="transition").order_by("id")
    ]
    assert moves == [("created", "queued"), ("queued", "running"), ("running", "completed")]
    assert new_audit(entity="analysis_task", action="create").count() == 4
    assert new_audit(entity="analysis_task", action="transition").count() == 8
    assert new_audit(entity="artifact", action="create").get().actor == admin_client_api.user.pk
    assert new_audit(entity="code_review", action="create").get().actor == regular_user.pk
    # 7. children are listed for whoever may read the session
    assert viewer_client.get(f"{url}/artifacts/").json()["count"] == 1
    assert viewer_client.get(f"{url}/code-reviews/").json()["results"][0]["id"] == review.json()["id"]
    one = viewer_client.get(f"{url}/artifacts/{artifact.json()['id']}")
    assert one.status_code == 200 and one.json()["sha256"] == artifact.json()["sha256"]


def test_cancel_over_http_skips_open_tasks(session, regular_user, user_client, new_audit):
    running = make_task(session, status="running")
    make_task(session)
    response = user_client.post(f"{API}/{session.pk}/cancel", {"reason": "superseded"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled" and response.json()["error_message"] == "superseded"
    tasks = user_client.get(f"{API}/{session.pk}/tasks/").json()["results"]
    assert [t["status"] for t in tasks] == ["skipped", "skipped"]
    assert tasks[0]["id"] == str(running.pk) and tasks[0]["duration_ms"] is not None
    assert new_audit(entity="analysis_session", action="transition", payload__to="cancelled").count() == 1


def test_failed_task_fails_the_session_over_http(session, user_client):
    task = make_task(session, status="running")
    response = user_client.patch(
        f"{API}/{session.pk}/tasks/{task.pk}", {"status": "failed", "error_message": "timeout"}, format="json"
    )
    assert response.json()["error_message"] == "timeout"
    detail = user_client.get(f"{API}/{session.pk}").json()
    assert detail["status"] == "failed" and detail["error_message"] == "1 of 1 task failed."


def test_validation_refusals_are_400_envelopes(session, user_client):
    url = f"{API}/{session.pk}"
    for body, field in (
        (artifact_body(sha256="Z" * 64), "sha256"),
        (artifact_body(sha256="ABCDEF" + "0" * 58), "sha256"),
        (artifact_body(sha256="abc"), "sha256"),
        (artifact_body(size_bytes=-1), "size_bytes"),
        (artifact_body(size_bytes="12"), "size_bytes"),
        (artifact_body(s3_uri="just text"), "s3_uri"),
        (artifact_body(s3_uri="https://bucket.example.com/k?X-Amz-Credential=x"), "s3_uri"),
        (artifact_body(type="video"), "type"),
        (artifact_body(expires_at="yesterday"), "expires_at"),
        (artifact_body(expires_at=(timezone.now() - timedelta(days=1)).isoformat()), "expires_at"),
    ):
        error = assert_error(user_client.post(f"{url}/artifacts/", body, format="json"), 400, "validation_error")
        assert field in error["details"], (body, error)
    review = {"code_language": "go", "code_length": 10, "overall_score": 120}
    error = assert_error(user_client.post(f"{url}/code-reviews/", review, format="json"), 400, "validation_error")
    assert "overall_score" in error["details"]
    for field, value in (("vulnerabilities_count", -1), ("issues_count", -1), ("code_length", -5)):
        error = assert_error(
            user_client.post(f"{url}/code-reviews/", {**review, "overall_score": 50, field: value}, format="json"),
            400,
            "validation_error",
        )
        assert field in error["details"]
    error = assert_error(user_client.post(f"{url}/tasks/", {"type": "fuzzing"}, format="json"), 400, "validation_error")
    assert "type" in error["details"]
    task = make_task(session)
    error = assert_error(
        user_client.patch(f"{url}/tasks/{task.pk}", {"status": "done"}, format="json"), 400, "validation_error"
    )
    assert "status" in error["details"]
    assert_error(user_client.patch(f"{url}/tasks/{task.pk}", {}, format="json"), 400, "validation_error")
    bad_json = user_client.post(f"{url}/tasks/", data=b'{"type": ', content_type="application/json")
    assert_error(bad_json, 400, "parse_error")
    nul = user_client.post(f"{url}/artifacts/", artifact_body(metadata={"k": "a\u0000b"}), format="json")
    assert_error(nul, 400, "parse_error")
    assert Artifact.objects.count() == 0 and CodeReviewResult.objects.count() == 0
    assert AnalysisTask.objects.count() == 1


def test_session_create_refusals(project, other_project, user_client, viewer_client, anon_client, regular_user):
    def create(client, **body):
        return client.post(f"{API}/", {"project": str(project.pk), **body}, format="json")

    error = assert_error(
        user_client.post(f"{API}/", {"project": str(other_project.pk)}, format="json"), 400, "validation_error"
    )
    assert "project" in error["details"]  # not yours: a field error, like any id you cannot see
    assert_error(create(user_client, version="v7"), 400, "validation_error")
    assert_error(create(user_client, provider="not-a-uuid"), 400, "validation_error")
    assert_error(create(user_client, provider="00000000-0000-0000-0000-000000000000"), 400, "validation_error")
    assert_error(create(user_client, metadata=[1, 2]), 400, "validation_error")
    assert_error(create(viewer_client), 403, "permission_denied")
    assert_error(create(anon_client), 401, "not_authenticated")
    project_archive(project=project, actor=regular_user)
    assert_error(create(user_client), 409, "project_archived")
    assert AnalysisSession.objects.count() == 0


def test_over_quota_is_429_with_retry_after_and_nothing_created(
    project, regular_user, user_client, provider, set_quota, new_audit
):
    set_quota(regular_user, daily_limit=0)
    response = user_client.post(f"{API}/", {"project": str(project.pk), "provider": str(provider.pk)}, format="json")
    error = assert_error(response, 429, "quota_exceeded")
    assert int(response["Retry-After"]) >= 1 and error["details"]["retry_after"] == int(response["Retry-After"])
    assert AnalysisSession.objects.count() == 0 and not new_audit(entity="analysis_session").exists()
    set_quota(regular_user, daily_limit=10)
    ok = user_client.post(f"{API}/", {"project": str(project.pk), "provider": str(provider.pk)}, format="json")
    assert ok.status_code == 201 and ok.json()["provider"] == str(provider.pk)


def test_archived_project_makes_its_sessions_read_only(session, regular_user, project, user_client):
    task = make_task(session)
    project_archive(project=project, actor=regular_user)
    url = f"{API}/{session.pk}"
    assert_error(user_client.post(f"{url}/cancel"), 409, "project_archived")
    assert_error(
        user_client.patch(f"{url}/tasks/{task.pk}", {"status": "running"}, format="json"), 409, "project_archived"
    )
    assert_error(user_client.post(f"{url}/artifacts/", artifact_body(), format="json"), 409, "project_archived")
    assert user_client.get(url).status_code == 200


def test_session_transition_endpoint(session, user_client):
    url = f"{API}/{session.pk}/transition"
    error = assert_error(user_client.post(url, {"to": "running"}, format="json"), 409, "invalid_transition")
    assert error["details"] == {"from": "created", "to": "running"}
    assert_error(user_client.post(url, {"to": "paused"}, format="json"), 400, "validation_error")
    assert user_client.post(url, {"to": "cancelled"}, format="json").json()["status"] == "cancelled"


def test_visibility_of_lists(project, other_project, regular_user, other_user, admin_user, api_client_for):
    mine = make_session(regular_user, project)
    theirs = make_session(other_user, other_project)
    admins = make_session(admin_user, project)
    seen = {
        role: {row["id"] for row in api_client_for(user).get(f"{API}/").json()["results"]}
        for role, user in (("user", regular_user), ("other", other_user), ("admin", admin_user))
    }
    assert seen["user"] == {str(mine.pk)}  # the project's owner does not see an admin's session in it
    assert seen["other"] == {str(theirs.pk)}
    assert seen["admin"] == {str(mine.pk), str(theirs.pk), str(admins.pk)}
    assert_error(api_client_for(regular_user).get(f"{API}/{admins.pk}"), 404, "not_found")
    assert_error(api_client_for(regular_user).get(f"{API}/not-a-uuid"), 404, "not_found")


def test_list_filters_and_ordering(project, regular_user, user_client, viewer_client):
    second = make_project(regular_user, name="second", baselines=())
    a = make_session(regular_user, project, status="running")
    b = make_session(regular_user, second, status="cancelled")
    c = make_session(regular_user, project, version="v1")

    def ids(query, client=user_client):
        response = client.get(f"{API}/?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [str(c.pk), str(b.pk), str(a.pk)]  # newest first
    assert ids("ordering=created_at") == [str(a.pk), str(b.pk), str(c.pk)]
    assert ids("status=running") == [str(a.pk)]
    assert set(ids("status=running&status=cancelled")) == {str(a.pk), str(b.pk)}
    assert ids(f"project={second.pk}") == [str(b.pk)]
    assert ids("version=v1") == [str(c.pk)]
    assert set(ids("started_after=2000-01-01T00:00:00Z")) == {str(a.pk)}
    assert ids("finished_before=2000-01-01T00:00:00Z") == []
    assert len(ids(f"created_after={(timezone.now() - timedelta(hours=1)).isoformat().replace('+', '%2B')}")) == 3
    assert ids(f"user={regular_user.pk}", client=viewer_client) == [str(c.pk), str(b.pk), str(a.pk)]
    for bad in ("status=paused", "project=nope", "created_after=yesterday", "version=v9"):
        assert_error(user_client.get(f"{API}/?{bad}"), 400, "validation_error")


def test_list_and_detail_cost_a_constant_number_of_queries(project, regular_user, user_client, admin_client_api):
    first = make_session(regular_user, project)
    make_task(first)
    list_url = f"{API}/?status=created&project={project.pk}"
    few = queries_for(user_client, list_url)
    few_admin = queries_for(admin_client_api, f"{API}/?status=created")
    few_detail = queries_for(user_client, f"{API}/{first.pk}")
    few_tasks = queries_for(user_client, f"{API}/{first.pk}/tasks/")
    for _ in range(5):
        make_session(regular_user, project)
    for kind in ("dynamic", "graph", "ai", "static", "ai"):
        make_task(first, type=kind)
    make_artifact(first)
    make_review(first)
    assert queries_for(user_client, list_url) == few
    assert queries_for(admin_client_api, f"{API}/?status=created") == few_admin
    assert queries_for(user_client, f"{API}/{first.pk}") == few_detail
    assert queries_for(user_client, f"{API}/{first.pk}/tasks/") == few_tasks
    assert len(user_client.get(f"{API}/{first.pk}").json()["tasks"]) == 6


def test_admin_writes_any_session(session, admin_client_api, new_audit):
    task = admin_client_api.post(f"{API}/{session.pk}/tasks/", {"type": "graph"}, format="json")
    assert task.status_code == 201
    cancel = admin_client_api.post(f"{API}/{session.pk}/cancel")
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    entry = new_audit(entity="analysis_session", action="transition").get()
    assert entry.actor == admin_client_api.user.pk


def test_unknown_task_of_a_session_is_404(session, project, regular_user, user_client):
    other = make_session(regular_user, project)
    foreign = make_task(other)
    assert_error(
        user_client.patch(f"{API}/{session.pk}/tasks/{foreign.pk}", {"status": "running"}, format="json"),
        404,
        "not_found",
    )
    assert_error(user_client.get(f"{API}/{session.pk}/tasks/{foreign.pk}"), 404, "not_found")
