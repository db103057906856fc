"""The production services: status machines, derived times and durations, the finishing
rule, permissions, archived projects, quotas, validation, and the audit entries."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.exceptions import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ProjectArchived,
    QuotaExceeded,
    ValidationFailed,
)
from production import services
from production.models import AnalysisSession, AnalysisTask, Artifact, CodeReviewResult
from production.tests.factories import make_artifact, make_review, make_session, make_task
from projects.services import project_archive

pytestmark = pytest.mark.django_db


def statuses(session) -> list[str]:
    return list(
        AnalysisTask.objects.filter(session=session).order_by("created_at", "id").values_list("status", flat=True)
    )


def session_moves(new_audit, session) -> list[tuple[str, str]]:
    return [
        (e.payload["from"], e.payload["to"])
        for e in new_audit(entity="analysis_session", action="transition", payload__id=str(session.pk)).order_by("id")
    ]


# --- sessions ---------------------------------------------------------------------------


def test_create_defaults_to_v2_and_is_audited(project, regular_user, new_audit):
    session = services.session_create(project=project, actor=regular_user, metadata={"pr": 42})
    assert (session.status, session.version, session.user_id, session.provider_id) == (
        "created",
        "v2",
        regular_user.pk,
        None,
    )
    assert session.started_at is None and session.finished_at is None
    entry = new_audit(entity="analysis_session", action="create").get()
    assert entry.actor == regular_user.pk
    assert entry.payload["id"] == str(session.pk) and entry.payload["version"] == "v2"
    assert "metadata" not in entry.payload and len(entry.payload["metadata_sha256"]) == 64


def test_create_refusals(project, other_project, regular_user, viewer_user, admin_user):
    with pytest.raises(NotFound):
        services.session_create(project=other_project, actor=regular_user)
    with pytest.raises(PermissionDenied):
        services.session_create(project=project, actor=viewer_user)
    with pytest.raises(ValidationFailed) as exc:
        services.session_create(project=project, actor=regular_user, version="v9")
    assert "version" in exc.value.details
    with pytest.raises(ValidationFailed):
        services.session_create(project=project, actor=regular_user, metadata=["not", "an", "object"])
    project_archive(project=project, actor=regular_user)
    with pytest.raises(ProjectArchived):
        services.session_create(project=project, actor=regular_user)
    with pytest.raises(ProjectArchived):
        services.session_create(project=project, actor=admin_user)  # archived is archived, for admins too
    assert AnalysisSession.objects.count() == 0


def test_admin_may_start_a_session_in_any_project(other_project, admin_user):
    session = services.session_create(project=other_project, actor=admin_user, version="v1")
    assert session.user_id == admin_user.pk and session.version == "v1"


def test_provider_must_exist_and_be_active(project, regular_user, make_provider):
    from providers.services import provider_update

    inactive = make_provider()
    provider_update(provider=inactive, actor=None, is_active=False)
    for bad in (inactive.pk, "00000000-0000-0000-0000-000000000000", "nope"):
        with pytest.raises(ValidationFailed) as exc:
            services.session_create(project=project, actor=regular_user, provider=bad)
        assert "provider" in exc.value.details
    assert AnalysisSession.objects.count() == 0


def test_over_quota_refuses_and_writes_nothing(project, regular_user, provider, set_quota, new_audit):
    set_quota(regular_user, daily_limit=0)
    with pytest.raises(QuotaExceeded) as exc:
        services.session_create(project=project, actor=regular_user, provider=provider)
    assert exc.value.retry_after >= 1 and "daily_requests" in exc.value.details["limits"]
    assert AnalysisSession.objects.count() == 0
    assert not new_audit(entity="analysis_session").exists()
    # Without a provider no quota is involved.
    assert services.session_create(project=project, actor=regular_user).provider_id is None


def test_within_quota_the_session_names_its_provider(project, regular_user, provider, set_quota):
    set_quota(regular_user, daily_limit=5)
    session = services.session_create(project=project, actor=regular_user, provider=provider)
    assert session.provider_id == provider.pk


def test_session_machine_and_timestamps(session, regular_user, new_audit):
    with pytest.raises(InvalidTransition) as exc:
        services.session_transition(session=session, to="running", actor=regular_user)
    assert exc.value.details == {"from": "created", "to": "running"}
    services.session_transition(session=session, to="queued", actor=regular_user)
    with pytest.raises(InvalidTransition):
        services.session_transition(session=session, to="completed", actor=regular_user)
    running = services.session_transition(session=session, to="running", actor=regular_user)
    assert running.started_at is not None and running.finished_at is None
    done = services.session_transition(session=session, to="completed", actor=regular_user)
    assert done.finished_at >= done.started_at
    for to in ("queued", "running", "failed", "cancelled", "completed"):
        with pytest.raises(InvalidTransition):
            services.session_transition(session=session, to=to, actor=regular_user)
    with pytest.raises(ValidationFailed):
        services.session_transition(session=session, to="paused", actor=regular_user)
    assert session_moves(new_audit, session) == [("created", "queued"), ("queued", "running"), ("running", "completed")]


def test_completing_by_hand_needs_every_task_finished_and_none_failed(project, regular_user):
    session = make_session(regular_user, project, status="running")
    task = make_task(session, status="running")
    make_task(session)  # pending
    with pytest.raises(Conflict) as exc:
        services.session_transition(session=session, to="completed", actor=regular_user)
    assert exc.value.details == {"open_tasks": 2, "failed_tasks": 0}
    services.task_update(task=task, status="failed", actor=regular_user)
    with pytest.raises(Conflict) as exc:
        services.session_transition(session=session, to="completed", actor=regular_user)
    assert exc.value.details == {"open_tasks": 1, "failed_tasks": 1}


def test_failing_by_hand_skips_open_tasks(project, regular_user):
    session = make_session(regular_user, project, status="running")
    ran = make_task(session, status="running")
    make_task(session)
    failed = services.session_transition(session=session, to="failed", actor=regular_user, error_message="OOM")
    assert failed.status == "failed" and failed.error_message == "OOM"
    assert statuses(session) == ["skipped", "skipped"]
    ran.refresh_from_db()
    assert ran.started_at and ran.finished_at and ran.duration_ms is not None
    assert ran.error_message == "session failed"


@pytest.mark.parametrize("status", ["created", "queued", "running"])
def test_cancel_from_every_open_state_skips_open_tasks(project, regular_user, status, new_audit):
    session = make_session(regular_user, project, status=status)
    pending = make_task(session)
    done = None
    if status == "running":
        make_task(session, status="running")
        done = make_task(session, status="completed")
    cancelled = services.session_cancel(session=session, actor=regular_user, reason="PR closed")
    assert cancelled.status == "cancelled" and cancelled.finished_at and cancelled.error_message == "PR closed"
    pending.refresh_from_db()
    assert pending.status == "skipped" and pending.started_at is None and pending.duration_ms is None
    assert pending.finished_at == cancelled.finished_at
    if done is not None:
        assert statuses(session) == ["skipped", "skipped", "completed"]
    entry = new_audit(entity="analysis_session", action="transition", payload__to="cancelled").get()
    assert entry.payload["skipped_tasks"] == (2 if status == "running" else 1)
    assert entry.payload["reason"] == "PR closed"
    with pytest.raises(InvalidTransition):
        services.session_cancel(session=session, actor=regular_user)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_finished_sessions_cannot_be_cancelled(project, regular_user, status):
    session = make_session(regular_user, project, status=status)
    with pytest.raises(InvalidTransition) as exc:
        services.session_cancel(session=session, actor=regular_user)
    assert exc.value.details == {"from": status, "to": "cancelled"}


def test_who_may_write_a_session(session, other_user, viewer_user, admin_user):
    with pytest.raises(NotFound):
        services.session_cancel(session=session, actor=other_user)
    with pytest.raises(PermissionDenied):
        services.session_cancel(session=session, actor=viewer_user)
    with pytest.raises(NotFound):
        services.task_create(session=session, type="ai", actor=other_user)
    with pytest.raises(PermissionDenied):
        make_artifact(session, actor=viewer_user)
    assert services.session_cancel(session=session, actor=admin_user).status == "cancelled"


def test_archived_project_refuses_every_session_write(project, regular_user):
    session = make_session(regular_user, project, status="running")
    task = make_task(session)
    project_archive(project=project, actor=regular_user)
    for write in (
        lambda: services.session_cancel(session=session, actor=regular_user),
        lambda: services.session_transition(session=session, to="failed", actor=regular_user),
        lambda: services.task_create(session=session, type="static", actor=regular_user),
        lambda: services.task_update(task=task, status="running", actor=regular_user),
        lambda: make_artifact(session),
        lambda: make_review(session),
    ):
        with pytest.raises(ProjectArchived):
            write()


# --- tasks ------------------------------------------------------------------------------


def test_task_machine_stamps_times_and_derives_duration(session, regular_user, new_audit):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        task = services.task_create(session=session, type="dynamic", actor=regular_user)
        assert (task.status, task.started_at, task.finished_at, task.duration_ms) == ("pending", None, None, None)
        with pytest.raises(InvalidTransition):
            services.task_update(task=task, status="completed", actor=regular_user)
        task = services.task_update(task=task, status="running", actor=regular_user)
    assert task.started_at == start
    with time_machine.travel(start + timedelta(seconds=2, microseconds=345_999), tick=False):
        task = services.task_update(task=task, status="completed", result={"issues": 3}, actor=regular_user)
    assert task.finished_at - task.started_at == timedelta(seconds=2, microseconds=345_999)
    assert task.duration_ms == 2345  # whole milliseconds, floored
    stored = AnalysisTask.objects.get(pk=task.pk)
    assert stored.duration_ms == 2345 and stored.result == {"issues": 3}
    entry = new_audit(entity="analysis_task", action="transition", payload__to="completed").get()
    assert entry.payload["duration_ms"] == 2345 and entry.payload["from"] == "running"
    assert len(entry.payload["result_sha256"]) == 64 and "result" not in entry.payload
    with pytest.raises(Conflict) as exc:
        services.task_update(task=task, result={"issues": 4}, actor=regular_user)  # a finished task is final
    assert exc.value.code == "conflict" and exc.value.details == {"status": "completed"}
    with pytest.raises(InvalidTransition):
        services.task_update(task=task, status="failed", actor=regular_user)
    # Repeating the move it already made changes nothing and records nothing more.
    assert services.task_update(task=task, status="completed", actor=regular_user).status == "completed"
    assert new_audit(entity="analysis_task", action="transition", payload__id=str(task.pk)).count() == 2


def test_result_and_error_message_may_change_while_the_task_is_open(session, regular_user, new_audit):
    task = make_task(session, status="running")
    task = services.task_update(task=task, result={"partial": True}, error_message="retrying", actor=regular_user)
    assert task.status == "running" and task.result == {"partial": True} and task.error_message == "retrying"
    assert new_audit(entity="analysis_task", action="update").count() == 1


def test_pending_task_may_be_skipped_but_not_failed(session, regular_user):
    task = make_task(session)
    with pytest.raises(InvalidTransition):
        services.task_update(task=task, status="failed", actor=regular_user)
    skipped = services.task_update(task=task, status="skipped", actor=regular_user)
    assert skipped.finished_at and skipped.started_at is None and skipped.duration_ms is None


def test_unknown_task_type_and_status_are_refused(session, regular_user):
    with pytest.raises(ValidationFailed) as exc:
        services.task_create(session=session, type="fuzzing", actor=regular_user)
    assert "type" in exc.value.details
    task = make_task(session)
    with pytest.raises(ValidationFailed):
        services.task_update(task=task, status="done", actor=regular_user)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_no_task_is_added_to_a_finished_session(project, regular_user, status):
    session = make_session(regular_user, project, status=status)
    with pytest.raises(Conflict) as exc:
        services.task_create(session=session, type="static", actor=regular_user)
    assert exc.value.status_code == 409 and exc.value.details == {"session_status": status}


def test_first_task_to_run_starts_the_session_through_queued(session, regular_user, new_audit):
    first = make_task(session)
    second = make_task(session)
    services.task_update(task=first, status="running", actor=regular_user)
    session.refresh_from_db()
    assert session.status == "running" and session.started_at is not None
    assert session_moves(new_audit, session) == [("created", "queued"), ("queued", "running")]
    services.task_update(task=second, status="running", actor=regular_user)
    assert len(session_moves(new_audit, session)) == 2  # already running


def test_last_task_finishing_completes_the_session(session, regular_user, new_audit):
    tasks = [make_task(session, type=kind) for kind in ("static", "dynamic", "graph", "ai")]
    for task in tasks:
        services.task_update(task=task, status="running", actor=regular_user)
    for task in tasks[:3]:
        services.task_update(task=task, status="completed", actor=regular_user)
        session.refresh_from_db()
        assert session.status == "running"
    services.task_update(task=tasks[3], status="skipped", actor=regular_user)
    session.refresh_from_db()
    assert session.status == "completed" and session.finished_at >= session.started_at
    assert session_moves(new_audit, session)[-1] == ("running", "completed")


def test_one_failed_task_fails_the_session(session, regular_user):
    a, b = make_task(session, status="running"), make_task(session, status="running")
    services.task_update(task=a, status="failed", error_message="segfault", actor=regular_user)
    services.task_update(task=b, status="completed", actor=regular_user)
    session.refresh_from_db()
    assert session.status == "failed" and session.error_message == "1 of 2 tasks failed."


def test_skipping_every_task_of_a_fresh_session_completes_it(session, regular_user, new_audit):
    task = make_task(session)
    services.task_update(task=task, status="skipped", actor=regular_user)
    session.refresh_from_db()
    assert session.status == "completed" and session.started_at and session.finished_at
    assert session_moves(new_audit, session) == [
        ("created", "queued"),
        ("queued", "running"),
        ("running", "completed"),
    ]


# --- artifacts and code reviews ----------------------------------------------------------


def test_artifact_is_recorded_on_any_session_and_audited(project, regular_user, new_audit):
    session = make_session(regular_user, project, status="cancelled")  # logs of cancelled runs are kept
    expires = timezone.now() + timedelta(days=7)
    artifact = make_artifact(session, type="log", size_bytes=0, expires_at=expires, metadata={"lines": 10})
    assert (artifact.type, artifact.size_bytes, artifact.expires_at) == ("log", 0, expires)
    entry = new_audit(entity="artifact", action="create").get()
    assert entry.payload["sha256"] == artifact.sha256 and entry.payload["uri"] == artifact.s3_uri


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sha256", "A" * 64),
        ("sha256", "a" * 63),
        ("sha256", "g" * 64),
        ("sha256", None),
        ("size_bytes", -1),
        ("size_bytes", 1.5),
        ("size_bytes", True),
        ("size_bytes", 2**63),
        ("type", "binary"),
        ("s3_uri", "not a uri"),
        ("s3_uri", "ftp://host/file"),
        ("s3_uri", "s3://bucket"),
        ("s3_uri", "s3://bucket/"),
        ("s3_uri", "s3://Bad_Bucket!/key"),
        ("s3_uri", "https://user:secret@host.example.com/key"),
        ("s3_uri", "https://bucket.s3.amazonaws.com/key?X-Amz-Signature=abc"),
        ("s3_uri", "https://host.example.com/key#frag"),
        ("s3_uri", "s3://bucket/key with space"),
        ("s3_uri", "https://localhost/key"),
        ("expires_at", "tomorrow"),
    ],
)
def test_artifact_validation(session, field, value):
    with pytest.raises(ValidationFailed) as exc:
        make_artifact(session, **{field: value})
    assert field in exc.value.details
    assert Artifact.objects.count() == 0


def test_artifact_uris_accepted(session):
    for uri in (
        "s3://reviews-bucket/a/b/report.json",
        "gs://my_bucket.eu/key",
        "https://storage.example.com/bucket/key.tar.gz",
        "https://minio.internal.example:9000/b/k",
    ):
        assert make_artifact(session, s3_uri=uri).s3_uri == uri


def test_artifact_expiry_must_be_in_the_future(session):
    with pytest.raises(ValidationFailed):
        make_artifact(session, expires_at=timezone.now() - timedelta(seconds=1))


def test_code_review_rules(session, new_audit):
    review = make_review(session, code_language=" Python ", overall_score="87.5", vulnerabilities_count=2)
    assert review.code_language == "python" and review.overall_score == Decimal("87.50")
    assert new_audit(entity="code_review", action="create").get().payload["overall_score"] == "87.50"
    for field, value in (
        ("overall_score", 120),
        ("overall_score", -1),
        ("overall_score", "87.555"),
        ("overall_score", "NaN"),
        ("overall_score", True),
        ("vulnerabilities_count", -1),
        ("issues_count", -3),
        ("code_length", -10),
        ("analysis_time_ms", -1),
        ("code_language", ""),
        ("code_language", "py thon"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            make_review(session, **{field: value})
        assert field in exc.value.details, (field, value)
    assert CodeReviewResult.objects.count() == 1


# --- the database refuses what the services would refuse --------------------------------


def _refused(sql: str, params) -> str:
    with pytest.raises(IntegrityError) as exc, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(exc.value)


def test_check_constraints(session, project, regular_user):
    task = make_task(session, status="completed")  # completes the session too
    fresh = make_session(regular_user, project)
    artifact = make_artifact(session)
    review = make_review(session)
    refusals = {
        "artifacts_sha256_hex_check": ("UPDATE artifacts SET sha256 = upper(sha256) WHERE id = %s", [artifact.pk]),
        "artifacts_size_nonnegative_check": ("UPDATE artifacts SET size_bytes = -1 WHERE id = %s", [artifact.pk]),
        "artifacts_uri_check": ("UPDATE artifacts SET s3_uri = 'nowhere' WHERE id = %s", [artifact.pk]),
        "artifacts_type_check": ("UPDATE artifacts SET type = 'binary' WHERE id = %s", [artifact.pk]),
        "code_review_results_score_range_check": (
            "UPDATE code_review_results SET overall_score = 120 WHERE id = %s",
            [review.pk],
        ),
        "code_review_results_counts_nonnegative_check": (
            "UPDATE code_review_results SET issues_count = -1 WHERE id = %s",
            [review.pk],
        ),
        "analysis_tasks_type_check": ("UPDATE analysis_tasks SET type = 'fuzzing' WHERE id = %s", [task.pk]),
        "analysis_tasks_status_check": ("UPDATE analysis_tasks SET status = 'done' WHERE id = %s", [task.pk]),
        "analysis_tasks_duration_derived_check": (
            "UPDATE analysis_tasks SET duration_ms = duration_ms + 1 WHERE id = %s",
            [task.pk],
        ),
        "analysis_tasks_finished_status_check": (
            "UPDATE analysis_tasks SET status = 'running' WHERE id = %s",
            [task.pk],
        ),
        "analysis_sessions_status_check": (
            "UPDATE analysis_sessions SET status = 'paused' WHERE id = %s",
            [fresh.pk],
        ),
        "analysis_sessions_version_check": (
            "UPDATE analysis_sessions SET version = 'v4' WHERE id = %s",
            [fresh.pk],
        ),
        "analysis_sessions_finished_status_check": (
            "UPDATE analysis_sessions SET finished_at = now() WHERE id = %s",
            [fresh.pk],
        ),
    }
    # An unknown status breaks two rules at once; PostgreSQL names the first it checks.
    also = {
        "analysis_tasks_status_check": "analysis_tasks_finished_status_check",
        "analysis_sessions_status_check": "analysis_sessions_finished_status_check",
    }
    for name, (sql, params) in refusals.items():
        error = _refused(sql, params)
        assert name in error or also.get(name, name) in error, (name, error)


def test_duration_check_accepts_exactly_the_derived_value(session):
    task = make_task(session, status="completed")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE analysis_tasks SET started_at = finished_at - interval '1.9999 seconds', duration_ms = 1999 "
            "WHERE id = %s",
            [task.pk],
        )
    assert AnalysisTask.objects.get(pk=task.pk).duration_ms == 1999
