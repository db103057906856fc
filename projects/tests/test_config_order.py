"""A version's model_config comes back in the key order its author wrote it, nested
objects included: after a promotion (the experiment's order, not jsonb's), after a
quarantine (v3), after a direct edit, after the legacy import; from the version's
endpoints, the project detail, the version history and its point-in-time lookup, and
the console. jsonb, the column the value is also kept in, sorts keys (shorter first)."""

import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from core import sqljson
from core.testing import UNORDERED_CONFIG as SENT
from core.testing import UNORDERED_CONFIG_REORDERED as REORDERED
from core.testing import in_key_order as in_order
from projects import selectors
from projects.api.serializers import VersionOutput
from projects.models import Version, VersionHistory
from projects.tests.factories import PASSING, quarantined_experiment

API = "/api/v1"


def assert_version_shows(client, project, tag, config):
    """Every API read of the version answers `config` in its order."""
    version = client.get(f"{API}/projects/{project.pk}/versions/{tag}/", HTTP_ACCEPT="application/json")
    assert version.status_code == 200, version.content
    assert in_order(version.json()["model_config"]) == in_order(config)
    listed = client.get(f"{API}/projects/{project.pk}/versions/", HTTP_ACCEPT="application/json").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert in_order(next(v for v in rows if v["tag"] == tag)["model_config"]) == in_order(config)
    detail = client.get(f"{API}/projects/{project.pk}/", HTTP_ACCEPT="application/json").json()
    assert in_order(next(v for v in detail["versions"] if v["tag"] == tag)["model_config"]) == in_order(config)
    history = client.get(f"{API}/versions/{version.json()['id']}/history/", HTTP_ACCEPT="application/json").json()
    assert in_order(history["results"][0]["model_config"]) == in_order(config)
    at = client.get(
        f"{API}/projects/{project.pk}/versions/{tag}/at/",
        {"ts": timezone.now().isoformat()},
        HTTP_ACCEPT="application/json",
    ).json()
    assert in_order(at["model_config"]) == in_order(config)
    assert in_order(at["history"]["model_config"]) == in_order(config)
    stored = Version.objects.values_list("model_config", flat=True).get(pk=version.json()["id"])
    assert stored == config and in_order(stored) != in_order(config)  # the jsonb column alone would re-sort


@pytest.mark.django_db
def test_a_promotion_puts_the_experiments_order_into_v2(
    project, user_client, admin_client_api, api_client_for, make_user
):
    created = user_client.post(
        f"{API}/experiments/", {"project": str(project.pk), "name": "ordered", "config": SENT}, format="json"
    )
    assert created.status_code == 201, created.content
    url = f"{API}/experiments/{created.json()['id']}"
    for to in ("running", "completed"):
        assert user_client.post(f"{url}/transition/", {"to": to}, format="json").status_code == 200
    evaluation = user_client.post(f"{url}/evaluations/", {"metrics": PASSING, "ai_confidence": 0.92}, format="json")
    assert evaluation.status_code == 201, evaluation.content
    proposed = user_client.post(f"{API}/promotions/", {"experiment": created.json()["id"]}, format="json")
    assert proposed.status_code == 201, proposed.content
    promotion_url = f"{API}/promotions/{proposed.json()['id']}"
    assert admin_client_api.post(f"{promotion_url}/approve/").status_code == 200
    completed = api_client_for(make_user("admin", name="Second Admin")).post(f"{promotion_url}/complete/")
    assert completed.status_code == 200, completed.content

    assert_version_shows(user_client, project, "v2", SENT)
    assert VersionHistory.objects.get(version__project=project, version__tag="v2").action == "promoted"


@pytest.mark.django_db
def test_a_quarantine_archives_the_experiments_order_into_v3(project, regular_user, user_client):
    quarantined_experiment(project, regular_user, config=SENT)
    assert_version_shows(user_client, project, "v3", SENT)


@pytest.mark.django_db
def test_a_direct_edit_keeps_the_order_sent(project, user_client):
    url = f"{API}/projects/{project.pk}/versions/v1/"
    edited = user_client.patch(url, {"model_config": SENT}, format="json")
    assert edited.status_code == 200, edited.content
    assert in_order(edited.json()["model_config"]) == in_order(SENT)
    assert_version_shows(user_client, project, "v1", SENT)
    history = VersionHistory.objects.filter(version__project=project, version__tag="v1")

    # The same config in another order changes what the version shows: a history row,
    # whose snapshot keeps that order; the config's hash is the same before and after.
    reordered = user_client.patch(url, {"model_config": REORDERED}, format="json")
    assert in_order(reordered.json()["model_config"]) == in_order(REORDERED)
    assert history.count() == 2
    assert_version_shows(user_client, project, "v1", REORDERED)
    # The same config in the same order changes nothing.
    assert user_client.patch(url, {"model_config": REORDERED}, format="json").status_code == 200
    assert history.count() == 2


@pytest.mark.django_db
def test_the_sql_rendering_of_a_version_keeps_the_order(project, user_client):
    user_client.patch(f"{API}/projects/{project.pk}/versions/v1/", {"model_config": SENT}, format="json")
    text = sqljson.document(VersionOutput, Version)
    assert text is not None  # a version renders in SQL as in Python
    rows = selectors.version_list(project=project).filter(tag="v1")
    by_sql = json.loads(rows.annotate(document=text).values_list("document", flat=True).get())
    by_drf = json.loads(json.dumps(VersionOutput(rows.get()).data, default=str))
    assert in_order(by_sql["model_config"]) == in_order(by_drf["model_config"]) == in_order(SENT)


@pytest.mark.django_db
def test_the_database_refuses_a_text_copy_that_is_another_config(project, user_client):
    user_client.patch(f"{API}/projects/{project.pk}/versions/v1/", {"model_config": SENT}, format="json")
    for rows in (
        Version.objects.filter(project=project, tag="v1"),
        VersionHistory.objects.filter(version__project=project),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            rows.update(model_config_text='{"zeta": 2}')
        rows.update(model_config_text=json.dumps(REORDERED))  # same value, other order: fine


@pytest.mark.django_db
def test_the_console_shows_the_order_it_was_sent(project, regular_user, user_client, superadmin):
    user_client.patch(f"{API}/projects/{project.pk}/versions/v1/", {"model_config": SENT}, format="json")
    version = Version.objects.get(project=project, tag="v1")
    console = Client()
    console.force_login(superadmin)
    page = console.get(reverse("admin:projects_version_change", args=[version.pk]))
    assert page.status_code == 200
    assert escape(json.dumps(SENT, ensure_ascii=False)) in page.content.decode()  # the form's text area

    # An edit in the console keeps the order typed (the form posts the config shown as its
    # initial value, as a browser does).
    edited = {**REORDERED, "zeta": 2}
    entries = list(VersionHistory.objects.filter(version=version).order_by("-created_at"))
    form = {"model_config": json.dumps(edited, ensure_ascii=False), "changelog": ""}
    form |= {"initial-model_config": json.dumps(SENT, ensure_ascii=False)}
    form |= {"history-TOTAL_FORMS": len(entries), "history-INITIAL_FORMS": len(entries)}  # the read-only inline
    form |= {f"history-{n}-id": entry.pk for n, entry in enumerate(entries)}
    saved = console.post(reverse("admin:projects_version_change", args=[version.pk]), form)
    assert saved.status_code == 302, saved.context and saved.context["errors"]
    assert VersionHistory.objects.filter(version=version).count() == 2
    assert_version_shows(user_client, project, "v1", edited)

    entry = VersionHistory.objects.filter(version=version).order_by("created_at").first()
    page = console.get(reverse("admin:projects_versionhistory_change", args=[entry.pk])).content.decode()
    assert escape(json.dumps(SENT, indent=2, ensure_ascii=False)) in page
    assert "field-model_config_text" not in page  # shown once, in the author's order


@pytest.mark.django_db
def test_the_legacy_import_keeps_the_order(tmp_path, regular_user, user_client):
    from legacy.services import legacy_import

    root = tmp_path / "export"
    (root / "projects").mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"format": "tristate-legacy", "version": 3}))
    project = {
        "slug": "ordered",
        "name": "Ordered",
        "owner": regular_user.email,
        "created_at": "2024-02-01T00:00:00Z",
        "versions": {"v1": {"model_config": SENT, "changelog": "first"}, "v2": {"model_config": REORDERED}},
    }
    (root / "projects" / "ordered.json").write_text(json.dumps(project, ensure_ascii=False, indent=1))
    report = legacy_import(root=root, rejects_path=tmp_path / "rejects.jsonl")
    imported = selectors.project_list(user=regular_user).filter(name="Ordered").first()
    assert imported is not None, report
    assert_version_shows(user_client, imported, "v1", SENT)
    assert_version_shows(user_client, imported, "v2", REORDERED)


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_existing_rows_from_jsonb(project, user_client):
    """Rows written before the text copies existed get jsonb's order (their own is lost)."""
    v1 = Version.objects.get(project=project, tag="v1")
    executor = MigrationExecutor(connection)
    executor.migrate([("projects", "0001_initial")])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE projects.versions SET model_config = %s::jsonb WHERE id = %s",
                ['{"alpha": {"b": 1, "aa": 2}, "zeta": 1}', v1.pk],
            )
            cursor.execute(
                "INSERT INTO projects.version_history (id, created_at, version_id, action, from_tag, to_tag,"
                " reason, model_config) SELECT gen_random_uuid(), now(), id, 'updated', 'v1', 'v1', '',"
                " model_config FROM projects.versions WHERE id = %s",
                [v1.pk],
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    jsonb_order = '{"zeta": 1, "alpha": {"b": 1, "aa": 2}}'
    assert Version.objects.get(pk=v1.pk).model_config_text == jsonb_order
    assert VersionHistory.objects.get(version=v1).model_config_text == jsonb_order
    shown = user_client.get(f"{API}/projects/{project.pk}/versions/v1/", HTTP_ACCEPT="application/json").json()
    assert in_order(shown["model_config"]) == jsonb_order
    # An edit in the order shown is no change (the stored text has jsonb's spacing).
    user_client.patch(
        f"{API}/projects/{project.pk}/versions/v1/", {"model_config": shown["model_config"]}, format="json"
    )
    assert VersionHistory.objects.filter(version=v1).count() == 1
