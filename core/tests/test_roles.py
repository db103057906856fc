"""Least privilege: the application role is refused by privileges (not only by triggers)."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audits.services import audit_record

APP_ROLE = "tristate_test_app"


@pytest.fixture
def app_role(db):
    call_command("db_roles", "--role", APP_ROLE, verbosity=0)
    return APP_ROLE


def _as_app(sql, params=None):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {APP_ROLE}")
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else None
        cursor.execute("RESET ROLE")
        return rows


def _refused_by_privilege(sql, params=None, expect="permission denied"):
    with pytest.raises(DatabaseError) as info:
        _as_app(sql, params)
    message = str(info.value)
    assert expect in message and "append-only" not in message, message


def test_db_roles_print_shows_sql_without_changing_anything(db, capsys):
    call_command("db_roles", "--role", "tristate_never_created", "--print")
    out = capsys.readouterr().out
    assert "CREATE ROLE" in out and "REVOKE UPDATE, DELETE ON ALL TABLES IN SCHEMA" in out
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = 'tristate_never_created'")
        assert cursor.fetchone() is None


def test_db_roles_is_idempotent(app_role):
    call_command("db_roles", "--role", APP_ROLE, verbosity=0)
    call_command("db_roles", "--role", APP_ROLE, verbosity=0)


def test_app_role_appends_and_reads_the_audit_log(app_role):
    entry_id = audit_record(entity="roles", action="probe", payload={})
    rows = _as_app("SELECT count(*) FROM audits.audit_entries WHERE id = %s", [entry_id])
    assert rows == [(1,)]
    _as_app(
        "INSERT INTO audits.audit_pending (id, ts, entity, action, payload, entry_hmac) "
        "VALUES (nextval('audits.audit_log_id_seq'), now(), 'roles', 'probe', '{}', %s)",
        ["0" * 64],
    )


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audits.audit_log SET action = 'x'",
        "DELETE FROM audits.audit_log",
        "TRUNCATE audits.audit_log",
        "UPDATE audits.audit_pending SET action = 'x'",
        "DELETE FROM audits.audit_pending",
        "TRUNCATE audits.audit_pending",
        "UPDATE audits.audit_daily_counts SET count = 0 WHERE false",
    ],
)
def test_app_role_cannot_change_the_audit_log(app_role, sql):
    if "audit_daily_counts" in sql:
        _as_app(sql)  # derived counts: the sequencer updates them
        return
    _refused_by_privilege(sql)


def test_app_role_cannot_touch_a_partition_directly(app_role):
    from django.utils import timezone

    from audits.partitions import partition_name

    part = partition_name(timezone.now())
    _refused_by_privilege(f"UPDATE audits.{part} SET action = 'x'")
    _refused_by_privilege(f"DELETE FROM audits.{part}")


def test_app_role_cannot_disable_triggers_or_alter_tables(app_role):
    _refused_by_privilege("ALTER TABLE audits.audit_log DISABLE TRIGGER ALL", expect="must be owner")
    _refused_by_privilege("ALTER TABLE accounts.users ADD COLUMN x int", expect="must be owner")
    _refused_by_privilege("CREATE TABLE accounts.sneaky (id int)", expect="permission denied")


def test_app_role_can_do_its_job_on_domain_tables(app_role, regular_user):
    _as_app("UPDATE accounts.users SET name = 'Renamed' WHERE id = %s", [regular_user.pk])
    _refused_by_privilege("TRUNCATE accounts.users")
    _refused_by_privilege("DELETE FROM public.django_migrations")
