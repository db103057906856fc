"""Concurrency: real threads, each with its own database connection, in transactional
tests (each thread's work commits for real)."""

import threading
import time

import pytest
from django.db import connection, transaction

from core.exceptions import ConfigBlacklisted, Conflict, InvalidTransition, ProjectArchived
from core.testing import run_together
from experiments import services
from experiments.models import Experiment, Promotion, PromotionStatus, Status
from projects import services as project_services
from projects.models import Project
from projects.selectors import project_for_write
from projects.tests.factories import FAILING, evaluating_experiment, make_experiment, make_project
from quarantine.models import QuarantineRecord


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transitions_exactly_one_wins(regular_user, audit_entries):
    project = make_project(regular_user, baselines=())
    for _ in range(5):
        experiment = make_experiment(project, regular_user, status=Status.RUNNING)
        a, b = Experiment.objects.get(pk=experiment.pk), Experiment.objects.get(pk=experiment.pk)  # both read "running"
        results = run_together(
            lambda a=a: services.experiment_transition(experiment=a, to=Status.COMPLETED, actor=regular_user),
            lambda b=b: services.experiment_transition(experiment=b, to=Status.FAILED, actor=regular_user),
        )
        winners = [r for r in results if isinstance(r, Experiment)]
        losers = [r for r in results if isinstance(r, InvalidTransition)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert Experiment.objects.get(pk=experiment.pk).status == winners[0].status
        moves = [e.payload["to"] for e in audit_entries("experiment", "transition", id=experiment.pk)]
        assert moves == ["running", winners[0].status]


@pytest.mark.django_db(transaction=True)
def test_the_same_move_twice_at_once_happens_once(regular_user, audit_entries):
    project = make_project(regular_user, baselines=())
    experiment = make_experiment(project, regular_user)
    copies = [Experiment.objects.get(pk=experiment.pk) for _ in range(4)]
    results = run_together(
        *[
            lambda c=c: services.experiment_transition(experiment=c, to=Status.RUNNING, actor=regular_user)
            for c in copies
        ]
    )
    assert sum(isinstance(r, Experiment) for r in results) == 1
    assert sum(isinstance(r, InvalidTransition) for r in results) == 3
    assert len(audit_entries("experiment", "transition", id=experiment.pk)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_promotion_requests_and_approvals(regular_user, admin_user, other_admin):
    project = make_project(regular_user)
    experiment, _ = evaluating_experiment(project, regular_user)
    results = run_together(
        *[lambda: services.promotion_request(experiment=experiment, actor=regular_user) for _ in range(3)]
    )
    created = [r for r in results if isinstance(r, Promotion)]
    assert len(created) == 1 and all(isinstance(r, Conflict) for r in results if r not in created), results
    promotion = created[0]
    results = run_together(
        lambda: services.promotion_approve(promotion=Promotion.objects.get(pk=promotion.pk), actor=admin_user),
        lambda: services.promotion_approve(promotion=Promotion.objects.get(pk=promotion.pk), actor=other_admin),
    )
    winners = [r for r in results if isinstance(r, Promotion)]
    assert len(winners) == 1 and sum(isinstance(r, InvalidTransition) for r in results) == 1, results
    final = Promotion.objects.get(pk=promotion.pk)
    assert final.status == PromotionStatus.APPROVED and final.approver_id == winners[0].approver_id


@pytest.mark.django_db(transaction=True)
def test_complete_and_quarantine_race_leaves_a_consistent_experiment(regular_user, admin_user, other_admin):
    """Whichever locks the experiment first, the quarantine is refused (an open promotion
    blocks it; a promoted experiment cannot move) and the promotion completes whole."""
    project = make_project(regular_user)
    experiment, _ = evaluating_experiment(project, regular_user)
    promotion = services.promotion_request(experiment=experiment, actor=regular_user)
    services.promotion_approve(promotion=promotion, actor=admin_user)
    completed, quarantined = run_together(
        lambda: services.promotion_complete(promotion=Promotion.objects.get(pk=promotion.pk), actor=other_admin),
        lambda: services.experiment_quarantine(
            experiment=Experiment.objects.get(pk=experiment.pk), reason="x", actor=admin_user
        ),
    )
    assert isinstance(completed, Promotion) and completed.status == PromotionStatus.COMPLETED
    assert isinstance(quarantined, Conflict | InvalidTransition), quarantined
    assert Experiment.objects.get(pk=experiment.pk).status == Status.PROMOTED
    assert not QuarantineRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_experiment_creation_waits_for_a_blacklisting_in_flight(regular_user, admin_user):
    """Blacklisting holds the config-hash lock until it commits; a creation of the same
    config waits for it, then sees the blacklist row: never created after the fact."""
    project = make_project(regular_user, baselines=())
    config = {"model": "racy"}
    locked, release = threading.Event(), threading.Event()
    outcome = {}

    def blacklister():
        try:
            with transaction.atomic():
                services.blacklist_add(config=config, reason="bad", actor=admin_user)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    def creator():
        try:
            outcome["result"] = services.experiment_create(project=project, name="e", config=config, actor=regular_user)
        except Exception as exc:
            outcome["result"] = exc
        finally:
            connection.close()

    t1 = threading.Thread(target=blacklister)
    t1.start()
    assert locked.wait(10)
    t2 = threading.Thread(target=creator)
    t2.start()
    time.sleep(0.3)
    assert "result" not in outcome  # waiting on the hash lock
    release.set()
    t1.join(10)
    t2.join(10)
    assert isinstance(outcome["result"], ConfigBlacklisted), outcome
    assert not Experiment.objects.filter(config_hash=services.config_hash(config)).exists()


@pytest.mark.django_db(transaction=True)
def test_two_failures_of_one_config_at_once_make_one_record(regular_user):
    project = make_project(regular_user)
    config = {"model": "twin"}
    experiments = [make_experiment(project, regular_user, config=config, status=Status.COMPLETED) for _ in range(3)]
    results = run_together(
        *[
            lambda e=e: services.evaluation_submit(experiment=e, metrics=FAILING, ai_confidence=0.9, actor=regular_user)
            for e in experiments
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert QuarantineRecord.objects.filter(config_hash=experiments[0].config_hash).count() == 1
    assert set(Experiment.objects.filter(config_hash=experiments[0].config_hash).values_list("status", flat=True)) == {
        Status.QUARANTINED
    }


@pytest.mark.django_db(transaction=True)
def test_archiving_waits_for_writes_in_flight_and_later_writes_see_it(regular_user):
    project = make_project(regular_user, baselines=())
    writing, release = threading.Event(), threading.Event()
    outcome = {}

    def writer():
        try:
            with transaction.atomic():
                project_for_write(project_id=project.pk, actor=regular_user)
                writing.set()
                release.wait(10)
                outcome["experiment"] = make_experiment(project, regular_user)
        finally:
            connection.close()

    def archiver():
        try:
            outcome["archived"] = project_services.project_archive(project=project, actor=regular_user)
        finally:
            connection.close()

    t1 = threading.Thread(target=writer)
    t1.start()
    assert writing.wait(10)
    t2 = threading.Thread(target=archiver)
    t2.start()
    time.sleep(0.3)
    assert "archived" not in outcome  # blocked by the writer's share lock
    release.set()
    t1.join(10)
    t2.join(10)
    assert Project.objects.get(pk=project.pk).archived
    assert Experiment.objects.filter(pk=outcome["experiment"].pk).exists()  # committed before the archive
    with pytest.raises(ProjectArchived):
        make_experiment(project, regular_user)


@pytest.mark.django_db(transaction=True)
def test_parallel_lists_of_one_shape_each_get_their_own_users_rows(regular_user, other_user, monkeypatch):
    """Threads listing with the same filters, for two users, race to compile the page
    statement of that shape (core.lookups.page_statement, a page size no other test uses):
    each answer holds its own user's rows and count, whichever thread compiled it."""
    from core import sqljson
    from core.testing import bearer_client

    def orm_page(*args, **kwargs):
        raise AssertionError("the list was built through the ORM")

    monkeypatch.setattr(sqljson, "counted_page", orm_page)
    expected = {}
    for user, made in ((regular_user, 3), (other_user, 5)):
        project = make_project(user, baselines=())
        ids = {str(make_experiment(project, user, status=Status.RUNNING).pk) for _ in range(made)}
        make_experiment(project, user, status=Status.COMPLETED)  # filtered out
        expected[user.pk] = (project.pk, ids)

    def list_as(user):
        project, _ = expected[user.pk]
        client = bearer_client(user)
        answers = []
        for _ in range(5):
            response = client.get(
                "/api/v1/experiments/", {"project": str(project), "status": ["running", "created"], "page_size": 37}
            )
            assert response.status_code == 200, response.content
            page = response.json()
            answers.append((page["count"], {row["id"] for row in page["results"]}))
        return answers

    results = run_together(*[lambda u=u: list_as(u) for u in (regular_user, other_user) * 3])
    for user, answers in zip((regular_user, other_user) * 3, results, strict=True):
        assert not isinstance(answers, Exception), answers
        ids = expected[user.pk][1]
        assert answers == [(len(ids), ids)] * 5
