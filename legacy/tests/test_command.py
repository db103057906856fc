"""manage.py import_legacy: options, output, refusals."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from legacy.tests.conftest import read_rejects

pytestmark = pytest.mark.django_db


def _run(*args, **kwargs) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_legacy", *args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def test_prints_the_summary_table_and_the_rejects_path(sample_export, tmp_path):
    rejects, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    out, err = _run(
        str(sample_export.path),
        "--legacy-key",
        sample_export.key,
        "--rejects",
        str(rejects),
        "--summary-json",
        str(summary),
        "--batch-size",
        "100",
    )
    lines = out.splitlines()
    assert lines[0].split() == ["kind", "read", "imported", "already", "present", "rejected"]
    rows = lines[1 : next(i for i, line in enumerate(lines) if line.startswith("import_legacy:"))]
    table = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in rows if not line.startswith("-")}
    assert table["users"] == [sample_export.users + 4, sample_export.users, 1, 3]
    assert table["total"][0] == sum(v[0] for k, v in table.items() if k != "total")
    assert "import_legacy: run " in out and f"rejects: {rejects.resolve()}" in out
    doc = json.loads(summary.read_text())
    assert doc["summary"]["users"]["imported"] == sample_export.users
    assert doc["totals"]["read"] == table["total"][0]
    assert len(read_rejects(rejects)) == int(out.rsplit("(", 1)[1].split()[0])
    assert "warning" not in err


def test_default_rejects_file_is_in_the_current_directory(sample_export, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out, _ = _run(str(sample_export.path), "--only", "users", "--legacy-key", sample_export.key)
    files = list(tmp_path.glob("import_legacy-*.rejects.jsonl"))
    assert len(files) == 1 and str(files[0].resolve()) in out
    assert {r["kind"] for r in read_rejects(files[0])} == {"users"}


def test_only_selected_kinds(sample_export, tmp_path):
    out, _ = _run(str(sample_export.path), "--only", "users,policies", "--rejects", str(tmp_path / "r.jsonl"))
    kinds = {line.split()[0] for line in out.splitlines()[2:] if line[:1].isalpha() and ":" not in line.split()[0]}
    assert {"users", "policies"} <= kinds and not kinds & {"projects", "experiments", "usage", "audit"}


def test_dry_run_says_so(sample_export, tmp_path):
    out, _ = _run(str(sample_export.path), "--dry-run", "--only", "users", "--rejects", str(tmp_path / "r.jsonl"))
    assert "(dry run: nothing was written)" in out


def test_the_legacy_key_defaults_to_the_setting(sample_export, tmp_path, settings):
    settings.LEGACY_ENCRYPTION_KEY = sample_export.key
    summary = tmp_path / "s.json"
    _run(
        str(sample_export.path),
        "--only",
        "users,provider_keys",
        "--rejects",
        str(tmp_path / "r.jsonl"),
        "--summary-json",
        str(summary),
    )
    assert (
        json.loads(summary.read_text())["summary"]["provider_keys"]["imported"]
        == (sample_export.expect["provider_keys"])
    )


def test_without_a_legacy_key_encrypted_keys_are_rejected_with_a_warning(sample_export, tmp_path, settings):
    settings.LEGACY_ENCRYPTION_KEY = ""
    rejects = tmp_path / "r.jsonl"
    _, err = _run(str(sample_export.path), "--only", "users,provider_keys", "--rejects", str(rejects))
    assert "no legacy key" in err
    reasons = [r["reason"] for r in read_rejects(rejects) if r["kind"] == "provider_keys"]
    assert any("no legacy key was given" in reason for reason in reasons)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "users,bogus"], "unknown kind"),
        (["--legacy-key", "not-a-fernet-key"], "not a Fernet key"),
        (["--batch-size", "0"], "at least 1"),
        (["--max-record-bytes", "10"], "at least 1024"),
    ],
)
def test_refusals(sample_export, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        _run(str(sample_export.path), "--rejects", str(tmp_path / "r.jsonl"), *args)


def test_refuses_what_is_not_an_export(tmp_path):
    with pytest.raises(CommandError, match="not a directory"):
        _run(str(tmp_path / "missing"), "--rejects", str(tmp_path / "r.jsonl"))
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "manifest.json").write_text(json.dumps({"format": "tristate-legacy", "version": 2}))
    with pytest.raises(CommandError, match="version 2 is not supported"):
        _run(str(tmp_path / "v2"), "--rejects", str(tmp_path / "r.jsonl"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CommandError, match="does not describe"):
        _run(str(tmp_path / "other"), "--rejects", str(tmp_path / "r.jsonl"))


def test_an_empty_directory_imports_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    out, err = _run(str(tmp_path / "empty"), "--rejects", str(tmp_path / "r.jsonl"))
    assert "no manifest.json" in err
    assert "0 records" in out


def test_admin_lists_the_map_read_only(sample_export, run_import, make_user):
    from django.test import Client

    from legacy.models import LegacyRecord

    run_import(sample_export, only=["users", "policies"])
    staff = make_user("admin", is_superuser=True)
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/legacy/legacyrecord/", {"q": "policy-1"})
    assert response.status_code == 200 and b"policy-1" in response.content
    record = LegacyRecord.objects.get(kind="policy", key="policy-1")
    page = client.get(f"/admin/legacy/legacyrecord/{record.pk}/change/")
    assert page.status_code == 200 and b"policies.json" in page.content
    assert client.get("/admin/legacy/legacyrecord/add/").status_code == 403
