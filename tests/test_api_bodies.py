"""Request bodies (issue 28): a key the endpoint does not take is a 400 naming it — with
the action that changes it, where there is one — and nothing is written; choice errors
list the choices."""

import pytest

from core.testing import assert_error
from experiments.models import Experiment
from projects.models import Project
from projects.tests.factories import make_experiment
from projects.tests.fixtures import *  # noqa: F403

API = "/api/v1"


@pytest.mark.django_db
def test_patching_a_read_only_field_names_it_and_the_action_and_writes_nothing(user_client, project):
    response = user_client.patch(f"{API}/projects/{project.pk}/", {"archived": True, "name": "New"}, format="json")
    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["archived"]
    assert "POST /api/v1/projects/{id}/archive/" in error["details"]["archived"][0]
    project.refresh_from_db()
    assert project.archived is False and project.name != "New"


@pytest.mark.django_db
def test_every_dropped_field_is_named(user_client, project, regular_user):
    body = {"id": "x", "created_at": "2020-01-01T00:00:00Z", "owner": str(regular_user.pk), "nmae": "typo"}
    error = assert_error(
        user_client.patch(f"{API}/projects/{project.pk}/", body, format="json"), 400, "validation_error"
    )
    assert set(error["details"]) == {"id", "created_at", "owner", "nmae"}
    assert error["details"]["id"] == ["This field is read-only."]
    assert error["details"]["nmae"] == ["Unknown field. Allowed fields: name, description, settings."]
    response = user_client.post(f"{API}/projects/", {"name": "A", "archived": True}, format="json")
    assert "/archive/" in assert_error(response, 400, "validation_error")["details"]["archived"][0]
    assert not Project.objects.filter(name="A").exists()


@pytest.mark.django_db
def test_an_experiments_status_and_config_are_refused_with_the_way_to_change_them(user_client, project, regular_user):
    experiment = make_experiment(project, regular_user)
    url = f"{API}/experiments/{experiment.pk}/"
    error = assert_error(user_client.patch(url, {"status": "running"}, format="json"), 400, "validation_error")
    assert "POST /api/v1/experiments/{id}/transition/" in error["details"]["status"][0]
    error = assert_error(user_client.patch(url, {"config": {"model": "other"}}, format="json"), 400, "validation_error")
    assert "fixed" in error["details"]["config"][0]
    experiment.refresh_from_db()
    assert experiment.status == "created" and experiment.config["model"] != "other"
    assert Experiment.objects.filter(pk=experiment.pk, status="created").exists()


@pytest.mark.django_db
def test_type_errors_and_unknown_fields_come_together(user_client):
    error = assert_error(
        user_client.post(f"{API}/projects/", {"name": 12, "bogus": 1}, format="json"), 400, "validation_error"
    )
    assert set(error["details"]) == {"name", "bogus"}


@pytest.mark.django_db
def test_a_query_read_by_a_serializer_refuses_unknown_names(admin_client_api):
    error = assert_error(
        admin_client_api.get(f"{API}/audit-log/verify?sinse=2020-01-01T00:00:00Z"), 400, "validation_error"
    )
    assert list(error["details"]) == ["sinse"]


@pytest.mark.django_db
def test_a_body_choice_error_lists_the_choices(user_client, project):
    body = {"metric_key": "precision", "operator": "gte", "threshold": 0.5}
    response = user_client.post(f"{API}/projects/{project.pk}/baselines/", body, format="json")
    error = assert_error(response, 400, "validation_error")
    assert error["details"]["operator"] == ['"gte" is not a valid choice; allowed: >, <, >=, <=, =.']
