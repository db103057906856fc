"""/audit-log/: one object's history by entity and object id, ordering and cursor pages
as documented (issue 28)."""

import pytest

from core.testing import assert_error
from projects import services as projects
from projects.tests.fixtures import *  # noqa: F403

API = "/api/v1/audit-log/"


@pytest.mark.django_db
def test_one_objects_history_in_both_orders_and_by_pages(admin_client_api, regular_user, project, other_project):
    projects.project_update(project=project, actor=regular_user, description="first")
    projects.project_update(project=project, actor=regular_user, description="second")
    projects.project_update(project=other_project, actor=other_project.owner, description="not this one")
    query = {"entity": "project", "object_id": str(project.pk)}

    newest_first = admin_client_api.get(API, query).json()["results"]
    assert [e["action"] for e in newest_first] == ["update", "update", "create"]
    assert {e["payload"]["id"] for e in newest_first} == {str(project.pk)}
    oldest_first = admin_client_api.get(API, {**query, "ordering": "ts"}).json()["results"]
    assert [e["id"] for e in oldest_first] == [e["id"] for e in reversed(newest_first)]

    page = admin_client_api.get(API, {**query, "page_size": 2}).json()
    assert [e["id"] for e in page["results"]] == [e["id"] for e in newest_first[:2]]
    rest = admin_client_api.get(page["next"]).json()
    assert [e["id"] for e in rest["results"]] == [newest_first[2]["id"]] and rest["next"] is None

    error = assert_error(admin_client_api.get(API, {"ordering": "action"}), 400, "validation_error")
    assert "Allowed fields: ts" in error["details"]["ordering"][0]
