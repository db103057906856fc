"""import_legacy on the generator's export: counts against --expect, nothing lost, rejects
listed once, idempotence, dry run, logins with legacy passwords, provider keys."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from decimal import Decimal

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.db import connection

from accounts.models import Role, User
from audits.models import AuditEntry
from experiments.models import Blacklist, Evaluation, Experiment
from legacy.models import LegacyRecord
from legacy.services import IMPORT_USER_EMAIL
from legacy.tests.conftest import read_rejects
from legacy.tests.snapshot import provider_keys, snapshot
from projects.models import Project, Version, VersionHistory
from providers.models import UsageTracking, UserProvider
from quarantine.models import QuarantineRecord

pytestmark = pytest.mark.django_db


def _emails(export) -> list[str]:
    """The good users' e-mails in users.jsonl order (user i has password legacy-pass-i)."""
    out = []
    with open(export.path / "users.jsonl", encoding="utf-8-sig") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            email = record.get("email")
            if email and record.get("role") in ("admin", "operator", "user", "readonly") and email.islower():
                out.append(record)
    return out


def test_generated_export_lands_as_expected(sample_export, run_import):
    expect = sample_export.expect
    report = run_import(sample_export)
    rows = report.summary()

    for name, key in [
        ("users", "users"),
        ("policies", "policies"),
        ("projects", "projects"),
        ("experiments", "experiments"),
        ("evaluations", "evaluations"),
        ("quarantine", "quarantine_records"),
        ("provider_keys", "provider_keys"),
        ("audit", "audit_events"),
        ("analyses", "analyses"),
    ]:
        assert rows[name]["imported"] == expect[key], name
    for kind, bad in expect["rejects"].items():
        assert rows[kind]["rejected"] == bad, kind
    # Nothing lost: every row's counts add up, and so do the totals.
    for name, c in rows.items():
        assert c["read"] == c["imported"] + c["already_present"] + c["rejected"], name
    totals = report.totals
    assert totals.read == sum(c["read"] for c in rows.values())
    assert totals.read == totals.imported + totals.present + totals.rejected
    # The mixed-case duplicate e-mail is the same user, counted as already present.
    assert rows["users"]["already_present"] == 1
    assert rows["analyses"] == {
        "read": expect["analyses"] + 1,
        "imported": expect["analyses"],
        "already_present": 0,
        "rejected": 1,
    }

    # What is in the tables.
    imported_users = User.objects.filter(pk__in=LegacyRecord.objects.filter(kind="user").values("target_id"))
    assert imported_users.count() == expect["users"]
    assert Project.objects.count() == expect["projects"]
    assert Version.objects.count() == 3 * expect["projects"]
    assert Experiment.objects.count() == expect["experiments"]
    assert Evaluation.objects.count() == expect["evaluations"]
    assert QuarantineRecord.objects.count() == expect["quarantine_records"]
    assert Blacklist.objects.filter(lifted_at__isnull=True).count() == expect["quarantine_records"]
    assert UserProvider.objects.count() == expect["provider_keys"]
    assert UsageTracking.objects.count() == expect["usage_rows"]
    assert LegacyRecord.objects.filter(kind="audit").count() == expect["audit_events"]
    # Every version with a config has its history row, written by the import.
    configured = Version.objects.exclude(model_config={}).count()
    assert VersionHistory.objects.filter(action="updated").count() == configured == 3 * expect["projects"]


def test_usage_lines_add_up_into_counters(sample_export, run_import):
    run_import(sample_export)
    expected: dict = {}
    for path in sorted((sample_export.path / "usage").glob("usage_*.jsonl")):
        for line in path.read_text().splitlines():
            u = json.loads(line)
            if u["requests"] < 0 or u["date"] == "2024-13-45":
                continue
            key = (u["user"].lower(), u["provider"], u["model"], u["date"])
            acc = expected.setdefault(key, [0, 0, 0, Decimal(0)])
            acc[0] += u["requests"]
            acc[1] += u["tokens_in"]
            acc[2] += u["tokens_out"]
            acc[3] += Decimal(u["cost_usd"])
    rows = UsageTracking.objects.select_related("user", "provider")
    got = {
        (r.user.email, r.provider.provider_type, r.model, r.date.isoformat()): [
            r.requests_count,
            r.tokens_input,
            r.tokens_output,
            r.cost_usd,
        ]
        for r in rows
    }
    assert got == expected
    # Usage of a (type, model) the catalog lacks is counted under an inactive catalog entry.
    providers = {r.provider for r in rows}
    assert providers and all(not p.is_active and p.name.endswith("(imported)") for p in providers)


def test_roles_passwords_and_settings(sample_export, run_import):
    run_import(sample_export)
    records = _emails(sample_export)
    by_email = {u.email: u for u in User.objects.filter(email__in=[r["email"] for r in records])}
    for record in records:
        user = by_email[record["email"]]
        role, staff = {
            "admin": (Role.ADMIN, True),
            "operator": (Role.USER, True),
            "user": (Role.USER, False),
            "readonly": (Role.VIEWER, False),
        }[record["role"]]
        assert (user.role, user.is_staff, user.is_superuser) == (role, staff, role == Role.ADMIN)
        assert user.verified == record["verified"]
        if record["password_hash"] is None:
            assert not user.has_usable_password()
        else:
            assert user.password == "bcrypt$" + record["password_hash"]
            assert identify_hasher(user.password).algorithm == "bcrypt"
    with_settings = list((sample_export.path / "settings").glob("*.json"))
    assert with_settings
    for path in with_settings:
        user = User.objects.get(email=path.stem.lower())
        assert user.settings == json.loads(path.read_text())
    importer = User.objects.get(email=IMPORT_USER_EMAIL)
    assert not importer.is_active and not importer.has_usable_password() and importer.role == Role.USER


def test_legacy_user_logs_in_with_the_old_password_then_holds_argon2(
    sample_export, run_import, anon_client, settings, new_audit
):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "accounts.hashers.BCryptPasswordHasher",
    ]
    run_import(sample_export)
    records = _emails(sample_export)
    index, record = next(
        (i, r) for i, r in enumerate(records) if r["verified"] and r["password_hash"] and r["role"] == "user"
    )
    wrong = anon_client.post("/api/v1/auth/login", {"email": record["email"], "password": "nope"}, format="json")
    assert wrong.status_code == 401
    response = anon_client.post(
        "/api/v1/auth/login", {"email": record["email"].upper(), "password": f"legacy-pass-{index}"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["access"]
    user = User.objects.get(email=record["email"])
    assert user.password.startswith("argon2$argon2id$")
    assert new_audit(entity="user", action="password_rehash", actor=user.pk).count() == 1
    # The same password still works against the upgraded hash.
    again = anon_client.post(
        "/api/v1/auth/login", {"email": record["email"], "password": f"legacy-pass-{index}"}, format="json"
    )
    assert again.status_code == 200


def test_user_without_a_hash_must_reset(sample_export, run_import, anon_client):
    run_import(sample_export)
    records = _emails(sample_export)
    index, record = next((i, r) for i, r in enumerate(records) if r["password_hash"] is None)
    response = anon_client.post(
        "/api/v1/auth/login", {"email": record["email"], "password": f"legacy-pass-{index}"}, format="json"
    )
    assert response.status_code == 401
    assert not User.objects.get(email=record["email"]).has_usable_password()


def test_provider_keys_decrypt_to_the_generators_plaintext(sample_export, run_import):
    report = run_import(sample_export)
    keys = provider_keys()
    assert len(keys) == sample_export.expect["provider_keys"]
    lines = [json.loads(line) for line in (sample_export.path / "provider_keys.jsonl").read_text().splitlines()]
    plain_rows = 0
    for email, ptype, _name, _model, last4, plain in keys:
        expected = f"sk-{ptype[:3]}-{hashlib.sha256(f'{sample_export.seed}-{email}-{ptype}'.encode()).hexdigest()[:40]}"
        assert plain == expected
        assert last4 == expected[-4:]
        source = next(x for x in lines if x["user"] == email and x["provider_type"] == ptype)
        plain_rows += not source["api_key"].startswith("ENC:")
    assert plain_rows >= 1  # old rows with the key in clear are sealed as they are
    # No plaintext and no legacy ciphertext anywhere in the table, the audit payloads or the rejects.
    with connection.cursor() as cursor:
        cursor.execute("SELECT string_agg(encrypted_api_key || encrypted_dek, '') FROM user_providers")
        stored = cursor.fetchone()[0]
    audit_text = json.dumps(list(AuditEntry.objects.filter(entity="user_provider").values_list("payload", flat=True)))
    rejects_text = report.rejects_path.read_text()
    for email, ptype, *_, plain in keys:
        assert plain not in stored and plain not in audit_text and plain not in rejects_text
    assert '"sk-x"' not in rejects_text  # the refused plain key of an unknown user
    token = next(x["api_key"] for x in lines if x["provider_type"] == "huggingface-x")
    assert token[4:20] not in rejects_text  # the ciphertext that does not decrypt is masked too


def test_rejects_file_lists_each_bad_record_once(sample_export, run_import):
    report = run_import(sample_export)
    rejects = read_rejects(report.rejects_path)
    assert len(rejects) == report.rejects_written == report.rejected - report.rows["evaluations"].rejected
    places = Counter((r["file"], r["line"]) for r in rejects)
    assert all(n == 1 for n in places.values())
    assert all(set(r) >= {"file", "line", "kind", "reason", "raw"} for r in rejects)
    by_kind = Counter(r["kind"] for r in rejects)
    expect = sample_export.expect["rejects"]
    assert by_kind == Counter(expect)

    def reason(kind, needle):
        return next(r for r in rejects if r["kind"] == kind and needle in r["raw"])["reason"]

    assert reason("users", "broken@example.com").startswith("not valid JSON")
    assert reason("users", "No Email") == "missing field 'email'"
    assert "unknown role 'superuser'" in reason("users", "root@example.com")
    assert "no-such-project" in reason("experiments", "exp_orphan")
    assert "exploded" in reason("experiments", "exp_weird")
    assert "does not decrypt" in reason("provider_keys", "huggingface-x")
    assert "nobody@example.com does not exist" in reason("provider_keys", "nobody@example.com")
    assert "2024-13-45" in reason("usage", "2024-13-45")
    assert "negative" in reason("usage", '"requests": -4')
    assert "NUL" in reason("audit", "aud_nul")
    assert reason("audit", "aud_cut").startswith("not valid JSON")
    truncated = next(r for r in rejects if r["file"].endswith("truncated.json"))
    assert truncated["reason"].startswith("not valid JSON")
    # The bad users' lines sit where the generator put them (BOM and CRLF do not shift them).
    assert {r["line"] for r in rejects if r["kind"] == "users"} == {4, 8, 12}


def test_second_run_imports_nothing_and_changes_nothing(sample_export, run_import, new_audit):
    first = run_import(sample_export)
    before = snapshot()
    entries = new_audit().count()
    second = run_import(sample_export)
    assert second.imported == 0
    for name, c in second.summary().items():
        f = first.summary()[name]
        assert c["already_present"] == f["imported"] + f["already_present"], name
        assert c["rejected"] == f["rejected"], name
    assert snapshot() == before
    assert new_audit().count() == entries  # no batch entries, no run entry: nothing happened


def test_dry_run_leaves_the_database_unchanged(sample_export, run_import, new_audit):
    tables = ["users", "projects", "experiments", "evaluations", "quarantine_records", "blacklist"]
    tables += ["user_providers", "usage_tracking", "providers", "legacy_records", "policies"]

    def counts():
        with connection.cursor() as cursor:
            out = {}
            for table in tables:
                cursor.execute(f"SELECT count(*) FROM {table}")
                out[table] = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM audits.audit_log")
            out["audit_log"] = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'audit\\_log\\_%%'")
            out["partitions"] = cursor.fetchone()[0]
            return out

    before = counts()
    dry = run_import(sample_export, dry_run=True)
    assert counts() == before
    assert not User.objects.filter(email=IMPORT_USER_EMAIL).exists()
    assert dry.dry_run and dry.imported > 0
    assert dry.rejects_path.is_file() and len(read_rejects(dry.rejects_path)) == dry.rejects_written > 0
    real = run_import(sample_export)
    assert real.summary() == dry.summary()


def test_audit_events_keep_their_ts_and_come_in_ts_order(sample_export, run_import, seal_in_transaction):
    run_import(sample_export)
    expected = {}
    for path in (sample_export.path / "audit").glob("audit_*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event["id"] != "aud_nul":
                expected[event["id"]] = event
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.key, a.id, a.ts, a.entity, a.action, a.payload::text FROM legacy_records m "
            "JOIN audits.audit_entries a ON a.id = m.audit_id WHERE m.kind = 'audit' ORDER BY a.id"
        )
        rows = cursor.fetchall()
    assert len(rows) == len(expected)
    times = [row[2] for row in rows]
    assert times == sorted(times)  # appended (ids, hence chain order) in ts order across the files
    for key, _id, ts, entity, action, payload in rows:
        source = expected[key]
        assert ts.isoformat().replace("+00:00", "Z").startswith(source["ts"][:19])
        assert (entity, action, json.loads(payload)) == (source["entity"], source["action"], source["payload"])
    # Months long past get their partitions when the entries are sealed.
    seal_in_transaction()
    months = {t.strftime("audit_log_%Y_%m") for t in times}
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s)", [sorted(months)])
        assert {r[0] for r in cursor.fetchall()} == months


def test_imported_roles_act_as_tristate_roles(sample_export, run_import, api_client_for, anon_client):
    run_import(sample_export)
    records = _emails(sample_export)
    by_role = {}
    for record in records:
        if record["verified"]:
            by_role.setdefault(record["role"], User.objects.get(email=record["email"]))
    project = {"name": "After the import", "description": ""}
    assert api_client_for(by_role["readonly"]).post("/api/v1/projects/", project, format="json").status_code == 403
    assert api_client_for(by_role["readonly"]).get("/api/v1/projects/").status_code == 200
    assert api_client_for(by_role["user"]).post("/api/v1/projects/", project, format="json").status_code == 201
    operator = api_client_for(by_role["operator"])
    assert operator.get("/api/v1/users/").status_code == 403  # console access is not the admin role
    assert by_role["operator"].is_staff
    assert api_client_for(by_role["admin"]).get("/api/v1/users/").status_code == 200
    assert anon_client.get("/api/v1/projects/").status_code == 401
    # Another user's imported project is not found.
    theirs = Project.objects.exclude(owner=by_role["user"]).first()
    assert api_client_for(by_role["user"]).get(f"/api/v1/projects/{theirs.pk}").status_code == 404


def test_a_batch_costs_the_same_number_of_queries_whatever_its_size(tmp_path, run_import, make_user):
    from django.test.utils import CaptureQueriesContext

    from audits import services as audit_services

    make_user("user", email="counter@example.com")

    def export(lines: int):
        root = tmp_path / f"usage{lines}"
        (root / "usage").mkdir(parents=True)
        rows = [
            {
                "user": "counter@example.com",
                "provider": "openai",
                "model": "gpt-4o",
                "date": f"2024-01-{1 + n % 28:02d}",
                "requests": 1,
                "tokens_in": n,
                "tokens_out": 1,
                "cost_usd": "0.01",
            }
            for n in range(lines)
        ]
        # Lines are keyed by file and line: another file name for every export.
        (root / "usage" / f"usage_{lines}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return root

    run_import(export(3), only=["usage"])  # the catalog entry exists from here on
    counts = []
    for lines in (10, 500):
        # audit_record takes ids from the sequence in blocks of 64: start each run on an
        # empty block, so whether a refill falls inside the run does not depend on what
        # earlier tests left in it.
        audit_services.audit_ids_forget()
        with CaptureQueriesContext(connection) as queries:
            report = run_import(export(lines), only=["usage"], batch_size=1000)
        assert report.rows["usage"].imported == lines
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_analyses_become_finished_sessions_with_their_review(sample_export, run_import):
    """FORMAT.md's mapping: done → completed, error → failed, running → failed
    ("interrupted by migration"), cancelled → cancelled; score × 10; request and response
    in metadata; anonymous analyses belong to the importing system user."""
    import json
    from decimal import Decimal
    from pathlib import Path

    from production.models import AnalysisSession

    run_import(sample_export)
    folder = Path(sample_export.path) / "analyses"
    checked = 0
    for path in sorted(folder.glob("analysis_*.json"))[:40]:
        try:
            legacy = json.loads(path.read_text())
        except ValueError:
            continue  # the truncated one, rejected
        session = AnalysisSession.objects.select_related("user").get(metadata__legacy_id=legacy["analysis_id"])
        expected = {"done": "completed", "error": "failed", "running": "failed", "cancelled": "cancelled"}
        assert session.status == expected[legacy["status"]]
        assert (session.error_message == "interrupted by migration") == (legacy["status"] == "running")
        assert session.metadata["request"] == legacy["request"]
        assert session.finished_at is not None and session.finished_at >= session.created_at
        if legacy["user"] is None:
            assert session.user.email.endswith(".invalid") or not session.user.is_active
        else:
            assert session.user.email == legacy["user"].lower()
        review = session.code_reviews.get()
        assert review.overall_score == (Decimal(str(legacy["response"]["score"])) * 10).quantize(Decimal("0.01"))
        assert review.issues_count == len(legacy["response"]["issues"])
        assert review.code_language == legacy["response"]["language"].lower()
        checked += 1
    assert checked >= 30
