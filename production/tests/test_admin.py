"""The admin console of the production zone: pages render, everything is read-only, the
cancel action goes through the service (audited), the statistics page shows the figures."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from production.models import AnalysisSession, AnalysisTask, Artifact, CodeReviewResult
from production.tests.factories import make_artifact, make_review, make_session, make_task

pytestmark = pytest.mark.django_db

MODELS = [AnalysisSession, AnalysisTask, Artifact, CodeReviewResult]


@pytest.fixture
def console(superadmin):
    client = Client()
    client.force_login(superadmin)
    return client


@pytest.fixture
def world(project, regular_user):
    session = make_session(regular_user, project, status="running")
    task = make_task(session, status="running")
    artifact = make_artifact(session)
    review = make_review(session)
    return {AnalysisSession: session, AnalysisTask: task, Artifact: artifact, CodeReviewResult: review}


def url(model, view, *args):
    return reverse(f"admin:production_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS)
def test_pages_render_and_nothing_is_editable(console, world, model):
    changelist = console.get(url(model, "changelist"))
    assert changelist.status_code == 200
    obj = world[model]
    change = console.get(url(model, "change", obj.pk))
    assert change.status_code == 200 and str(obj.pk) in change.content.decode()
    assert console.get(url(model, "add")).status_code == 403
    assert console.get(url(model, "delete", obj.pk)).status_code == 403
    searched = console.get(url(model, "changelist") + f"?q={obj.pk}")
    assert searched.status_code == 200


def test_session_page_shows_its_tasks_artifacts_and_results(console, world):
    session = world[AnalysisSession]
    page = console.get(url(AnalysisSession, "change", session.pk)).content.decode()
    assert world[Artifact].s3_uri in page and "running" in page and "python" in page


def test_search_with_text_that_is_not_an_id(console, world):
    response = console.get(url(AnalysisSession, "changelist") + "?q=Uma")
    assert response.status_code == 200


def test_cancel_action_goes_through_the_service(console, world, superadmin, new_audit, project, regular_user):
    session = world[AnalysisSession]
    finished = make_session(regular_user, project, status="completed")
    response = console.post(
        url(AnalysisSession, "changelist"),
        {"action": "cancel_sessions", "_selected_action": [session.pk, finished.pk], "reason": "maintenance"},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Cancelled: 1" in m for m in messages), messages
    assert any("Cannot move analysis session from 'completed'" in m for m in messages), messages
    session.refresh_from_db()
    assert session.status == "cancelled" and session.error_message == "maintenance"
    world[AnalysisTask].refresh_from_db()
    assert world[AnalysisTask].status == "skipped"
    entry = new_audit(entity="analysis_session", action="transition", payload__to="cancelled").get()
    assert entry.actor == superadmin.pk


def test_statistics_page(console, world):
    changelist = console.get(url(AnalysisSession, "changelist")).content.decode()
    statistics_url = reverse("admin:production_analysissession_statistics")
    assert statistics_url in changelist
    page = console.get(statistics_url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Sessions per day and status" in body and "python" in body
    bad = console.get(statistics_url + "?date_from=2026-13-01")
    assert bad.status_code == 200 and "is not a date" in bad.content.decode()
    too_long = console.get(statistics_url + "?date_from=2020-01-01&date_to=2026-01-01")
    assert "at most 366 days" in too_long.content.decode()


def test_statistics_page_needs_view_permission(make_user, world):
    staff = make_user("user", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("admin:production_analysissession_statistics")).status_code == 403
