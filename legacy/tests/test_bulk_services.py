"""The domains' bulk import paths keep the rules of their one-row siblings: validation,
natural keys, the blacklist, quarantine records with their blacklist rows, counters that
add up, audit entries, and the chain order of appended events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Role, User
from audits.chain import chain_pending
from audits.models import AuditEntry
from audits.services import AuditItem, audit_record_many
from audits.verify import verify_chain
from experiments import services as exp_services
from experiments.models import Blacklist, Experiment
from legacy.bulk import experiments as bulk_experiments
from legacy.bulk.accounts import UserImport, users_import
from legacy.bulk.experiments import EvaluationImport, ExperimentImport, QuarantineImport
from legacy.bulk.projects import ProjectImport, projects_import
from legacy.bulk.providers import ProviderKeyImport, UsageImport, provider_keys_import, usage_import
from projects.services import project_create
from providers import services as prov_services
from providers.models import UsageTracking
from quarantine.models import QuarantineRecord

pytestmark = pytest.mark.django_db
PAST = datetime(2024, 1, 1, tzinfo=UTC)


def test_users_import_keeps_user_create_rules(make_user, new_audit):
    existing = make_user("user", email="taken@example.com", name="Keep me")
    results = users_import(
        users=[
            UserImport(email="New@Example.com", role=Role.ADMIN),
            UserImport(email="taken@example.com", role=Role.ADMIN, name="Not me"),
            UserImport(email="new@example.com"),
            UserImport(email="not an email"),
            UserImport(email="x@example.com", role="root"),
            UserImport(email="y@example.com", password_hash="plain-text"),
        ],
        actor=None,
    )
    new = User.objects.get(email="new@example.com")
    assert (new.role, new.is_staff, new.is_superuser, new.has_usable_password()) == ("admin", True, True, False)
    assert [r.id for r in results[:3]] == [new.pk, existing.pk, new.pk]
    assert [r.existed for r in results[:3]] == [False, True, True]
    assert User.objects.get(pk=existing.pk).name == "Keep me"
    assert "email" in results[3].error and "role" in results[4].error and "password_hash" in results[5].error
    entry = new_audit(entity="user", action="import").get()
    assert entry.payload["ids"] == [str(new.pk)] and entry.payload["roles"] == {"admin": 1}


def test_projects_import_refuses_a_name_the_owner_already_has(regular_user):
    project_create(owner=regular_user, name="Taken", actor=None)
    results = projects_import(
        projects=[
            ProjectImport(owner_id=regular_user.pk, name="Taken"),
            ProjectImport(owner_id=regular_user.pk, name="Fresh", versions={"v2": ({"m": 1}, "log")}),
            ProjectImport(owner_id=regular_user.pk, name="Fresh"),
        ],
        actor=None,
    )
    assert "already has a project named 'Taken'" in results[0].error
    assert results[1].ok and "already has a project named 'Fresh'" in results[2].error
    fresh = regular_user.projects.get(name="Fresh")
    assert sorted(fresh.versions.values_list("tag", flat=True)) == ["v1", "v2", "v3"]
    v2 = fresh.versions.get(tag="v2")
    assert v2.model_config == {"m": 1} and v2.history.get().action == "updated"


def _experiment(project, creator, config, **fields):
    return ExperimentImport(
        project_id=project.pk,
        name="E",
        config=config,
        status=fields.pop("status", "completed"),
        created_by_id=creator.pk,
        created_at=fields.pop("created_at", PAST),
        **fields,
    )


def test_experiments_import_honours_the_blacklist(regular_user, admin_user):
    project = project_create(owner=regular_user, name="P", actor=None)
    exp_services.blacklist_add(actor=admin_user, reason="bad", config={"m": "bad"})
    blacklisted_at = Blacklist.objects.get().quarantined_at
    results = bulk_experiments.experiments_import(
        experiments=[
            _experiment(project, regular_user, {"m": "bad"}, created_at=blacklisted_at - timedelta(days=1)),
            _experiment(project, regular_user, {"m": "bad"}, created_at=blacklisted_at + timedelta(seconds=1)),
            _experiment(project, regular_user, {"m": "ok"}, status="exploded"),
        ],
        actor=None,
    )
    assert results[0].ok  # created before the blacklisting: history
    assert "blacklisted since" in results[1].error
    assert "Unknown status" in results[2].error
    assert Experiment.objects.count() == 1


def test_evaluation_verdicts_follow_tristates_rules(regular_user):
    from projects.services import baseline_create

    project = project_create(owner=regular_user, name="P", actor=None)
    baseline_create(project=project, metric_key="acc", operator=">=", threshold="0.8", actor=None)
    evaluations = (
        EvaluationImport(metrics={"acc": 0.9}, confidence=0.95, evaluated_at=PAST, recorded_verdict="fail"),
        EvaluationImport(metrics={"acc": 0.9}, confidence=0.5, evaluated_at=PAST, recorded_verdict="pass"),
        EvaluationImport(metrics={"other": 1}, confidence=0.9, evaluated_at=PAST),
        EvaluationImport(
            metrics={"acc": 0.1}, confidence=0.9, evaluated_at=PAST, override="pass", override_reason="ok"
        ),
    )
    [result] = bulk_experiments.experiments_import(
        experiments=[_experiment(project, regular_user, {"m": 1}, status="evaluating", evaluations=evaluations)],
        actor=None,
    )
    got = [
        (e.ai_verdict, e.effective_verdict, e.checks["rule"], e.checks["imported"]["recorded_verdict"])
        for e in Experiment.objects.get(pk=result.id).evaluations.order_by("metrics", "ai_confidence")
    ]
    assert sorted(got) == sorted(
        [
            ("pass", "pass", "all_satisfied", "fail"),
            ("manual_review", "manual_review", "low_confidence", "pass"),
            ("manual_review", "manual_review", "missing_metric", None),
            ("fail", "pass", "violated", None),
        ]
    )


def test_quarantines_import_records_blacklists_and_notes(regular_user, admin_user):
    project = project_create(owner=regular_user, name="P", actor=None)
    first, second, retried = (
        r.id
        for r in bulk_experiments.experiments_import(
            experiments=[
                _experiment(project, regular_user, {"c": 1}, status="quarantined"),
                _experiment(project, regular_user, {"c": 1}, status="quarantined"),
                _experiment(project, regular_user, {"c": 2}, status="quarantined"),
            ],
            actor=None,
        )
    )
    results = bulk_experiments.quarantines_import(
        records=[
            QuarantineImport(experiment_id=first, config={"c": 1}, reason="r1", quarantined_at=PAST),
            QuarantineImport(experiment_id=second, config={"c": 1}, reason="r2", quarantined_at=PAST),
            QuarantineImport(
                experiment_id=retried, config={"c": 2}, reason="r3", quarantined_at=PAST, review_status="approved_retry"
            ),
            QuarantineImport(experiment_id=first, config={"c": 1}, reason="again", quarantined_at=PAST),
        ],
        actor=admin_user,
    )
    assert results[0].ok and results[1].id == results[0].id  # one record per config hash
    assert "already has a quarantine record" in results[3].error
    record = QuarantineRecord.objects.get(pk=results[0].id)
    assert record.reason == "r1" and "failed again" in record.review_notes and "r2" in record.review_notes
    assert Blacklist.objects.get(config_hash=record.config_hash).lifted_at is None
    lifted = Blacklist.objects.get(config_hash=exp_services.config_hash({"c": 2}))
    assert lifted.lifted_at is not None and lifted.review_status == "reviewed"
    # A lifted configuration may run again; the active one may not.
    exp_services.experiment_create(project=project, name="again", config={"c": 2}, actor=regular_user)
    with pytest.raises(Exception, match="blacklisted"):
        exp_services.experiment_create(project=project, name="no", config={"c": 1}, actor=regular_user)


def test_provider_keys_import_keeps_one_key_per_user_and_type(regular_user):
    prov_services.provider_key_create(
        user=regular_user, provider_type="openai", provider_name="Mine", api_key="sk-live-12345"
    )
    results = provider_keys_import(
        keys=[
            ProviderKeyImport(
                user_id=regular_user.pk, provider_type="openai", provider_name="L", api_key="sk-old-99999"
            ),
            ProviderKeyImport(
                user_id=regular_user.pk, provider_type="local", provider_name="L", api_key="sk-old-88888"
            ),
        ],
        actor=None,
    )
    assert "already has a openai key" in results[0].error and results[1].ok
    assert prov_services.provider_key_reveal(user=regular_user, provider_type="openai") == "sk-live-12345"
    assert prov_services.provider_key_reveal(user=regular_user, provider_type="local") == "sk-old-88888"


def test_usage_import_adds_into_live_counters(regular_user):
    provider = prov_services.provider_create(
        actor=None, name="GPT", provider_type="openai", model_name="gpt-4o", api_endpoint="https://api.openai.com"
    )
    live = prov_services.usage_record(
        user=regular_user, provider=provider, model="gpt-4o", tokens_input=10, tokens_output=0
    )
    day = live.date
    line = UsageImport(regular_user.pk, "openai", "gpt-4o", day, 2, 100, 50, Decimal("0.25"))
    results = usage_import(rows=[line, line], actor=None)
    row = UsageTracking.objects.get()
    assert [r.id for r in results] == [row.pk, row.pk]
    assert (row.requests_count, row.tokens_input, row.tokens_output) == (5, 210, 100)
    assert row.provider_id == provider.pk  # the catalog entry of that type and model
    assert row.cost_usd == live.row_cost_usd + Decimal("0.5")


def test_audit_record_many_refuses_per_item_and_keeps_the_order(new_audit):
    items = [
        AuditItem("legacy", "one", None, {"n": 1}, datetime(2020, 5, 1, tzinfo=UTC)),
        AuditItem("legacy", "two", None, {"token": "x"}, datetime(2020, 4, 1, tzinfo=UTC)),
        AuditItem("legacy", "three", None, {"n": 3}, datetime(2019, 1, 1, tzinfo=UTC)),
    ]
    results = audit_record_many(items=items)
    assert results[0].ok and results[2].ok and "secrets" in results[1].error
    assert results[0].id < results[2].id  # ids (hence chain order) in the order given
    assert AuditEntry.objects.get(id=results[2].id).ts == datetime(2019, 1, 1, tzinfo=UTC)
    assert new_audit(entity="legacy").count() == 2


@pytest.mark.django_db(transaction=True)
def test_appended_past_entries_verify():
    results = audit_record_many(
        items=[AuditItem("legacy", "old", None, {"n": n}, timezone.now() - timedelta(days=700 + n)) for n in range(5)]
    )
    chain_pending(wait=True)
    assert verify_chain().ok
    sealed = AuditEntry.objects.filter(id__in=[r.id for r in results]).order_by("chain_seq")
    assert [e.payload["n"] for e in sealed] == [0, 1, 2, 3, 4]
    assert date(2020, 1, 1) < sealed[0].ts.date()
