"""Concurrency: real threads, each with its own database connection, in transactional
tests (each thread's work commits for real)."""

import pytest

from core.exceptions import Conflict, InvalidTransition
from core.testing import run_together
from production import services
from production.models import AnalysisSession, AnalysisTask, TaskStatus
from production.tests.factories import make_session, make_task
from projects.tests.factories import make_project


def finishing_moves(audit_entries, session) -> list[str]:
    return [
        e.payload["to"]
        for e in audit_entries("analysis_session", "transition", id=session.pk)
        if e.payload["to"] in ("completed", "failed", "cancelled")
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("last_two", [("completed", "completed"), ("completed", "failed"), ("skipped", "failed")])
def test_last_two_tasks_finishing_at_once_finish_the_session_exactly_once(regular_user, audit_entries, last_two):
    project = make_project(regular_user, baselines=())
    for _ in range(6):
        session = make_session(regular_user, project)
        a = make_task(session, status="running")
        b = make_task(session, type="ai", status="running")
        make_task(session, type="graph", status="completed")
        results = run_together(
            lambda: services.task_update(
                task=AnalysisTask.objects.get(pk=a.pk), status=last_two[0], actor=regular_user
            ),
            lambda: services.task_update(
                task=AnalysisTask.objects.get(pk=b.pk), status=last_two[1], actor=regular_user
            ),
        )
        assert all(isinstance(r, AnalysisTask) for r in results), results
        session.refresh_from_db()
        expected = "failed" if "failed" in last_two else "completed"
        assert session.status == expected and session.finished_at is not None
        assert finishing_moves(audit_entries, session) == [expected]


@pytest.mark.django_db(transaction=True)
def test_many_tasks_finishing_together_finish_the_session_once(regular_user, audit_entries):
    project = make_project(regular_user, baselines=())
    session = make_session(regular_user, project)
    tasks = [make_task(session, type=kind, status="running") for kind in ("static", "dynamic", "graph", "ai") * 2]
    results = run_together(
        *[
            lambda t=t: services.task_update(
                task=AnalysisTask.objects.get(pk=t.pk), status=TaskStatus.COMPLETED, actor=regular_user
            )
            for t in tasks
        ]
    )
    assert all(isinstance(r, AnalysisTask) for r in results), results
    session.refresh_from_db()
    assert session.status == "completed"
    assert finishing_moves(audit_entries, session) == ["completed"]


@pytest.mark.django_db(transaction=True)
def test_cancel_racing_the_last_task(regular_user, audit_entries):
    project = make_project(regular_user, baselines=())
    for _ in range(6):
        session = make_session(regular_user, project)
        task = make_task(session, status="running")
        results = run_together(
            lambda: services.session_cancel(session=AnalysisSession.objects.get(pk=session.pk), actor=regular_user),
            lambda: services.task_update(
                task=AnalysisTask.objects.get(pk=task.pk), status="completed", actor=regular_user
            ),
        )
        cancel, finish = results
        session.refresh_from_db()
        task.refresh_from_db()
        if isinstance(cancel, AnalysisSession):  # cancel won: the task was skipped, its completion refused
            assert isinstance(finish, InvalidTransition), results
            assert (session.status, task.status) == ("cancelled", "skipped")
        else:  # the task finished first and completed the session: nothing left to cancel
            assert isinstance(cancel, InvalidTransition) and isinstance(finish, AnalysisTask), results
            assert (session.status, task.status) == ("completed", "completed")
        assert len(finishing_moves(audit_entries, session)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_added_while_the_last_one_finishes(regular_user):
    project = make_project(regular_user, baselines=())
    for _ in range(6):
        session = make_session(regular_user, project)
        task = make_task(session, status="running")
        added, finished = run_together(
            lambda: services.task_create(
                session=AnalysisSession.objects.get(pk=session.pk), type="ai", actor=regular_user
            ),
            lambda: services.task_update(
                task=AnalysisTask.objects.get(pk=task.pk), status="completed", actor=regular_user
            ),
        )
        assert isinstance(finished, AnalysisTask), finished
        session.refresh_from_db()
        if isinstance(added, AnalysisTask):  # added first: the session waits for it
            assert session.status == "running"
        else:  # finished first: the session completed and takes no new task
            assert isinstance(added, Conflict) and session.status == "completed"
        # Never a finished session with an open task.
        open_tasks = AnalysisTask.objects.filter(session=session, status__in=("pending", "running")).count()
        assert session.status == "running" or open_tasks == 0


@pytest.mark.django_db(transaction=True)
def test_tasks_starting_together_start_the_session_once(regular_user, audit_entries):
    project = make_project(regular_user, baselines=())
    session = make_session(regular_user, project)
    tasks = [make_task(session, type=kind) for kind in ("static", "dynamic", "graph", "ai")]
    results = run_together(
        *[
            lambda t=t: services.task_update(
                task=AnalysisTask.objects.get(pk=t.pk), status="running", actor=regular_user
            )
            for t in tasks
        ]
    )
    assert all(isinstance(r, AnalysisTask) for r in results), results
    moves = [
        (e.payload["from"], e.payload["to"]) for e in audit_entries("analysis_session", "transition", id=session.pk)
    ]
    assert moves == [("created", "queued"), ("queued", "running")]
