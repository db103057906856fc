"""Exports as messy as real ones (FORMAT.md "What real exports contain"), written by hand:
every irregularity is handled or rejected with its reason, never a crash, never a partial
row, and every record is accounted for."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from accounts.models import User
from audits.models import AuditEntry
from experiments.models import Blacklist, Evaluation, Experiment
from legacy.models import LegacyRecord
from legacy.tests.conftest import read_rejects
from projects.models import Baseline, Policy, Project
from providers.models import UsageTracking, UserProvider
from quarantine.models import QuarantineRecord

pytestmark = pytest.mark.django_db

KEY = Fernet.generate_key().decode()
CONFIG = {"model": "gpt-4o", "temperature": 0.2}


def _line(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Export:
    """Writes an export file by file; `jsonl(name, lines, bom=, crlf=, end=)`."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "manifest.json").write_text(json.dumps({"format": "tristate-legacy", "version": 3}))

    def jsonl(self, rel: str, lines: list, *, bom=False, crlf=False, end=True) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sep = "\r\n" if crlf else "\n"
        text = sep.join(_line(x) for x in lines) + (sep if end else "")
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))

    def json(self, rel: str, value, raw: str | None = None) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(raw if raw is not None else json.dumps(value, ensure_ascii=False, indent=1))

    def raw(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _user(email, **fields):
    return {"email": email, "name": "N", "role": "user", "verified": True, "password_hash": None, **fields}


@pytest.fixture
def messy(tmp_path) -> Path:
    x = Export(tmp_path / "messy")
    x.jsonl(
        "users.jsonl",
        [
            _user("Ann@Example.com", created_at="2024-03-01T10:00:00+02:00"),  # offset
            "",  # blank
            _user("ann@example.COM", name="Ann again"),  # same person, other case
            _user("bob@example.com", created_at=1704067200, last_login="1704153600"),  # epoch s, as text
            _user("cid@example.com", created_at=1704067200123),  # epoch ms
            _user("dee@example.com", created_at="2024-01-05T12:30:00"),  # naive = UTC
            _user("eve@example.com", role="operator", password_hash="not-a-hash"),
            _user("fay@example.com", role="wizard"),
            _user("gus@example.com", name="nul\u0000byte"),
            _user("hal@example.com", created_at="yesterday"),
            _user("ivy@example.com", created_at="2999-01-01T00:00:00Z"),
            '["a", "list"]',
            '{"email": "nan@example.com", "role": "user", "name": NaN}',
            '{"email": "lone@example.com", "role": "user", "name": "\\ud800"}',
            _user("Zed@Example.com", role="readonly"),
            '{"email": "cut@example.com", "role": "us',  # truncated: no line end either
        ],
        bom=True,
        crlf=True,
        end=False,
    )
    x.raw("settings/ANN@example.com.json", json.dumps({"THEME": "dark"}).encode())
    x.raw("settings/nobody@example.com.json", json.dumps({"THEME": "light"}).encode())
    x.raw("settings/bob@example.com.json", b'{"THEME": ')
    x.json(
        "policies.json",
        None,
        raw='[\n {"name": "p1", "description": "", "rego": "package a"},\n {"name": "p2", "rego": ""},\n'
        ' {"name": "p3", "rego": "package c"}, {"oops"\n]',
    )
    project = {
        "slug": "alpha",
        "name": "Alpha",
        "owner": "ANN@example.com",
        "created_at": "2024-02-01T00:00:00Z",
        "versions": {"v1": {"model_config": CONFIG, "changelog": "first"}},
        "baselines": [{"metric": "accuracy", "op": ">=", "threshold": 0.5, "active": True}],
        "policies": ["p1"],
    }
    x.json("projects/alpha.json", project)
    x.json("projects/beta.json", {**project, "slug": "beta", "name": "Beta", "owner": "nobody@example.com"})
    x.json("projects/gamma.json", {**project, "slug": "gamma", "name": "Gamma", "policies": ["p3", "p9"]})
    x.json("projects/delta.json", {**project, "slug": "delta", "name": "Delta", "versions": {"v7": {}}})
    x.json("projects/eps.json", {**project, "slug": "not-eps", "name": "Eps"})
    x.json(
        "projects/zeta.json",
        {**project, "slug": "zeta", "name": "Zeta", "baselines": [{"metric": "m", "op": "~", "threshold": 1}]},
    )
    huge = "x" * 600_000
    experiment = {
        "id": "e1",
        "project": "alpha",
        "name": "E1",
        "description": "",
        "config": {**CONFIG, "seed": 1, "prompt": huge},  # a large payload
        "dataset_id": "d",
        "status": "evaluating",
        "created_by": "bob@example.com",
        "created_at": "2024-02-02T00:00:00Z",
        "started_at": 1706832000,
        "completed_at": "2024-02-02T03:00:00",
        "evaluations": [
            {
                "metrics": {"accuracy": 0.9},
                "verdict": "pass",
                "confidence": 0.95,
                "evaluated_at": "2024-02-02T04:00:00Z",
            },
            {
                "metrics": {"accuracy": 0.2},
                "verdict": "pass",
                "confidence": 0.9,
                "override": "fail",
                "override_reason": "looked closer",
                "evaluated_at": "2024-02-02T05:00:00Z",
            },
        ],
    }
    x.jsonl(
        "experiments.jsonl",
        [
            experiment,
            experiment,  # the same record twice: one experiment
            {**experiment, "name": "E1 changed"},  # same legacy id, other content: conflict
            {**experiment, "id": "e2", "config": {**CONFIG, "seed": 2}, "status": "quarantined", "description": ""},
            {**experiment, "id": "e3", "project": "beta", "description": ""},  # project rejected → dangling
            {**experiment, "id": "e4", "created_by": "nobody@example.com", "description": ""},
            {
                **experiment,
                "id": "e5",
                "description": "",
                "evaluations": [{"metrics": {"accuracy": "high"}, "confidence": 0.9, "evaluated_at": 0}],
            },
            {
                **experiment,
                "id": "e6",
                "description": "",
                "evaluations": [
                    {"metrics": {"accuracy": 1}, "confidence": 0.9, "override": "fail", "evaluated_at": 1706918400}
                ],
            },
            {**experiment, "id": "e7", "config": [1, 2], "description": ""},
            {**experiment, "id": "e8", "config": {**CONFIG, "seed": 8}, "status": "failed", "description": ""},
            {**experiment, "id": "e9", "config": {**CONFIG, "seed": 9}, "status": "quarantined", "description": ""},
            {**experiment, "id": "e10", "config": {**CONFIG, "seed": 10}, "description": "d" * 100_001},
        ],
    )
    x.jsonl(
        "quarantine.jsonl",
        [
            {
                "experiment": "e2",
                "config": {"temperature": 0.2, "seed": 2, "model": "gpt-4o"},  # other key order: same config
                "reason": "failed",
                "evidence": {"n": 1},
                "failure_metrics": {"accuracy": 0.1},
                "quarantined_at": "2024-02-03T00:00:00Z",
                "quarantined_by": "ann@example.com",
                "review_status": "quarantined",
            },
            {"experiment": "e8", "config": {**CONFIG, "seed": 8}, "reason": "r", "quarantined_at": 1706918400},
            {"experiment": "e9", "config": {"other": True}, "reason": "r", "quarantined_at": 1706918400},
            {"experiment": "nope", "config": CONFIG, "reason": "r", "quarantined_at": 1706918400},
        ],
    )
    fernet = Fernet(KEY.encode())
    x.jsonl(
        "provider_keys.jsonl",
        [
            {
                "user": "ANN@example.com",
                "provider_type": "openai",
                "provider_name": "OpenAI",
                "api_key": "ENC:" + fernet.encrypt(b"sk-ann-secret-0001").decode(),
            },
            {
                "user": "bob@example.com",
                "provider_type": "anthropic",
                "provider_name": "A",
                "api_key": "sk-bob-plain-0002",
            },
            {
                "user": "bob@example.com",
                "provider_type": "openai",
                "provider_name": "O",
                "api_key": "ENC:" + Fernet(Fernet.generate_key()).encrypt(b"sk-bob-wrongkey-0003").decode(),
            },
            {"user": "dee@example.com", "provider_type": "local", "provider_name": "L", "api_key": "s3cr3t7"},
            {"user": "dee@example.com", "provider_type": "cohere", "provider_name": "C", "api_key": "sk-dee-0004xx"},
            '{"user": "dee@example.com", "provider_type": "openai", "api_key": "sk-dee-truncated-0005',
        ],
    )
    x.jsonl(
        "usage/usage_2024-02.jsonl",
        [
            {
                "user": "ann@example.com",
                "provider": "openai",
                "model": "gpt-4o",
                "date": "2024-02-01",
                "requests": 2,
                "tokens_in": 10,
                "tokens_out": 5,
                "cost_usd": "0.5",
            },
            {
                "user": "ANN@example.com",
                "provider": "openai",
                "model": "gpt-4o",
                "date": "2024-02-01",
                "requests": "3",
                "tokens_in": 20,
                "tokens_out": 5,
                "cost_usd": 0.25,
            },  # same key: adds up
            {
                "user": "ann@example.com",
                "provider": "openai",
                "model": "gpt-4o",
                "date": "2024-02-30",
                "requests": 1,
                "tokens_in": 1,
                "tokens_out": 1,
                "cost_usd": "0.1",
            },
            {
                "user": "ann@example.com",
                "provider": "grok",
                "model": "g",
                "date": "2024-02-02",
                "requests": 1,
                "tokens_in": 1,
                "tokens_out": 1,
                "cost_usd": "0.1",
            },
            {
                "user": "ann@example.com",
                "provider": "openai",
                "model": "gpt-4o",
                "date": "2024-02-03",
                "requests": 1.5,
                "tokens_in": 1,
                "tokens_out": 1,
                "cost_usd": "0.1",
            },
            {
                "user": "ann@example.com",
                "provider": "openai",
                "model": "gpt-4o",
                "date": "2024-02-03",
                "requests": 1,
                "tokens_in": 1,
                "tokens_out": 1,
                "cost_usd": "0.0000000001",
            },
            {"user": "ann@example.com", "provider": "openai", "model": "gpt-4o", "date": "2024-02-03"},
        ],
    )
    x.jsonl(
        "audit/audit_2024-03.jsonl",
        [
            {
                "id": "a3",
                "ts": "2024-03-01T00:00:00Z",
                "entity": "user",
                "action": "login",
                "actor": "ANN@example.com",
                "payload": {"n": 3},
            },
            {
                "id": "a1",
                "ts": "2023-12-31T23:59:59.5Z",
                "entity": "user",
                "action": "create",
                "actor": None,
                "payload": {"n": 1},
            },  # in another month's file, and earlier than the rest
            {
                "id": "a4",
                "ts": "2024-03-02T00:00:00Z",
                "entity": "user",
                "action": "update",
                "actor": "x@y.z",
                "payload": {},
            },
            {"id": "a5", "ts": "2024-03-03T00:00:00Z", "entity": "bad entity!", "action": "x", "payload": {}},
            {
                "id": "a6",
                "ts": "2024-03-04T00:00:00Z",
                "entity": "user",
                "action": "x",
                "payload": {"password": "hunter2"},
            },
            {"id": "a7", "ts": "not a time", "entity": "user", "action": "x", "payload": {}},
            {
                "id": "a8",
                "ts": "2024-03-05T00:00:00Z",
                "entity": "user",
                "action": "x",
                "payload": {"blob": "y" * 1_200_000},
            },
        ],
    )
    x.jsonl(
        "audit/audit_2024-01.jsonl",
        [
            {
                "id": "a2",
                "ts": 1704844800,
                "entity": "project",
                "action": "create",
                "actor": "bob@example.com",
                "payload": {"n": 2},
            }
        ],
    )
    x.raw(
        "audit/audit_2024-02.jsonl",
        b'{"id": "a9", "ts": "2024-02-01T00:00:00Z", "entity": "user", "action": "x", '
        b'"payload": {"name": "\xff\xfe"}}\n',
    )
    x.json("analyses/analysis_1.json", {"analysis_id": "an1", "user": None, "status": "done"})
    x.raw("notes.txt", b"left here by someone")
    return x.root


def _by_place(rejects: list[dict]) -> dict:
    return {(r["file"], r["line"]): r for r in rejects}


def test_every_irregularity_is_handled_or_rejected_with_its_reason(messy, run_import):
    report = run_import(messy, legacy_key=KEY, max_record_bytes=1024 * 1024)
    rows = report.summary()
    for name, c in rows.items():
        assert c["read"] == c["imported"] + c["already_present"] + c["rejected"], name
    rejects = read_rejects(report.rejects_path)
    places = _by_place(rejects)
    assert len(places) == len(rejects) == report.rejects_written

    # users: BOM, CRLF, blank line, offsets, naive, epoch s/ms, mixed-case duplicates.
    assert rows["users"] == {"read": 15, "imported": 5, "already_present": 1, "rejected": 9}
    ann = User.objects.get(email="ann@example.com")
    assert ann.created_at == datetime(2024, 3, 1, 8, 0, tzinfo=UTC) and ann.name == "N"
    assert User.objects.get(email="bob@example.com").created_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert User.objects.get(email="bob@example.com").last_login == datetime(2024, 1, 2, tzinfo=UTC)
    assert User.objects.get(email="cid@example.com").created_at == datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert User.objects.get(email="dee@example.com").created_at == datetime(2024, 1, 5, 12, 30, tzinfo=UTC)
    assert User.objects.get(email="zed@example.com").role == "viewer"
    reasons = {r["line"]: r["reason"] for r in rejects if r["file"] == "users.jsonl"}
    assert "password_hash" in reasons[7]
    assert "unknown role 'wizard'" in reasons[8]
    assert "NUL" in reasons[9]
    assert "not a time" in reasons[10]
    assert "out of range" in reasons[11]
    assert "not a JSON object" in reasons[12]
    assert "NaN" in reasons[13]
    assert "surrogate" in reasons[14]
    assert reasons[16].startswith("truncated")
    for email in ("eve", "fay", "gus", "hal", "ivy", "cut", "nan", "lone"):
        assert not User.objects.filter(email=f"{email}@example.com").exists()

    # settings: matched case-insensitively; unknown user and bad JSON rejected.
    assert User.objects.get(email="ann@example.com").settings == {"THEME": "dark"}
    assert "does not exist" in places[("settings/nobody@example.com.json", 1)]["reason"]
    assert "not valid JSON" in places[("settings/bob@example.com.json", 1)]["reason"]

    # policies: a bad element and the syntax error after it; the others land.
    assert set(Policy.objects.values_list("name", flat=True)) == {"p1", "p3"}
    assert "rego" in places[("policies.json", 3)]["reason"]
    assert "not valid JSON" in places[("policies.json", 4)]["reason"]

    # projects: dangling owner, unknown policy, unknown tag, slug/file mismatch, bad operator.
    assert list(Project.objects.values_list("name", flat=True)) == ["Alpha"]
    assert "owner nobody@example.com" in places[("projects/beta.json", 1)]["reason"]
    assert "p9" in places[("projects/gamma.json", 1)]["reason"]
    assert "v7" in places[("projects/delta.json", 1)]["reason"]
    assert "differs from the file name" in places[("projects/eps.json", 1)]["reason"]
    assert "baselines[0]" in places[("projects/zeta.json", 1)]["reason"]
    alpha = Project.objects.get(name="Alpha")
    assert alpha.versions.get(tag="v1").model_config == CONFIG
    assert Baseline.objects.filter(project=alpha).count() == 1

    # experiments: duplicates, conflicts, dangling references, bad evaluations — never partial.
    assert rows["experiments"] == {"read": 12, "imported": 4, "already_present": 1, "rejected": 7}
    e1 = Experiment.objects.get(name="E1", config__seed=1)
    assert len(e1.config["prompt"]) == 600_000 and e1.status == "evaluating"
    assert list(json.loads(e1.config_text)) == ["model", "temperature", "seed", "prompt"]  # the file's key order
    ev_pass, ev_fail = Evaluation.objects.filter(experiment=e1).order_by("evaluated_at")
    assert (ev_pass.ai_verdict, ev_pass.effective_verdict) == ("pass", "pass")
    # Tristate's rules decide the AI verdict; the legacy verdict is kept beside it.
    assert (ev_fail.ai_verdict, ev_fail.human_override, ev_fail.effective_verdict) == ("fail", "fail", "fail")
    assert ev_fail.checks["imported"]["recorded_verdict"] == "pass"
    assert ev_fail.evaluated_by == "human" and ev_fail.override_reason == "looked closer"
    lines = {r["line"]: r["reason"] for r in rejects if r["file"] == "experiments.jsonl"}
    assert "another record with the same legacy id (e1)" in lines[3]
    assert "project 'beta' does not exist" in lines[5]
    assert "created_by nobody@example.com" in lines[6]
    assert "evaluations[0]" in lines[7]
    assert "override_reason" in lines[8]
    assert "config" in lines[9]
    assert "description: At most 100000 characters" in lines[12]  # Tristate's own limit
    assert not Experiment.objects.filter(name="E1 changed").exists()
    assert rows["evaluations"]["imported"] == 2 * 4

    # quarantine: key order does not change the hash; mismatches and dangling ids rejected.
    record = QuarantineRecord.objects.get()
    assert record.experiment.status == "quarantined" and record.reason == "failed"
    assert Blacklist.objects.get(config_hash=record.config_hash).lifted_at is None
    qlines = {r["line"]: r["reason"] for r in rejects if r["file"] == "quarantine.jsonl"}
    assert "'failed', not quarantined" in qlines[2]
    assert "hash mismatch" in qlines[3]
    assert "'nope' does not exist" in qlines[4]

    # provider keys: ENC decrypts, plain sealed, wrong key / bad key / unknown type rejected, masked.
    assert UserProvider.objects.count() == 2
    klines = {r["line"]: r for r in rejects if r["file"] == "provider_keys.jsonl"}
    assert "does not decrypt" in klines[3]["reason"] and klines[3]["masked"] == ["api_key"]
    assert "8 to 1024" in klines[4]["reason"]
    assert "provider_type" in klines[5]["reason"]
    assert klines[6]["reason"].startswith("not valid JSON")
    text = report.rejects_path.read_text()
    for secret in ("sk-bob-wrongkey-0003", "s3cr3t7", "sk-dee-0004xx", "sk-dee-truncated-0005"):
        assert secret not in text

    # usage: lines of one key add up; bad dates, unknown provider, fractions, missing fields rejected.
    row = UsageTracking.objects.get()
    assert (row.requests_count, row.tokens_input, row.tokens_output) == (5, 30, 10)
    assert str(row.cost_usd.normalize()) == "0.75"
    ulines = {r["line"]: r["reason"] for r in rejects if r["file"] == "usage/usage_2024-02.jsonl"}
    assert set(ulines) == {3, 4, 5, 6, 7}
    assert "calendar date" in ulines[3] and "provider_type" in ulines[4] and "whole number" in ulines[5]
    assert "9 decimal" in ulines[6] and "missing field" in ulines[7]

    # audit: in ts order across files, actor resolved, bad ones rejected, oversized refused unread.
    mapped = dict(LegacyRecord.objects.filter(kind="audit").values_list("key", "audit_id"))
    assert set(mapped) == {"a1", "a2", "a3"}
    entries = {e.id: e for e in AuditEntry.objects.filter(id__in=mapped.values())}
    assert mapped["a1"] < mapped["a2"] < mapped["a3"]
    assert entries[mapped["a1"]].ts == datetime(2023, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)
    assert entries[mapped["a3"]].actor == ann.pk and entries[mapped["a1"]].actor is None
    alines = {(r["file"], r["line"]): r["reason"] for r in rejects if r["kind"] == "audit"}
    assert "actor x@y.z does not exist" in alines[("audit/audit_2024-03.jsonl", 3)]
    assert "A-Z a-z" in alines[("audit/audit_2024-03.jsonl", 4)]
    assert "secret" in alines[("audit/audit_2024-03.jsonl", 5)]
    assert "hunter2" not in text
    assert "not a time" in alines[("audit/audit_2024-03.jsonl", 6)]
    assert "larger than" in alines[("audit/audit_2024-03.jsonl", 7)]
    assert "UTF-8" in alines[("audit/audit_2024-02.jsonl", 1)]

    # Files that are not part of the format are reported, not read.
    assert any("notes.txt" in w for w in report.warnings)


def test_a_second_run_over_the_messy_export_changes_nothing(messy, run_import):
    first = run_import(messy, legacy_key=KEY, max_record_bytes=1024 * 1024)
    mapped = LegacyRecord.objects.count()
    second = run_import(messy, legacy_key=KEY, max_record_bytes=1024 * 1024)
    assert second.imported == 0 and LegacyRecord.objects.count() == mapped
    for name, c in second.summary().items():
        f = first.summary()[name]
        assert c["read"] == f["read"] and c["rejected"] == f["rejected"], name
