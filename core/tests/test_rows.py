"""core.db.rows: a row's INSERT and UPDATE as fixed statements store what save() and
QuerySet.update() store, and a model whose values come from the database is refused."""

from datetime import UTC, datetime

import pytest
from django.db import connection, models
from django.test.utils import isolate_apps

from core.db import rows
from experiments.models import Experiment, Status
from projects.tests.factories import make_project


def _new_experiment(project, user, **fields) -> Experiment:
    config = {"b": [1, 2.5], "a": {"nested": "é"}}
    return Experiment(
        project=project,
        name="row",
        config=config,
        config_text='{"b":[1,2.5],"a":{"nested":"é"}}',
        config_hash="a" * 64,
        created_by=user,
        **fields,
    )


@pytest.mark.django_db
def test_an_inserted_row_reads_back_as_the_instance_and_saves_as_an_update_afterwards(regular_user):
    project = make_project(regular_user, name="rows")
    experiment = _new_experiment(project, regular_user, dataset_id="ds")
    assert experiment.created_at is None  # auto_now_add: set by the statement's pre_save, as save() sets it
    with connection.cursor() as cursor:
        cursor.execute(*rows.insert_statement(experiment))
        assert cursor.rowcount == 1
    rows.mark_saved(experiment)
    assert experiment.created_at is not None and experiment.updated_at is not None
    stored = Experiment.objects.get(pk=experiment.pk)
    for field in ("project_id", "name", "config", "config_text", "config_hash", "dataset_id", "status", "version"):
        assert getattr(stored, field) == getattr(experiment, field), field
    assert stored.created_at == experiment.created_at and stored.created_by_id == regular_user.pk
    experiment.name = "renamed"
    experiment.save()  # a saved row now: an UPDATE, not a second INSERT of the same key
    assert Experiment.objects.get(pk=experiment.pk).name == "renamed"
    assert Experiment.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_an_update_writes_its_fields_only_where_its_condition_holds(regular_user):
    project = make_project(regular_user, name="rows")
    experiment = _new_experiment(project, regular_user)
    experiment.save()
    moved_at = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    values = {"status": Status.RUNNING, "started_at": moved_at, "updated_at": moved_at}
    with connection.cursor() as cursor:
        cursor.execute(*rows.update_statement(Experiment, experiment.pk, values, where={"status": Status.COMPLETED}))
        assert cursor.rowcount == 0  # the row is not completed: nothing written
        assert Experiment.objects.get(pk=experiment.pk).status == Status.CREATED
        cursor.execute(*rows.update_statement(Experiment, experiment.pk, values, where={"status": Status.CREATED}))
        assert cursor.rowcount == 1
    stored = Experiment.objects.get(pk=experiment.pk)
    assert (stored.status, stored.started_at, stored.updated_at) == (Status.RUNNING, moved_at, moved_at)
    assert stored.name == "row" and stored.completed_at is None  # fields not named are left alone


@isolate_apps("core")
def test_a_model_with_a_database_default_is_refused():
    class Stamped(models.Model):
        made = models.DateTimeField(db_default=models.functions.Now())

        class Meta:
            app_label = "core"

    with pytest.raises(ValueError, match=r"Stamped\.made"):
        rows.insert_statement(Stamped())


@isolate_apps("core")
def test_a_child_model_of_multi_table_inheritance_is_refused():
    class Base(models.Model):
        class Meta:
            app_label = "core"

    class Child(Base):
        class Meta:
            app_label = "core"

    with pytest.raises(ValueError, match="Child"):
        rows.insert_statement(Child())
