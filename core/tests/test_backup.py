"""A backup restores into a fresh database where the audit chain verifies and rows match."""

import os
import subprocess
import sys
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction

from audits.chain import chain_pending
from audits.services import audit_record


def _counts(cursor) -> dict:
    cursor.execute("SELECT count(*) FROM accounts.users")
    users = cursor.fetchone()[0]
    cursor.execute("SELECT count(*), max(chain_seq) FROM audits.audit_log")
    entries, head = cursor.fetchone()
    cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'audit_log_%%_no_truncate'")
    truncate_triggers = cursor.fetchone()[0]
    return {"users": users, "entries": entries, "head": head, "truncate_triggers": truncate_triggers}


def _url(dbname: str) -> str:
    db = connection.settings_dict
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{quote(db['HOST'] or 'localhost', safe='')}:{db['PORT'] or 5432}/{dbname}"


@pytest.mark.django_db(transaction=True)
def test_backup_restores_into_a_fresh_database_and_verifies(tmp_path, make_user):
    for n in range(3):
        make_user("user", email=f"backup{n}@example.com")
    with transaction.atomic():
        audit_record(entity="backup", action="probe", payload={"note": "ünïcode ✓"})
    chain_pending(wait=True)
    with connection.cursor() as cursor:
        before = _counts(cursor)

    dump = tmp_path / "t.dump"
    call_command("backup", "--out", str(dump))
    assert dump.stat().st_size > 0

    fresh = f"{connection.settings_dict['NAME']}_restored"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
        cursor.execute(f'CREATE DATABASE "{fresh}"')
    try:
        call_command("restore", str(dump), "--dbname", fresh)
        with pytest.raises(Exception, match="not empty"):
            call_command("restore", str(dump), "--dbname", fresh)
        with psycopg.connect(_url(fresh)) as restored, restored.cursor() as cursor:
            assert _counts(cursor) == before
            assert before["truncate_triggers"] >= 4
        # Verify the chain inside the restored copy, as an operator would, with the same key.
        env = {
            **os.environ,
            "DATABASE_URL": _url(fresh),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "AUDIT_SIGNING_KEY": django_settings.AUDIT_SIGNING_KEY,
        }
        env.pop("DATABASE_OWNER_URL", None)
        result = subprocess.run(
            [sys.executable, "manage.py", "verify_audit_chain", "--no-seal"],
            env=env,
            capture_output=True,
            text=True,
            cwd=django_settings.BASE_DIR,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("OK: ") and f"(head #{before['head']})" in result.stdout
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
