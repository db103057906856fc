import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.testing import assert_error
from projects import services
from projects.models import Project, Tag, Version, VersionHistory
from projects.tests.factories import make_project

API = "/api/v1"


def queries_for(client, url) -> int:
    client.get(url)  # warm-up: session last_used refresh, partition cache
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_user_creates_a_project_with_its_three_versions(user_client, regular_user, audit_entries):
    response = user_client.post(f"{API}/projects/", {"name": "Bot", "settings": {"lang": "py"}}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"] == str(regular_user.pk) and body["archived"] is False
    detail = user_client.get(f"{API}/projects/{body['id']}").json()
    assert [v["tag"] for v in detail["versions"]] == ["v1", "v2", "v3"]
    assert detail["agreement"]["overridden"] == 0
    assert audit_entries("project", "create", id=body["id"])


@pytest.mark.django_db
def test_project_visibility_per_role(
    project, other_project, user_client, other_user_client, viewer_client, admin_client_api, anon_client
):
    def ids(client):
        return {p["id"] for p in client.get(f"{API}/projects/").json()["results"]}

    assert ids(user_client) == {str(project.pk)}
    assert ids(other_user_client) == {str(other_project.pk)}
    assert ids(viewer_client) == ids(admin_client_api) == {str(project.pk), str(other_project.pk)}
    assert_error(other_user_client.get(f"{API}/projects/{project.pk}"), 404, "not_found")
    assert_error(
        other_user_client.patch(f"{API}/projects/{project.pk}", {"name": "x"}, format="json"), 404, "not_found"
    )
    assert_error(anon_client.get(f"{API}/projects/"), 401, "not_authenticated")
    assert viewer_client.get(f"{API}/projects/{project.pk}").status_code == 200


@pytest.mark.django_db
def test_viewer_cannot_write(project, viewer_client):
    assert_error(viewer_client.post(f"{API}/projects/", {"name": "v"}, format="json"), 403, "permission_denied")
    assert_error(
        viewer_client.patch(f"{API}/projects/{project.pk}", {"name": "v"}, format="json"), 403, "permission_denied"
    )
    assert_error(viewer_client.post(f"{API}/projects/{project.pk}/archive"), 403, "permission_denied")


@pytest.mark.django_db
def test_admin_creates_a_project_for_a_user_and_users_cannot(admin_client_api, user_client, other_user):
    response = admin_client_api.post(
        f"{API}/projects/", {"name": "for oscar", "owner": str(other_user.pk)}, format="json"
    )
    assert response.status_code == 201 and response.json()["owner"] == str(other_user.pk)
    refused = user_client.post(f"{API}/projects/", {"name": "sneaky", "owner": str(other_user.pk)}, format="json")
    assert_error(refused, 403, "permission_denied")
    unknown = admin_client_api.post(
        f"{API}/projects/", {"name": "x", "owner": "00000000-0000-0000-0000-000000000000"}, format="json"
    )
    assert_error(unknown, 400, "validation_error")


@pytest.mark.django_db
def test_archived_project_answers_409_project_archived(project, user_client):
    assert user_client.post(f"{API}/projects/{project.pk}/archive").json()["archived"] is True
    assert_error(
        user_client.patch(f"{API}/projects/{project.pk}", {"name": "n"}, format="json"), 409, "project_archived"
    )
    assert_error(
        user_client.post(
            f"{API}/projects/{project.pk}/baselines/",
            {"metric_key": "f1", "operator": ">", "threshold": 1},
            format="json",
        ),
        409,
        "project_archived",
    )
    assert_error(
        user_client.patch(f"{API}/projects/{project.pk}/versions/v1", {"model_config": {"a": 1}}, format="json"),
        409,
        "project_archived",
    )
    assert_error(
        user_client.post(f"{API}/experiments/", {"project": str(project.pk), "name": "e", "config": {}}, format="json"),
        409,
        "project_archived",
    )
    assert user_client.get(f"{API}/projects/{project.pk}").status_code == 200  # still readable
    assert user_client.post(f"{API}/projects/{project.pk}/unarchive").json()["archived"] is False


@pytest.mark.django_db
def test_duplicate_name_is_a_409_and_bad_input_a_400(project, user_client):
    assert_error(user_client.post(f"{API}/projects/", {"name": project.name}, format="json"), 409, "conflict")
    assert_error(user_client.post(f"{API}/projects/", {"name": ""}, format="json"), 400, "validation_error")
    assert_error(
        user_client.post(f"{API}/projects/", {"name": "x", "settings": [1]}, format="json"), 400, "validation_error"
    )
    assert_error(user_client.get(f"{API}/projects/?archived=maybe"), 400, "validation_error")
    assert_error(user_client.get(f"{API}/projects/not-a-uuid"), 404, "not_found")


@pytest.mark.django_db
def test_project_list_costs_a_constant_number_of_queries(regular_user, user_client, admin_client_api):
    make_project(regular_user, name="p0", baselines=())
    few_user, few_admin = (
        queries_for(user_client, f"{API}/projects/"),
        queries_for(admin_client_api, f"{API}/projects/"),
    )
    for i in range(1, 8):
        make_project(regular_user, name=f"p{i}", baselines=())
    assert queries_for(user_client, f"{API}/projects/") == few_user
    assert queries_for(admin_client_api, f"{API}/projects/") == few_admin
    assert len(user_client.get(f"{API}/projects/?ordering=name").json()["results"]) == 8


@pytest.mark.django_db
def test_project_list_filters_and_orders(regular_user, other_user, admin_client_api):
    make_project(regular_user, name="alpha", baselines=())
    make_project(other_user, name="beta", baselines=())
    body = admin_client_api.get(f"{API}/projects/?owner={other_user.pk}").json()
    assert [p["name"] for p in body["results"]] == ["beta"]
    body = admin_client_api.get(f"{API}/projects/?ordering=-name&name=a").json()
    assert [p["name"] for p in body["results"]] == ["beta", "alpha"]
    after = timezone.now().isoformat()
    assert admin_client_api.get(f"{API}/projects/", {"created_after": after}).json()["count"] == 0


@pytest.mark.django_db
def test_versions_patch_writes_history_and_point_in_time_lookup(project, user_client, regular_user):
    url = f"{API}/projects/{project.pk}/versions"
    assert [v["tag"] for v in user_client.get(f"{url}/").json()["results"]] == ["v1", "v2", "v3"]
    before_change = timezone.now()
    response = user_client.patch(f"{url}/v1", {"model_config": {"model": "m1"}, "reason": "try m1"}, format="json")
    assert response.status_code == 200 and response.json()["model_config"] == {"model": "m1"}
    v1 = Version.objects.get(project=project, tag=Tag.V1)
    history = user_client.get(f"{API}/versions/{v1.pk}/history/").json()["results"]
    assert [(h["action"], h["model_config"], h["reason"]) for h in history] == [("updated", {"model": "m1"}, "try m1")]
    at_then = user_client.get(f"{url}/v1/at", {"ts": before_change.isoformat()}).json()
    assert at_then["model_config"] == {} and at_then["history"] is None
    at_now = user_client.get(f"{url}/v1/at", {"ts": timezone.now().isoformat()}).json()
    assert at_now["model_config"] == {"model": "m1"} and at_now["history"]["id"] == history[0]["id"]
    # "+" in a query string arrives as a space; the lookup still understands it.
    assert user_client.get(f"{url}/v1/at?ts=2999-01-01T00:00:00+00:00").json()["model_config"] == {"model": "m1"}
    assert_error(user_client.get(f"{url}/v1/at"), 400, "validation_error")
    assert_error(user_client.get(f"{url}/v1/at", {"ts": "yesterday"}), 400, "validation_error")
    assert_error(user_client.get(f"{url}/v1/at", {"ts": "2000-01-01T00:00:00Z"}), 404, "not_found")
    assert_error(user_client.get(f"{url}/v9"), 404, "not_found")
    assert_error(user_client.patch(f"{url}/v2", {"model_config": {"x": 1}}, format="json"), 403, "permission_denied")


@pytest.mark.django_db
def test_version_history_is_hidden_from_other_users(project, regular_user, other_user_client, viewer_client):
    v1 = Version.objects.get(project=project, tag=Tag.V1)
    services.version_update(version=v1, model_config={"a": 1}, actor=regular_user)
    assert_error(other_user_client.get(f"{API}/versions/{v1.pk}/history"), 404, "not_found")
    assert_error(other_user_client.get(f"{API}/projects/{project.pk}/versions/v1/at?ts=2999-01-01"), 404, "not_found")
    assert viewer_client.get(f"{API}/versions/{v1.pk}/history").json()["count"] == 1
    assert VersionHistory.objects.count() == 1


@pytest.mark.django_db
def test_baselines_crud(project, user_client, other_user_client, viewer_client, audit_entries):
    url = f"{API}/projects/{project.pk}/baselines/"
    created = user_client.post(url, {"metric_key": "f1", "operator": ">=", "threshold": "0.75"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["threshold"] == "0.75" and body["direction"] == "higher" and body["active"] is True
    assert_error(
        user_client.post(url, {"metric_key": "f1", "operator": "!", "threshold": 1}, format="json"),
        400,
        "validation_error",
    )
    assert_error(
        viewer_client.post(url, {"metric_key": "f1", "operator": ">", "threshold": 1}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(other_user_client.get(url), 404, "not_found")
    patched = user_client.patch(f"{url}{body['id']}", {"active": False}, format="json")
    assert patched.json()["active"] is False
    assert user_client.get(url, {"active": "false"}).json()["count"] == 1
    assert user_client.delete(f"{url}{body['id']}").status_code == 204
    assert_error(user_client.get(f"{url}{body['id']}"), 404, "not_found")
    assert audit_entries("baseline", "delete", id=body["id"])


@pytest.mark.django_db
def test_policies_admin_writes_all_read_and_projects_attach(project, admin_client_api, user_client, viewer_client):
    assert_error(
        user_client.post(f"{API}/policies/", {"name": "p", "rego_code": "package p"}, format="json"),
        403,
        "permission_denied",
    )
    created = admin_client_api.post(f"{API}/policies/", {"name": "p", "rego_code": "package p\n"}, format="json")
    assert created.status_code == 201
    policy_id = created.json()["id"]
    assert viewer_client.get(f"{API}/policies/").json()["count"] == 1
    attach_url = f"{API}/projects/{project.pk}/policies/"
    assert user_client.post(attach_url, {"policy": policy_id}, format="json").status_code == 201
    assert_error(user_client.post(attach_url, {"policy": policy_id}, format="json"), 409, "conflict")
    assert [link["policy"]["name"] for link in user_client.get(attach_url).json()["results"]] == ["p"]
    assert_error(admin_client_api.delete(f"{API}/policies/{policy_id}"), 409, "conflict")
    assert user_client.delete(f"{attach_url}{policy_id}").status_code == 204
    assert (
        admin_client_api.patch(f"{API}/policies/{policy_id}", {"active": False}, format="json").json()["active"]
        is False
    )
    assert admin_client_api.delete(f"{API}/policies/{policy_id}").status_code == 204


@pytest.mark.django_db
def test_delete_project(project, user_client, regular_user):
    empty = make_project(regular_user, name="empty", baselines=())
    assert user_client.delete(f"{API}/projects/{empty.pk}").status_code == 204
    assert not Project.objects.filter(pk=empty.pk).exists()


@pytest.mark.django_db
def test_nested_lists_cost_a_constant_number_of_queries(project, regular_user, admin_user, user_client, viewer_client):
    from projects.services import policy_create, project_policy_attach, version_update

    v1 = Version.objects.get(project=project, tag=Tag.V1)

    def seed(n, offset):
        for i in range(n):
            version_update(version=v1, model_config={"n": offset + i}, actor=regular_user)
            policy = policy_create(name=f"policy {offset + i}", rego_code="package p", actor=admin_user)
            project_policy_attach(project=project, policy=policy, actor=regular_user)
            services.baseline_create(
                project=project, metric_key=f"m{offset + i}", operator=">", threshold=i, actor=regular_user
            )

    urls = [
        f"{API}/projects/{project.pk}/versions/",
        f"{API}/versions/{v1.pk}/history/",
        f"{API}/projects/{project.pk}/policies/",
        f"{API}/projects/{project.pk}/baselines/",
        f"{API}/policies/",
        f"{API}/projects/{project.pk}",
    ]
    seed(1, 0)
    before = {(c.user.pk, url): queries_for(c, url) for c in (user_client, viewer_client) for url in urls}
    seed(5, 100)
    after = {(c.user.pk, url): queries_for(c, url) for c in (user_client, viewer_client) for url in urls}
    assert after == before
    assert user_client.get(f"{API}/versions/{v1.pk}/history/").json()["count"] == 6


@pytest.mark.django_db
def test_project_detail_reads_the_project_once(regular_user, user_client, other_user_client):
    project = make_project(regular_user, name="once", baselines=())
    url = f"{API}/projects/{project.pk}/"
    user_client.get(url)  # warm-up
    with CaptureQueriesContext(connection) as ctx:
        body = user_client.get(url).json()
    assert body["id"] == str(project.pk) and [v["tag"] for v in body["versions"]] == ["v1", "v2", "v3"]
    assert sum('FROM "projects"' in q["sql"] for q in ctx.captured_queries) == 1
    assert_error(other_user_client.get(url), 404, "not_found")
