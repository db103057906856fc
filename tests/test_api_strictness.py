"""The API says no when it means no (issue 28): unknown query parameters, ordering fields
and page sizes are 400s naming the parameter and listing what is allowed; every path
under /api/ answers JSON; every 201 says where the new object is; OPTIONS describes the
request bodies."""

import pytest

from core.testing import assert_error
from projects.tests.fixtures import *  # noqa: F403

API = "/api/v1"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "param", "listed"),
    [
        (f"{API}/projects/?nmae=bot", "nmae", "name"),
        (f"{API}/projects/?archived=true&owner_id=1", "owner_id", "owner"),
        (f"{API}/experiments/?state=created", "state", "status"),
        (f"{API}/auth/sessions/?revoked=1", "revoked", "include_revoked"),
    ],
)
def test_an_unknown_query_parameter_is_a_400_listing_the_allowed_ones(user_client, url, param, listed):
    error = assert_error(user_client.get(url), 400, "validation_error")
    assert list(error["details"]) == [param]
    message = error["details"][param][0]
    assert "Allowed parameters" in message and listed in message and "page_size" in message


@pytest.mark.django_db
def test_known_parameters_still_filter(user_client, project):
    response = user_client.get(f"{API}/projects/?name={project.name}&ordering=-name&page=1&page_size=10&format=json")
    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == [str(project.pk)]


@pytest.mark.django_db
def test_an_unknown_ordering_field_is_a_400_listing_the_fields(user_client):
    error = assert_error(user_client.get(f"{API}/projects/?ordering=-nmae"), 400, "validation_error")
    message = error["details"]["ordering"][0]
    assert "-nmae" in message and "name, created_at, updated_at" in message
    assert user_client.get(f"{API}/projects/?ordering=-created_at,name").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["0", "-1", "abc", "201", "1.5", ""])
def test_a_page_size_out_of_range_is_a_400(user_client, admin_client_api, size):
    for client, url in ((user_client, f"{API}/projects/"), (admin_client_api, f"{API}/audit-log/")):
        error = assert_error(client.get(url, {"page_size": size}), 400, "validation_error")
        assert error["details"] == {"page_size": ["Must be an integer from 1 to 200."]}
    assert user_client.get(f"{API}/projects/", {"page_size": "200"}).status_code == 200


@pytest.mark.django_db
def test_a_filter_choice_error_lists_the_choices(user_client):
    error = assert_error(user_client.get(f"{API}/experiments/?status=runing"), 400, "validation_error")
    message = error["details"]["status"][0]
    assert "runing" in message and "created" in message and "running" in message
    error = assert_error(user_client.get(f"{API}/projects/?archived=yes"), 400, "validation_error")
    assert "true" in error["details"]["archived"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v1/projects/x/y/z/", "/api/nope", "/api/v2/projects/"])
def test_every_unknown_path_under_api_answers_the_json_404(settings, user_client, debug, path):
    settings.DEBUG = debug
    assert_error(user_client.get(path), 404, "not_found")
    assert_error(user_client.post(path, {}, format="json"), 404, "not_found")


@pytest.mark.django_db
def test_every_201_carries_the_new_objects_location(user_client, project):
    def created(url, body):
        response = user_client.post(url, body, format="json")
        assert response.status_code == 201, response.content
        location = response["Location"]
        assert location.startswith("http://testserver/api/v1/")
        assert user_client.get(location).status_code == 200, location
        return response.json(), location

    body, location = created(f"{API}/projects/", {"name": "Located"})
    assert location.endswith(f"/projects/{body['id']}/")
    body, location = created(
        f"{API}/projects/{project.pk}/baselines/", {"metric_key": "f1", "operator": ">=", "threshold": 0.5}
    )
    assert location.endswith(f"/projects/{project.pk}/baselines/{body['id']}/")


@pytest.mark.django_db
def test_every_201_in_the_schema_has_a_readable_location(user_client):
    """Every operation the OpenAPI document says answers 201 gets its Location from
    CreatedLocationMiddleware: the view names where (`created_location`), or the
    collection URL plus the new id is a route with a GET. Otherwise the 201 would go out
    without one (the middleware adds nothing it cannot resolve)."""
    import re
    import uuid

    from django.urls import resolve

    from core.api.responses import _has_get

    document = user_client.get("/api/schema/?format=json").json()
    created = [path for path, item in document["paths"].items() if "201" in item.get("post", {}).get("responses", {})]
    assert len(created) >= 20
    nowhere = []
    for path in created:
        concrete = re.sub(r"{(\w+)}", lambda m: "v2" if m.group(1) == "tag" else str(uuid.uuid4()), path)
        view = getattr(resolve(concrete).func, "cls", None)
        if not getattr(view, "created_location", None) and not _has_get(f"{concrete.rstrip('/')}/{uuid.uuid4()}/"):
            nowhere.append(path)
    assert nowhere == []


@pytest.mark.django_db
def test_options_describes_the_request_bodies(user_client, project):
    collection = user_client.options(f"{API}/projects/").json()
    post = collection["actions"]["POST"]
    assert post["name"]["read_only"] is False and post["name"]["required"] is True
    assert "archived" not in post and "id" not in post
    detail = user_client.options(f"{API}/projects/{project.pk}/").json()
    patch = detail["actions"]["PATCH"]
    assert set(patch) == {"name", "description", "settings"}
    assert all(field["read_only"] is False for field in patch.values())


@pytest.mark.django_db
def test_a_page_number_past_any_list_is_a_404_not_a_database_error(user_client, project):
    for url in (f"{API}/projects/", f"{API}/experiments/"):
        assert_error(user_client.get(url, {"page": str(10**30)}), 404, "not_found")
