"""Every migration has a working reverse: on a scratch database, migrate forward, take
each domain app back to zero (dependents first), and forward again."""

import os
import subprocess
import sys
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.slow

# Dependents first: going back to zero must not strand another app's tables.
ZERO_ORDER = ["production", "legacy", "providers", "quarantine", "experiments", "projects", "audits", "accounts"]


def _manage(url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    env.pop("DATABASE_OWNER_URL", None)
    env.pop("DATABASE_REPLICA_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v') AND n.nspname = ANY(%s)",
            [list(settings.DOMAIN_APPS)],
        ).fetchall()
    return {r[0] for r in rows}


@pytest.mark.django_db(transaction=True)
def test_every_app_migrates_to_zero_and_back():
    db = connection.settings_dict
    scratch = f"{db['NAME']}_migrations"
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    url = f"postgres://{auth}@{quote(db['HOST'] or 'localhost', safe='')}:{db['PORT'] or 5432}/{scratch}"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    try:
        _manage(url, "migrate", "--noinput")
        forward = _tables(url)
        assert "audits.audit_log" in forward and "accounts.users" in forward
        for app in ZERO_ORDER:
            if app in settings.DOMAIN_APPS:
                _manage(url, "migrate", app, "zero", "--noinput")
        assert _tables(url) == set(), _tables(url)
        _manage(url, "migrate", "--noinput")
        assert _tables(url) == forward
        _manage(url, "makemigrations", "--check", "--dry-run")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
