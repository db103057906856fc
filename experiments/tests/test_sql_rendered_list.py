"""The experiments list rendered by PostgreSQL (core.api.lists, with `verdict` as SQL)
answers exactly what the DRF path answers, for every role, filter, ordering and page."""

from datetime import UTC, datetime

import pytest

from core.testing import (
    assert_error,
    assert_same_page,
    bearer_client,
    filter_by_statuses,
    page_and_list_query,
    sql_and_drf_pages,
)
from experiments.models import Experiment, Status
from projects.tests.factories import FAILING, evaluating_experiment, make_experiment, make_project

URL = "/api/v1/experiments/"


@pytest.fixture
def experiments(project, regular_user, other_user, admin_user):
    from experiments import services

    theirs = make_project(other_user)
    passed, evaluation = evaluating_experiment(project, regular_user, config={"t": 0.5, "name": 'ünï "q" \\ \u2028'})
    services.evaluation_override(evaluation=evaluation, verdict="fail", reason="looks wrong", actor=admin_user)
    made = [
        passed,
        evaluating_experiment(project, regular_user, metrics=FAILING)[0],  # quarantined: verdict fail
        make_experiment(project, regular_user, status=Status.RUNNING, name='say "hi"\nthere'),
        make_experiment(project, regular_user),
        make_experiment(theirs, other_user, status=Status.COMPLETED),
    ]
    Experiment.objects.filter(pk=made[3].pk).update(created_at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC))
    return made


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["user", "admin", "viewer", "other"])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "quarantined"},
        {"ordering": "name"},
        {"ordering": "-updated_at", "page_size": 2, "page": 2},
        {"project": "PROJECT", "status": ["running", "created", "evaluating"]},
    ],
)
def test_sql_rendered_page_equals_the_drf_page(
    role, params, experiments, project, regular_user, make_user, monkeypatch
):
    user = regular_user if role == "user" else make_user("user" if role == "other" else role)
    params = {k: (str(project.pk) if v == "PROJECT" else v) for k, v in params.items()}
    sql, drf, sql_queries, drf_queries = sql_and_drf_pages(bearer_client(user), URL, params, monkeypatch)
    # After the session lookup, DRF counts and then reads the page (unless the page is
    # empty or out of range); the SQL path reads both in one query.
    assert sql_queries == 2 and drf_queries >= sql_queries
    page = assert_same_page(sql, drf)
    if role == "other":
        assert sql.status_code == (404 if params.get("page") else 200)
        return
    assert sql.status_code == 200
    if not params:
        assert page["count"] == (4 if role == "user" else 5)
        verdicts = {row["id"]: row["verdict"] for row in page["results"]}
        assert verdicts[str(experiments[0].pk)] == "fail"  # the human override wins
        assert verdicts[str(experiments[3].pk)] is None  # never evaluated


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["user", "admin", "viewer", "other"])
def test_sql_rendered_detail_equals_the_drf_detail(role, experiments, regular_user, make_user, monkeypatch):
    user = regular_user if role == "user" else make_user("user" if role == "other" else role)
    client = bearer_client(user)
    for experiment in experiments[:4]:  # overridden verdict, quarantined, odd name, never evaluated
        sql, drf, sql_queries, drf_queries = sql_and_drf_pages(client, f"{URL}{experiment.pk}/", {}, monkeypatch)
        assert sql.status_code == drf.status_code == (404 if role == "other" else 200)
        assert sql.json() == drf.json()
        assert sql_queries == drf_queries == 2  # the session lookup, then the one query
        if role != "other":
            assert list(sql.json()) == list(drf.json()) and b'"id" : ' in sql.content
    assert_error(bearer_client(regular_user).get(f"{URL}{experiments[4].pk}/"), 404, "not_found")
    assert_error(bearer_client(regular_user).get(f"{URL}not-a-uuid/"), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "params", "from_tally"),
    [
        ("admin", {}, True),
        ("admin", {"status": "running"}, True),
        ("viewer", {"status": ["running", "quarantined"], "ordering": "name"}, True),
        ("admin", {"status": "running", "project": "PROJECT"}, False),
        ("admin", {"status": "running", "created_after": "2020-01-01T00:00:00Z"}, False),
        ("user", {"status": "running"}, False),
    ],
)
def test_whole_table_lists_are_counted_from_the_status_tally(
    role, params, from_tally, experiments, project, regular_user, make_user
):
    """An admin's or viewer's list of every experiment, filtered by status alone, reads its
    count from the tally (core.db.tallies); any other filter or a restricted user counts
    the rows. Both give the exact count, in the same single query as the page."""
    user = regular_user if role == "user" else make_user(role)
    params = {k: (str(project.pk) if v == "PROJECT" else v) for k, v in params.items()}
    page, list_query = page_and_list_query(bearer_client(user), URL, params)
    assert ("experiments_status_tally" in list_query) is from_tally
    expected = filter_by_statuses(Experiment.objects.all(), params.get("status"))
    if role == "user" or "project" in params:
        expected = expected.filter(project__owner=regular_user)
    assert page["count"] == expected.count() == len(page["results"]) > 0


@pytest.mark.django_db
def test_a_list_shape_is_compiled_once_and_answers_for_each_user_and_value(
    experiments, project, regular_user, other_user, monkeypatch
):
    """The page statement compiled for one user's list (core.lookups.page_statement)
    holds no user and no filter value: the next user, or the next project and statuses,
    get their own rows and count from the same statement, never built by the ORM again."""
    from core import sqljson

    def orm_page(*args, **kwargs):
        raise AssertionError("the list was built through the ORM")

    monkeypatch.setattr(sqljson, "counted_page", orm_page)
    built = []
    page_rows = sqljson.counted_page_rows
    monkeypatch.setattr(sqljson, "counted_page_rows", lambda *a, **k: built.append(1) or page_rows(*a, **k))

    theirs = experiments[4].project
    asks = [
        (regular_user, project, ["running", "running", "evaluating"]),  # a repeated value counts once
        (other_user, theirs, ["completed", "created"]),
        (other_user, project, ["running", "created"]),  # someone else's project: nothing
        (regular_user, project, ["created", "quarantined"]),
    ]
    for user, listed, statuses in asks:
        params = {"project": str(listed.pk), "status": statuses, "created_after": "2000-01-01T00:00:00-22:29"}
        response = bearer_client(user).get(URL, params)
        assert response.status_code == 200, response.content
        expected = Experiment.objects.filter(project=listed, project__owner=user, status__in=statuses)
        page = response.json()
        assert page["count"] == expected.count()
        assert sorted(row["id"] for row in page["results"]) == sorted(
            str(pk) for pk in expected.values_list("pk", flat=True)
        )
    assert page["count"] > 0
    assert len(built) <= 1  # compiled on the first request (unless an earlier test did), never again
