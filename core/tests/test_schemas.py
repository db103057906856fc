"""Every table sits in its app's PostgreSQL schema; Django's own stay in public; flush and
transactional tests work with that layout."""

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection

DJANGO_APPS = {"admin", "auth", "contenttypes", "sessions"}


def _relations():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
            """
        )
        return {name: schema for schema, name in cursor.fetchall()}


@pytest.mark.django_db
def test_every_model_table_is_in_its_apps_schema():
    where = _relations()
    checked = 0
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        app = model._meta.app_label
        if not model._meta.managed and app not in settings.DOMAIN_APPS:
            continue  # a holder of permissions without a table (console.ConsolePermission)
        expected = app if app in settings.DOMAIN_APPS else "public"
        assert table in where, f"{app}.{model.__name__}: table {table} does not exist"
        assert where[table] == expected, f"{table} is in schema {where[table]}, expected {expected}"
        checked += 1
    assert checked >= 15


@pytest.mark.django_db
def test_nothing_of_a_domain_app_sits_in_public():
    domain_tables = {
        m._meta.db_table
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_label in settings.DOMAIN_APPS
    }
    public = {name for name, schema in _relations().items() if schema == "public"}
    assert not (public & domain_tables)
    # Only Django's own tables are in public.
    django_tables = {
        m._meta.db_table for m in apps.get_models(include_auto_created=True) if m._meta.app_label in DJANGO_APPS
    }
    assert public <= django_tables | {"django_migrations"}, public - django_tables


@pytest.mark.django_db
def test_table_names_are_globally_unique():
    tables = [m._meta.db_table for m in apps.get_models(include_auto_created=True)]
    dupes = {t for t in tables if tables.count(t) > 1}
    # The audit entries are mapped twice on purpose (composite key, and id-only for the admin).
    assert dupes <= {"audit_entries"}, dupes


@pytest.mark.django_db
def test_search_path_lists_every_app_schema():
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        path = [p.strip() for p in cursor.fetchone()[0].split(",")]
    assert path[0] == "public"
    assert set(settings.DOMAIN_APPS) <= set(path)


@pytest.mark.django_db(transaction=True)
def test_flush_and_transactional_tests_work(make_user):
    from accounts.models import User

    make_user("user", email="flush-me@example.com")
    assert User.objects.filter(email="flush-me@example.com").exists()
    call_command("flush", "--noinput", verbosity=0)
    assert not User.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_previous_transactional_test_left_nothing_behind():
    from accounts.models import User

    assert not User.objects.filter(email="flush-me@example.com").exists()
