"""Real commits: an import killed with SIGKILL half-way and run again ends in the same state
as an uninterrupted one; the audit chain verifies after an import; one import at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from audits.chain import chain_pending
from audits.models import AuditEntry
from audits.verify import verify_chain
from legacy.models import LegacyRecord
from legacy.services import IMPORT_LOCK, ImportRefused, legacy_import
from legacy.tests.snapshot import snapshot


def _url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{quote(db['HOST'] or 'localhost', safe='')}:{db['PORT'] or 5432}/{db['NAME']}"


def _mapped() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM legacy_records")
        return cursor.fetchone()[0]


def _import_retrying(export, rejects):
    """The killed process's session may take a moment to end and release the import lock."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return legacy_import(root=export.path, rejects_path=rejects, legacy_key=export.key, batch_size=25)
        except ImportRefused:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_sigkill_half_way_then_resume_ends_as_an_uninterrupted_import(sample_export, tmp_path):
    whole = legacy_import(root=sample_export.path, rejects_path=tmp_path / "a.jsonl", legacy_key=sample_export.key)
    expected = snapshot()
    total = _mapped()
    assert total == whole.imported - whole.rows["evaluations"].imported

    call_command("flush", "--noinput", verbosity=0)
    assert _mapped() == 0
    env = {**os.environ, "DATABASE_URL": _url(), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    env.pop("DATABASE_OWNER_URL", None)
    command = [sys.executable, "manage.py", "import_legacy", str(sample_export.path), "--batch-size", "25"]
    command += ["--legacy-key", sample_export.key, "--rejects", str(tmp_path / "killed.jsonl"), "-v", "0"]
    proc = subprocess.Popen(command, cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _mapped() < total // 3:
            assert proc.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    at_kill = _mapped()
    assert total // 3 <= at_kill < total

    resumed = _import_retrying(sample_export, tmp_path / "b.jsonl")
    assert resumed.imported > 0 and resumed.totals.present >= at_kill
    assert _mapped() == total
    assert snapshot() == expected
    # Same counts too: what the two runs imported is what one run imports.
    for name, counts in resumed.summary().items():
        assert counts["rejected"] == whole.summary()[name]["rejected"], name
        assert counts["read"] == whole.summary()[name]["read"], name


@pytest.mark.django_db(transaction=True)
def test_the_chain_verifies_with_the_legacy_events_in_ts_order(sample_export, tmp_path):
    start = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    report = legacy_import(root=sample_export.path, rejects_path=tmp_path / "r.jsonl", legacy_key=sample_export.key)
    assert chain_pending(wait=True) == 0  # everything it wrote is sealed when the import returns
    result = verify_chain()
    assert result.ok and result.pending == 0

    ids = list(LegacyRecord.objects.filter(kind="audit").values_list("audit_id", flat=True))
    events = list(AuditEntry.objects.filter(id__in=ids).order_by("chain_seq").values_list("ts", flat=True))
    assert len(events) == sample_export.expect["audit_events"]
    assert events == sorted(events)  # chain order is ts order across all the audit files
    run = AuditEntry.objects.get(id__gt=start, entity="legacy_import", action="run")
    assert run.payload["run"] == report.run_id
    assert run.payload["summary"]["audit"]["imported"] == sample_export.expect["audit_events"]
    assert run.payload["summary"]["users"]["imported"] == sample_export.expect["users"]
    # One entry per batch for every kind that wrote something, naming the run and its lines.
    for entity in ("user", "project", "experiment", "quarantine_record", "user_provider", "usage"):
        batch = AuditEntry.objects.filter(id__gt=start, entity=entity, action="import").first()
        assert batch is not None and batch.payload["legacy_run"] == report.run_id, entity
    assert AuditEntry.objects.filter(id__gt=start, entity="legacy_import", action="audit_events").exists()


@pytest.mark.django_db(transaction=True)
def test_one_import_at_a_time(sample_export, tmp_path):
    import psycopg

    other = psycopg.connect(_url(), autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [IMPORT_LOCK])
        with pytest.raises(ImportRefused, match="another import_legacy is running"):
            legacy_import(root=sample_export.path, rejects_path=tmp_path / "r.jsonl", legacy_key=sample_export.key)
    finally:
        other.close()
    assert _mapped() == 0
