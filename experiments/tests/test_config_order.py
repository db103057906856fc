"""An experiment's config comes back in the key order its author wrote it, nested objects
included: from the API (created, detail and list, rendered by PostgreSQL or by DRF), its
quarantine record, the console and the legacy import, while the config hash stays
order-free (SPEC: canonical JSON). jsonb, the column the value is also kept in, sorts
keys (shorter first)."""

import hashlib
import json
import re

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from core.testing import UNORDERED_CONFIG as SENT
from core.testing import UNORDERED_CONFIG_REORDERED as REORDERED
from core.testing import in_key_order as in_order
from core.testing import sql_and_drf_pages
from experiments.models import Experiment
from experiments.rules import config_hash

API = "/api/v1"


def create(client, project, config):
    response = client.post(
        f"{API}/experiments/", {"project": str(project.pk), "name": "ordered", "config": config}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
def test_the_api_answers_the_config_in_the_order_it_was_sent(project, user_client, monkeypatch):
    created = create(user_client, project, SENT)
    assert in_order(created["config"]) == in_order(SENT)
    stored = Experiment.objects.values_list("config", flat=True).get(pk=created["id"])
    assert stored == SENT and in_order(stored) != in_order(SENT)  # the jsonb column alone would re-sort

    for url in (f"{API}/experiments/{created['id']}/", f"{API}/experiments/"):
        by_sql, by_drf, _, _ = sql_and_drf_pages(user_client, url, {}, monkeypatch)
        for response in (by_sql, by_drf):
            assert response.status_code == 200, response.content
            body = json.loads(response.content)
            row = body["results"][0] if "results" in body else body
            assert in_order(row["config"]) == in_order(SENT), url

    moved = user_client.post(f"{API}/experiments/{created['id']}/transition/", {"to": "running"}, format="json")
    assert moved.status_code == 200 and in_order(moved.json()["config"]) == in_order(SENT)


@pytest.mark.django_db
def test_the_hash_reads_the_canonical_form_whatever_the_order(project, user_client):
    first, second = create(user_client, project, SENT), create(user_client, project, REORDERED)
    canonical = json.dumps(SENT, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first["config_hash"] == second["config_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert first["config_hash"] == config_hash(REORDERED)
    assert in_order(second["config"]) == in_order(REORDERED)  # each keeps its own order


@pytest.mark.django_db
def test_the_database_refuses_a_text_copy_that_is_another_config(project, user_client):
    created = create(user_client, project, SENT)
    with pytest.raises(IntegrityError), transaction.atomic():
        Experiment.objects.filter(pk=created["id"]).update(config_text='{"zeta": 2}')
    reordered = json.dumps(REORDERED)
    Experiment.objects.filter(pk=created["id"]).update(config_text=reordered)  # same value, other order: fine


@pytest.mark.django_db
def test_the_console_shows_the_config_indented_in_the_order_it_was_sent(project, user_client, superadmin):
    created = create(user_client, project, SENT)
    console = Client()
    console.force_login(superadmin)
    page = console.get(reverse("admin:experiments_experiment_change", args=[created["id"]]))
    assert page.status_code == 200
    assert escape(json.dumps(SENT, indent=2, ensure_ascii=False)) in page.content.decode()


@pytest.mark.django_db
def test_the_quarantine_record_archives_the_config_in_the_order_it_was_sent(
    project, regular_user, user_client, superadmin
):
    from projects.tests.factories import quarantined_experiment

    experiment, record = quarantined_experiment(project, regular_user, config=SENT)
    assert in_order(record.config) != in_order(SENT)  # jsonb's order
    for url in (f"{API}/quarantine/{record.pk}/", f"{API}/quarantine/"):
        body = user_client.get(url, HTTP_ACCEPT="application/json").json()
        row = body["results"][0] if "results" in body else body
        assert in_order(row["config"]) == in_order(SENT), url
        assert row["config_hash"] == experiment.config_hash == config_hash(SENT)
    console = Client()
    console.force_login(superadmin)
    page = console.get(reverse("admin:quarantine_quarantinerecord_change", args=[record.pk])).content.decode()
    assert escape(json.dumps(SENT, indent=2, ensure_ascii=False)) in page
    assert not re.search(r'field-config(_text)?[" ]', page)  # shown once (config_json), in the author's order


@pytest.mark.django_db
def test_the_legacy_import_keeps_the_order(project, regular_user, user_client):
    from legacy.bulk.experiments import ExperimentImport, QuarantineImport, experiments_import, quarantines_import

    [result] = experiments_import(
        experiments=[
            ExperimentImport(
                project_id=project.pk,
                name="imported",
                config=SENT,
                status="quarantined",
                created_by_id=regular_user.pk,
                created_at=project.created_at,
            )
        ],
        actor=None,
    )
    assert result.ok, result.error
    detail = user_client.get(f"{API}/experiments/{result.id}/", HTTP_ACCEPT="application/json")
    assert in_order(detail.json()["config"]) == in_order(SENT)
    assert detail.json()["config_hash"] == config_hash(SENT)
    [archived] = quarantines_import(
        records=[
            QuarantineImport(experiment_id=result.id, config=REORDERED, reason="r", quarantined_at=project.created_at)
        ],
        actor=None,
    )
    assert archived.ok, archived.error
    record = user_client.get(f"{API}/quarantine/{archived.id}/", HTTP_ACCEPT="application/json").json()
    assert in_order(record["config"]) == in_order(REORDERED)  # as the legacy record wrote it


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_existing_rows_from_jsonb(project, regular_user, user_client):
    """Rows written before the text copies existed get jsonb's order (their own is lost),
    quarantine records their experiment's."""
    executor = MigrationExecutor(connection)
    executor.migrate([("experiments", "0003_experiments_status_tally")])  # quarantine's 0003 goes back too
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO experiments.experiments (id, created_at, updated_at, project_id, name, description,"
                " version, config, config_hash, dataset_id, status, created_by_id)"
                " VALUES (gen_random_uuid(), now(), now(), %s, 'old', '', 'v1', %s::jsonb, %s, '', 'created', %s)"
                " RETURNING id",
                [project.pk, '{"alpha": {"b": 1, "aa": 2}, "zeta": 1}', config_hash({"zeta": 1}), regular_user.pk],
            )
            pk = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO quarantine.quarantine_records (id, created_at, updated_at, experiment_id, config_hash,"
                " config, reason, evidence, failure_metrics, quarantined_at, review_status, review_notes)"
                " SELECT gen_random_uuid(), now(), now(), id, config_hash, config, 'r', '{}', '{}', now(),"
                " 'quarantined', '' FROM experiments.experiments WHERE id = %s RETURNING id",
                [pk],
            )
            record_pk = cursor.fetchone()[0]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert Experiment.objects.get(pk=pk).config_text == '{"zeta": 1, "alpha": {"b": 1, "aa": 2}}'
    detail = user_client.get(f"{API}/experiments/{pk}/", HTTP_ACCEPT="application/json")
    assert in_order(detail.json()["config"]) == '{"zeta": 1, "alpha": {"b": 1, "aa": 2}}'
    record = user_client.get(f"{API}/quarantine/{record_pk}/", HTTP_ACCEPT="application/json")
    assert in_order(record.json()["config"]) == '{"zeta": 1, "alpha": {"b": 1, "aa": 2}}'
