import itertools

import pytest
from django.db import IntegrityError, transaction

from core.exceptions import (
    ConfigBlacklisted,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from experiments import selectors, services
from experiments.models import (
    ALLOWED_MOVES,
    Blacklist,
    Evaluation,
    Experiment,
    Promotion,
    PromotionStatus,
    ReviewStatus,
    Status,
)
from projects.models import HistoryAction, Tag, Version, VersionHistory
from projects.tests.factories import FAILING, PASSING, evaluating_experiment, make_experiment, quarantined_experiment
from quarantine.models import QuarantineRecord, RecordStatus

SIMPLE = [Status.CREATED, Status.RUNNING, Status.COMPLETED, Status.FAILED]
MANUAL_TARGETS = [Status.RUNNING, Status.COMPLETED, Status.FAILED, Status.EVALUATING, Status.CREATED]


@pytest.mark.django_db
def test_create_hashes_the_canonical_config_and_audits(project, regular_user, audit_entries):
    experiment = services.experiment_create(
        project=project, name="e", config={"b": 1, "a": {"y": 2, "x": 1}}, dataset_id="ds", actor=regular_user
    )
    assert experiment.config_hash == services.config_hash({"a": {"x": 1, "y": 2}, "b": 1})
    assert (
        experiment.status == Status.CREATED and experiment.version == Tag.V1 and experiment.created_by == regular_user
    )
    [entry] = audit_entries("experiment", "create", id=experiment.pk)
    assert entry.payload["config_hash"] == experiment.config_hash and "config" not in entry.payload


@pytest.mark.django_db
def test_create_and_transition_each_record_their_audit_entry_and_a_stale_move_records_none(
    project, regular_user, audit_entries
):
    experiment = services.experiment_create(project=project, name="e", config={"n": 1}, actor=regular_user)
    assert [e.payload["status"] for e in audit_entries("experiment", "create", id=experiment.pk)] == ["created"]
    stale = Experiment.objects.get(pk=experiment.pk)
    services.experiment_transition(experiment=experiment, to=Status.RUNNING, actor=regular_user)
    assert [e.payload["to"] for e in audit_entries("experiment", "transition", id=experiment.pk)] == ["running"]
    # A move that finds the row changed is refused, and leaves no audit entry.
    with pytest.raises(InvalidTransition):
        services.experiment_transition(experiment=stale, to=Status.FAILED, actor=regular_user)
    assert [e.payload["to"] for e in audit_entries("experiment", "transition", id=experiment.pk)] == ["running"]
    assert Experiment.objects.get(pk=experiment.pk).status == Status.RUNNING


@pytest.mark.django_db
def test_configs_with_secret_like_keys_are_stored_but_never_audited(project, regular_user, audit_entries):
    experiment = services.experiment_create(
        project=project, name="e", config={"api_key_env": "OPENAI_KEY", "max_tokens": 10}, actor=regular_user
    )
    assert Experiment.objects.get(pk=experiment.pk).config["api_key_env"] == "OPENAI_KEY"
    assert audit_entries("experiment", "create", id=experiment.pk)


@pytest.mark.django_db
def test_blacklisted_config_is_refused_whatever_the_key_order(project, regular_user, admin_user):
    services.blacklist_add(config={"model": "bad", "t": 1}, reason="known bad", actor=admin_user)
    with pytest.raises(ConfigBlacklisted) as info:
        services.experiment_create(project=project, name="e", config={"t": 1, "model": "bad"}, actor=regular_user)
    assert info.value.details["config_hash"] == services.config_hash({"model": "bad", "t": 1})
    assert not Experiment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("frm, to", list(itertools.product(SIMPLE, MANUAL_TARGETS)))
def test_status_machine_every_manual_move(project, regular_user, frm, to, audit_entries):
    experiment = make_experiment(project, regular_user, status=frm)
    if to in ALLOWED_MOVES[frm]:
        moved = services.experiment_transition(experiment=experiment, to=to, actor=regular_user)
        assert Experiment.objects.get(pk=experiment.pk).status == to == moved.status
        [entry] = [e for e in audit_entries("experiment", "transition", id=experiment.pk) if e.payload["to"] == to]
        assert entry.payload["from"] == frm and entry.actor == regular_user.pk
    else:
        with pytest.raises(InvalidTransition) as info:
            services.experiment_transition(experiment=experiment, to=to, actor=regular_user)
        assert info.value.details == {"from": frm, "to": to}
        assert Experiment.objects.get(pk=experiment.pk).status == frm


@pytest.mark.django_db
def test_timestamps_follow_the_status(project, regular_user):
    experiment = make_experiment(project, regular_user)
    assert experiment.started_at is None and experiment.completed_at is None
    experiment = services.experiment_transition(experiment=experiment, to=Status.RUNNING, actor=regular_user)
    assert experiment.started_at is not None
    experiment = services.experiment_transition(experiment=experiment, to=Status.COMPLETED, actor=regular_user)
    stored = Experiment.objects.get(pk=experiment.pk)
    assert stored.completed_at == experiment.completed_at and stored.completed_at >= stored.started_at


@pytest.mark.django_db
def test_promoted_and_quarantined_are_reached_only_through_their_workflows(project, regular_user):
    experiment = make_experiment(project, regular_user, status=Status.FAILED)
    for to in (Status.PROMOTED, Status.QUARANTINED):
        with pytest.raises(ValidationFailed):
            services.experiment_transition(experiment=experiment, to=to, actor=regular_user)
    with pytest.raises(ValidationFailed):
        services.experiment_transition(experiment=experiment, to="exploded", actor=regular_user)


@pytest.mark.django_db
def test_a_stale_read_loses_to_the_committed_move(project, regular_user):
    experiment = make_experiment(project, regular_user, status=Status.RUNNING)
    stale = Experiment.objects.get(pk=experiment.pk)
    services.experiment_transition(experiment=experiment, to=Status.COMPLETED, actor=regular_user)
    with pytest.raises(InvalidTransition) as info:
        services.experiment_transition(experiment=stale, to=Status.FAILED, actor=regular_user)
    assert info.value.details == {"from": "completed", "to": "failed"}


@pytest.mark.django_db
def test_passing_metrics_move_to_evaluating_with_a_pass_verdict(project, regular_user, audit_entries):
    experiment, evaluation = evaluating_experiment(project, regular_user, metrics={"accuracy": 0.9, "latency_ms": 10})
    assert experiment.status == Status.EVALUATING
    assert (evaluation.ai_verdict, evaluation.effective_verdict, evaluation.evaluated_by) == ("pass", "pass", "ai")
    assert evaluation.checks["rule"] == "all_satisfied"
    [entry] = audit_entries("evaluation", "create", id=evaluation.pk)
    assert entry.payload["ai_verdict"] == "pass"
    assert {"metric": "accuracy", "value": 0.9} in entry.payload["metrics"]
    assert audit_entries("experiment", "transition", id=experiment.pk)[-1].payload["to"] == "evaluating"


@pytest.mark.django_db
def test_metrics_are_judged_by_active_baselines_only(project, regular_user):
    from projects import services as project_services

    for b in project.baselines.all():
        project_services.baseline_update(baseline=b, active=False, actor=regular_user)
    _, evaluation = evaluating_experiment(project, regular_user, metrics=FAILING)
    assert evaluation.ai_verdict == "manual_review" and evaluation.checks["rule"] == "no_baselines"


@pytest.mark.django_db
def test_low_confidence_and_missing_metrics_need_manual_review(project, regular_user, settings):
    _, low = evaluating_experiment(project, regular_user, confidence=0.69)
    assert low.ai_verdict == "manual_review" and low.checks["rule"] == "low_confidence"
    settings.EVALUATION_MIN_CONFIDENCE = 0.5
    _, missing = evaluating_experiment(project, regular_user, metrics={"accuracy": 0.9}, confidence=0.6)
    assert missing.ai_verdict == "manual_review" and missing.checks["rule"] == "missing_metric"


@pytest.mark.django_db
def test_metrics_only_for_completed_or_evaluating_experiments(project, regular_user):
    for status in (Status.CREATED, Status.RUNNING, Status.FAILED):
        experiment = make_experiment(project, regular_user, status=status)
        with pytest.raises(InvalidTransition):
            services.evaluation_submit(experiment=experiment, metrics=PASSING, ai_confidence=0.9, actor=regular_user)
    assert not Evaluation.objects.exists()


@pytest.mark.django_db
def test_failing_verdict_quarantines_in_the_same_transaction(project, regular_user, audit_entries):
    experiment, record = quarantined_experiment(project, regular_user)
    assert experiment.status == Status.QUARANTINED
    assert record.experiment == experiment and record.config == experiment.config
    assert record.failure_metrics == FAILING and record.review_status == RecordStatus.QUARANTINED
    assert "accuracy >= 0.8" in record.reason
    entry = Blacklist.objects.get(config_hash=experiment.config_hash)
    assert entry.active and entry.review_status == ReviewStatus.PENDING and entry.quarantined_by == regular_user
    v3 = Version.objects.get(project=project, tag=Tag.V3)
    assert v3.model_config == experiment.config
    history = VersionHistory.objects.get(version=v3)
    assert (history.action, history.from_tag, history.to_tag) == (HistoryAction.DEGRADED, "v1", "v3")
    [q] = audit_entries("experiment", "quarantine", id=experiment.pk)
    assert q.payload["automatic"] is True and q.payload["record"] == str(record.pk)
    assert audit_entries("quarantine_record", "create", id=record.pk)
    assert audit_entries("blacklist", "add", id=entry.pk)
    with pytest.raises(ConfigBlacklisted):
        make_experiment(project, regular_user, config=experiment.config)


@pytest.mark.django_db
def test_quarantine_rolls_back_entirely_when_a_step_fails(project, regular_user, monkeypatch):
    experiment = make_experiment(project, regular_user, status=Status.COMPLETED)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("experiments.services.quarantining.record_quarantine", broken)
    with pytest.raises(RuntimeError):
        services.evaluation_submit(experiment=experiment, metrics=FAILING, ai_confidence=0.9, actor=regular_user)
    assert Experiment.objects.get(pk=experiment.pk).status == Status.COMPLETED
    assert not Evaluation.objects.exists() and not Blacklist.objects.exists()


@pytest.mark.django_db
def test_admin_override_with_reason(project, regular_user, admin_user, audit_entries):
    experiment, evaluation = evaluating_experiment(project, regular_user, confidence=0.5)
    assert evaluation.effective_verdict == "manual_review"
    with pytest.raises(PermissionDenied):
        services.evaluation_override(evaluation=evaluation, verdict="pass", reason="fine", actor=regular_user)
    with pytest.raises(ValidationFailed):
        services.evaluation_override(evaluation=evaluation, verdict="pass", reason="  ", actor=admin_user)
    with pytest.raises(ValidationFailed):
        services.evaluation_override(evaluation=evaluation, verdict="manual_review", reason="x", actor=admin_user)
    overridden = services.evaluation_override(
        evaluation=evaluation, verdict="pass", reason="looked at it", actor=admin_user
    )
    assert (overridden.human_override, overridden.effective_verdict, overridden.evaluated_by) == (
        "pass",
        "pass",
        "human",
    )
    assert overridden.ai_verdict == "manual_review" and overridden.evaluator == admin_user
    [entry] = audit_entries("evaluation", "override", id=evaluation.pk)
    assert (
        entry.payload["before"]["effective_verdict"] == "manual_review"
        and entry.payload["after"]["human_override"] == "pass"
    )
    assert selectors.experiment_get(user=regular_user, pk=experiment.pk).verdict == "pass"


@pytest.mark.django_db
def test_override_to_fail_quarantines(project, regular_user, admin_user):
    experiment, evaluation = evaluating_experiment(project, regular_user)
    services.evaluation_override(evaluation=evaluation, verdict="fail", reason="hallucinates", actor=admin_user)
    experiment.refresh_from_db()
    assert experiment.status == Status.QUARANTINED
    record = QuarantineRecord.objects.get(experiment=experiment)
    assert record.quarantined_by == admin_user and "hallucinates" in record.reason


@pytest.mark.django_db
def test_only_the_latest_evaluation_of_an_evaluating_experiment_is_overridden(project, regular_user, admin_user):
    experiment, first = evaluating_experiment(project, regular_user, confidence=0.5)
    second = services.evaluation_submit(experiment=experiment, metrics=PASSING, ai_confidence=0.9, actor=regular_user)
    with pytest.raises(Conflict):
        services.evaluation_override(evaluation=first, verdict="pass", reason="x", actor=admin_user)
    assert selectors.latest_evaluation(experiment_id=experiment.pk) == second


@pytest.mark.django_db
def test_database_keeps_evaluation_rules(project, regular_user):
    _, evaluation = evaluating_experiment(project, regular_user)
    bad_updates = [
        {"ai_confidence": 1.5},
        {"ai_verdict": "maybe"},
        {"human_override": "manual_review"},
        {"human_override": "fail", "evaluated_by": "human", "override_reason": ""},  # no reason
        {"effective_verdict": "fail"},  # must equal COALESCE(human_override, ai_verdict)
        {"evaluated_by": "robot"},
    ]
    for update in bad_updates:
        with pytest.raises(IntegrityError), transaction.atomic():
            Evaluation.objects.filter(pk=evaluation.pk).update(**update)


@pytest.mark.django_db
def test_full_promotion_with_four_eyes(project, regular_user, admin_user, other_admin, audit_entries):
    experiment, _ = evaluating_experiment(project, regular_user)
    promotion = services.promotion_request(experiment=experiment, actor=regular_user, reason="better")
    assert promotion.status == PromotionStatus.PENDING
    assert (promotion.from_version.tag, promotion.to_version.tag) == ("v1", "v2")
    with pytest.raises(Conflict):
        services.promotion_request(experiment=experiment, actor=regular_user)  # one open at a time
    with pytest.raises(PermissionDenied):
        services.promotion_approve(promotion=promotion, actor=regular_user)  # not an admin
    with pytest.raises(InvalidTransition):
        services.promotion_complete(promotion=promotion, actor=admin_user)  # not approved yet
    promotion = services.promotion_approve(promotion=promotion, actor=admin_user)
    assert promotion.approver == admin_user and promotion.status == PromotionStatus.APPROVED
    with pytest.raises(InvalidTransition):
        services.promotion_approve(promotion=promotion, actor=other_admin)
    promotion = services.promotion_complete(promotion=promotion, actor=other_admin)
    assert promotion.status == PromotionStatus.COMPLETED and promotion.promoted_at is not None
    experiment.refresh_from_db()
    assert experiment.status == Status.PROMOTED
    v2 = Version.objects.get(project=project, tag=Tag.V2)
    assert v2.model_config == experiment.config and v2.promoted_by == other_admin and v2.promoted_at is not None
    history = VersionHistory.objects.get(version=v2)
    assert (history.action, history.from_tag, history.to_tag, history.changed_by) == (
        "promoted",
        "v1",
        "v2",
        other_admin,
    )
    for action in ("request", "approve", "complete"):
        assert audit_entries("promotion", action, id=promotion.pk)
    assert audit_entries("version", "promoted", id=v2.pk)
    assert audit_entries("experiment", "transition", id=experiment.pk)[-1].payload["to"] == "promoted"


@pytest.mark.django_db
def test_four_eyes_binds_admins_too(project, admin_user, other_admin):
    experiment, _ = evaluating_experiment(project, admin_user)
    promotion = services.promotion_request(experiment=experiment, actor=admin_user)
    for decide in (services.promotion_approve, services.promotion_reject):
        with pytest.raises(PermissionDenied) as info:
            decide(promotion=promotion, actor=admin_user)
        assert "Four-eyes" in info.value.message
    services.promotion_approve(promotion=promotion, actor=other_admin)
    with pytest.raises(PermissionDenied):
        services.promotion_complete(promotion=Promotion.objects.get(pk=promotion.pk), actor=admin_user)


@pytest.mark.django_db
def test_database_refuses_a_self_approved_promotion(project, admin_user):
    experiment, _ = evaluating_experiment(project, admin_user)
    promotion = services.promotion_request(experiment=experiment, actor=admin_user)
    with pytest.raises(IntegrityError):
        Promotion.objects.filter(pk=promotion.pk).update(
            status="approved", approver=admin_user, decided_at=promotion.created_at
        )


@pytest.mark.django_db
def test_only_passing_evaluating_experiments_are_proposed(project, regular_user, admin_user):
    with pytest.raises(InvalidTransition):
        services.promotion_request(
            experiment=make_experiment(project, regular_user, status=Status.COMPLETED), actor=regular_user
        )
    review, _ = evaluating_experiment(project, regular_user, confidence=0.3)
    with pytest.raises(Conflict) as info:
        services.promotion_request(experiment=review, actor=regular_user)
    assert info.value.details == {"verdict": "manual_review"}
    failed, _ = quarantined_experiment(project, regular_user)
    with pytest.raises(InvalidTransition):
        services.promotion_request(experiment=failed, actor=regular_user)


@pytest.mark.django_db
def test_rejected_promotion_leaves_the_experiment_evaluating(project, regular_user, admin_user):
    experiment, _ = evaluating_experiment(project, regular_user)
    promotion = services.promotion_request(experiment=experiment, actor=regular_user)
    with pytest.raises(Conflict):  # metrics are frozen while a promotion is open
        services.evaluation_submit(experiment=experiment, metrics=PASSING, ai_confidence=0.9, actor=regular_user)
    services.promotion_reject(promotion=promotion, actor=admin_user, reason="not now")
    experiment.refresh_from_db()
    assert experiment.status == Status.EVALUATING
    assert services.promotion_request(experiment=experiment, actor=regular_user).status == "pending"


@pytest.mark.django_db
def test_admin_quarantines_a_failed_or_evaluating_experiment(project, regular_user, admin_user, audit_entries):
    failed = make_experiment(project, regular_user, status=Status.FAILED)
    with pytest.raises(PermissionDenied):
        services.experiment_quarantine(experiment=failed, reason="x", actor=regular_user)
    with pytest.raises(ValidationFailed):
        services.experiment_quarantine(experiment=failed, reason="", actor=admin_user)
    record = services.experiment_quarantine(
        experiment=failed, reason="crashed 3 times", evidence={"log": "oom"}, actor=admin_user
    )
    assert record.evidence == {"log": "oom"} and record.failure_metrics == {}
    assert audit_entries("experiment", "quarantine", id=failed.pk)[0].payload["automatic"] is False
    running = make_experiment(project, regular_user, status=Status.RUNNING)
    with pytest.raises(InvalidTransition):
        services.experiment_quarantine(experiment=running, reason="x", actor=admin_user)
    evaluating, _ = evaluating_experiment(project, regular_user)
    promotion = services.promotion_request(experiment=evaluating, actor=regular_user)
    with pytest.raises(Conflict):
        services.experiment_quarantine(experiment=evaluating, reason="x", actor=admin_user)
    services.promotion_reject(promotion=promotion, actor=admin_user)
    services.experiment_quarantine(experiment=evaluating, reason="regressions in prod canary", actor=admin_user)
    assert Experiment.objects.get(pk=evaluating.pk).status == Status.QUARANTINED


@pytest.mark.django_db
def test_the_same_config_failing_twice_keeps_one_record(project, regular_user, admin_user):
    config = {"model": "twin"}
    first = make_experiment(project, regular_user, config=config, status=Status.COMPLETED)
    second = make_experiment(project, regular_user, config=config, status=Status.FAILED)  # created before blacklisting
    services.evaluation_submit(experiment=first, metrics=FAILING, ai_confidence=0.9, actor=regular_user)
    record = services.experiment_quarantine(experiment=second, reason="also broken", actor=admin_user)
    assert QuarantineRecord.objects.count() == 1 and record.experiment == first
    assert "also broken" in record.review_notes
    assert Experiment.objects.get(pk=second.pk).status == Status.QUARANTINED


@pytest.mark.django_db
def test_blacklist_admin_operations(project, regular_user, admin_user, audit_entries):
    with pytest.raises(PermissionDenied):
        services.blacklist_add(config={"a": 1}, reason="x", actor=regular_user)
    with pytest.raises(ValidationFailed):
        services.blacklist_add(reason="x", actor=admin_user)
    with pytest.raises(ValidationFailed):
        services.blacklist_add(config_hash="xyz", reason="x", actor=admin_user)
    entry = services.blacklist_add(config={"a": 1}, reason="leaks data", actor=admin_user)
    with pytest.raises(Conflict):
        services.blacklist_add(config_hash=entry.config_hash.upper(), reason="again", actor=admin_user)
    services.blacklist_review(entry=entry, review_status="reviewed", actor=admin_user)
    lifted = services.blacklist_lift(entry=entry, reason="false alarm", actor=admin_user)
    assert not lifted.active and lifted.lifted_by == admin_user
    make_experiment(project, regular_user, config={"a": 1})  # runs again
    again = services.blacklist_add(config={"a": 1}, reason="bad after all", actor=admin_user)
    assert again.pk == entry.pk and again.active and again.review_status == "pending"
    assert len(audit_entries("blacklist", "add", id=entry.pk)) == 2 and audit_entries("blacklist", "lift", id=entry.pk)


@pytest.mark.django_db
def test_quarantined_configs_come_back_only_through_reevaluation(project, regular_user, admin_user):
    experiment, _ = quarantined_experiment(project, regular_user)
    entry = Blacklist.objects.get(config_hash=experiment.config_hash)
    with pytest.raises(Conflict):
        services.blacklist_lift(entry=entry, reason="please", actor=admin_user)


@pytest.mark.django_db
def test_comparison_report(project, regular_user, viewer_user, audit_entries):
    experiment, _ = evaluating_experiment(project, regular_user)
    v2 = Version.objects.get(project=project, tag=Tag.V2)
    report = services.comparison_create(
        experiment=experiment,
        v2_version=v2,
        v1_metrics={"accuracy": 0.95, "latency_ms": 100},
        v2_metrics={"accuracy": 0.9, "latency_ms": 150},
        actor=regular_user,
    )
    assert report.recommendation == "promote" and report.confidence == 1
    assert report.metrics["metrics"]["latency_ms"]["delta"] == -50 and report.dataset_id == "ds-1"
    assert audit_entries("comparison_report", "create", id=report.pk)
    v1 = Version.objects.get(project=project, tag=Tag.V1)
    with pytest.raises(ValidationFailed):
        services.comparison_create(
            experiment=experiment, v2_version=v1, v1_metrics={}, v2_metrics={}, actor=regular_user
        )
    with pytest.raises(PermissionDenied):
        services.comparison_create(
            experiment=experiment, v2_version=v2, v1_metrics={}, v2_metrics={}, actor=viewer_user
        )


@pytest.mark.django_db
def test_judge_agreement_in_the_project(project, regular_user, admin_user):
    from projects.selectors import project_detail_sections

    for verdict in ("pass", "pass", "fail"):
        _, evaluation = evaluating_experiment(project, regular_user)  # AI says pass
        services.evaluation_override(evaluation=evaluation, verdict=verdict, reason="checked", actor=admin_user)
    _, unreviewed = evaluating_experiment(project, regular_user)
    stats = project_detail_sections(project)["agreement"]
    assert (stats["evaluations"], stats["overridden"], stats["agreed"]) == (4, 3, 2)
    assert stats["agreement_rate"] == pytest.approx(0.6667, abs=1e-4)
    assert stats["kappa"] == 0  # the AI always said pass: no agreement beyond chance
    assert unreviewed.human_override is None


@pytest.mark.django_db
def test_selectors_hide_other_users_experiments(project, regular_user, other_user, viewer_user):
    experiment = make_experiment(project, regular_user)
    with pytest.raises(NotFound):
        selectors.experiment_get(user=other_user, pk=experiment.pk)
    assert selectors.experiment_get(user=viewer_user, pk=experiment.pk) == experiment
    assert not selectors.experiment_list(user=other_user).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refusal", ["blacklisted", "archived", "another user's project"])
def test_a_refused_create_leaves_neither_row_nor_entry(refusal, regular_user, other_user, admin_user):
    """The checks' answers come back with the row and its entry already sent (one
    message): the refusal rolls both back."""
    from audits.models import AuditEntry
    from projects.services import project_archive
    from projects.tests.factories import make_project

    project = make_project(other_user if refusal == "another user's project" else regular_user, name="refusals")
    config = {"model": "refused"}
    if refusal == "blacklisted":
        services.blacklist_add(config=config, reason="known bad", actor=admin_user)
    elif refusal == "archived":
        project_archive(project=project, actor=regular_user)
    expected = {"blacklisted": ConfigBlacklisted, "archived": Conflict, "another user's project": NotFound}[refusal]
    with pytest.raises(expected):
        services.experiment_create(project=project, name="refused", config=config, actor=regular_user)
    assert not Experiment.objects.filter(name="refused").exists()
    assert not AuditEntry.objects.filter(entity="experiment", action="create", payload__name="refused").exists()
