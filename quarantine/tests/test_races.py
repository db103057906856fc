import pytest

from core.exceptions import InvalidTransition
from core.testing import run_together
from projects.tests.factories import make_project, quarantined_experiment
from quarantine import services
from quarantine.models import QuarantineRecord, RecordStatus, ReevaluationRequest


def fresh(pk):
    return ReevaluationRequest.objects.select_related("quarantine_record__experiment").get(pk=pk)


@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_on_one_request_one_wins(regular_user, admin_user, other_admin):
    project = make_project(regular_user)
    _, record = quarantined_experiment(project, regular_user)
    req = services.reevaluation_request(record=record, reason="retry", actor=regular_user)
    results = run_together(
        lambda: services.reevaluation_approve(request=fresh(req.pk), actor=admin_user),
        lambda: services.reevaluation_reject(request=fresh(req.pk), actor=other_admin),
    )
    assert sum(isinstance(r, ReevaluationRequest) for r in results) == 1, results
    assert sum(isinstance(r, InvalidTransition) for r in results) == 1, results
    final = ReevaluationRequest.objects.get(pk=req.pk)
    expected = RecordStatus.UNDER_REVIEW if final.status == "approved" else RecordStatus.QUARANTINED
    assert QuarantineRecord.objects.get(pk=record.pk).review_status == expected


@pytest.mark.django_db(transaction=True)
def test_concurrent_completions_apply_once(regular_user, admin_user, other_admin):
    project = make_project(regular_user)
    _, record = quarantined_experiment(project, regular_user)
    req = services.reevaluation_request(record=record, reason="retry", actor=regular_user)
    services.reevaluation_approve(request=req, actor=admin_user)
    results = run_together(
        lambda: services.reevaluation_complete(request=fresh(req.pk), result={"verdict": "pass"}, actor=admin_user),
        lambda: services.reevaluation_complete(request=fresh(req.pk), result={"verdict": "fail"}, actor=other_admin),
    )
    winners = [r for r in results if isinstance(r, ReevaluationRequest)]
    assert len(winners) == 1 and sum(isinstance(r, InvalidTransition) for r in results) == 1, results
    expected = RecordStatus.APPROVED_RETRY if winners[0].result["verdict"] == "pass" else RecordStatus.QUARANTINED
    assert QuarantineRecord.objects.get(pk=record.pk).review_status == expected
