import hashlib
import json
from decimal import Decimal

import pytest

from core.exceptions import ValidationFailed
from experiments import rules
from projects.models import Baseline, Operator


def baseline(metric, op, threshold):
    return Baseline(metric_key=metric, operator=op, threshold=Decimal(str(threshold)))


def test_config_hash_ignores_key_order_and_whitespace():
    a = json.loads('{"model": "x", "params": {"t": 0.2, "k": [1, 2]}}')
    b = json.loads('{ "params" : { "k" : [1,2],\n "t":0.2 },   "model":"x" }')
    assert rules.config_hash(a) == rules.config_hash(b)
    expected = hashlib.sha256(b'{"model":"x","params":{"k":[1,2],"t":0.2}}').hexdigest()
    assert rules.config_hash(a) == expected
    assert rules.config_hash({"n": 1.0}) == rules.config_hash({"n": 1})  # a number by its value
    assert rules.config_hash({"k": [1, 2]}) != rules.config_hash({"k": [2, 1]})  # list order matters
    assert rules.config_hash({"name": "é"}) == hashlib.sha256('{"name":"é"}'.encode()).hexdigest()  # UTF-8


@pytest.mark.parametrize("bad", [[1, 2], "x", None, {"x": float("nan")}])
def test_config_must_be_a_json_object(bad):
    with pytest.raises(ValidationFailed):
        rules.config_hash(bad)


@pytest.mark.parametrize(
    "metrics, confidence, verdict, rule",
    [
        ({"accuracy": 0.9, "latency": 100}, "0.9", "pass", "all_satisfied"),
        ({"accuracy": 0.8, "latency": 250}, "0.7", "pass", "all_satisfied"),  # bounds inclusive
        ({"accuracy": 0.79, "latency": 100}, "0.9", "fail", "violated"),
        ({"accuracy": 0.9, "latency": 251}, "0.9", "fail", "violated"),
        ({"accuracy": 0.9}, "0.9", "manual_review", "missing_metric"),
        ({"accuracy": 0.5}, "0.9", "fail", "violated"),  # a measured violation decides
        ({"accuracy": 0.9, "latency": 100}, "0.6999", "manual_review", "low_confidence"),
        ({"accuracy": 0.1, "latency": 900}, "0.5", "manual_review", "low_confidence"),
    ],
)
def test_verdict_rules(metrics, confidence, verdict, rule):
    baselines = [baseline("accuracy", ">=", "0.8"), baseline("latency", "<=", 250)]
    result = rules.compute_verdict(
        baselines=baselines, metrics=metrics, confidence=Decimal(confidence), min_confidence=Decimal("0.7")
    )
    assert (result.verdict, result.rule) == (verdict, rule)
    assert [c["metric_key"] for c in result.checks["baselines"]] == ["accuracy", "latency"]


def test_no_active_baseline_means_manual_review():
    result = rules.compute_verdict(baselines=[], metrics={"a": 1}, confidence=Decimal(1), min_confidence=Decimal("0.7"))
    assert result.verdict == "manual_review" and result.rule == "no_baselines"


@pytest.mark.parametrize(
    "op, threshold, value, ok",
    [
        (">", 1, 1, False),
        (">", 1, 1.01, True),
        ("<", 1, 0.99, True),
        ("<=", 1, 1, True),
        ("=", 1, 1.0, True),
        ("=", 1, 1.1, False),
    ],
)
def test_each_operator(op, threshold, value, ok):
    assert baseline("m", op, threshold).satisfied_by(Decimal(str(value))) is ok
    # The bulk import's light rule, and the operator given as the enum member, agree.
    assert rules.BaselineRule(None, "m", op, Decimal(threshold)).satisfied_by(Decimal(str(value))) is ok
    assert rules.BaselineRule(None, "m", Operator(op), Decimal(threshold)).satisfied_by(Decimal(str(value))) is ok


def test_the_light_rule_gives_the_model_instances_verdict():
    metrics = {"a": 0.95, "b": 3}
    models = [baseline("a", ">=", Decimal("0.9")), baseline("b", "<", 2)]
    light = [rules.BaselineRule(b.pk, b.metric_key, b.operator, b.threshold) for b in models]
    both = [
        rules.compute_verdict(baselines=bs, metrics=metrics, confidence=Decimal(1), min_confidence=Decimal("0.7"))
        for bs in (models, light)
    ]
    assert both[0] == both[1] and both[0].verdict == "fail"


@pytest.mark.parametrize("bad", [{"a": "0.9"}, {"a": True}, {"a": None}, {"": 1}, {"a": [1]}, ["a"]])
def test_metrics_are_numbers(bad):
    with pytest.raises(ValidationFailed):
        rules.validate_metrics(bad)


@pytest.mark.parametrize("bad", [-0.01, 1.01, "0.5", True, None])
def test_confidence_is_between_0_and_1(bad):
    with pytest.raises(ValidationFailed):
        rules.validate_confidence(bad)


def test_comparison_deltas_directions_and_promote():
    baselines = [baseline("accuracy", ">=", "0.8"), baseline("latency", "<", 300), baseline("calib", "=", "1")]
    result = rules.compare(
        baselines=baselines,
        v1={"accuracy": 0.92, "latency": 180, "calib": 1.0, "extra": 5},
        v2={"accuracy": 0.9, "latency": 200, "calib": 1.1},
    )
    m = result.metrics
    assert m["accuracy"]["delta"] == pytest.approx(0.02) and m["accuracy"]["outcome"] == "improved"
    assert (
        m["latency"]["delta"] == -20 and m["latency"]["direction"] == "lower" and m["latency"]["outcome"] == "improved"
    )
    assert m["calib"]["direction"] == "target" and m["calib"]["outcome"] == "improved"
    assert m["extra"]["outcome"] == "not_comparable" and m["extra"]["v2"] is None
    assert m["latency"]["delta_pct"] == -10.0
    assert result.recommendation == "promote" and result.confidence == Decimal("1.0000")


def test_comparison_keep_review_and_violations():
    baselines = [baseline("accuracy", ">=", "0.8"), baseline("latency", "<", 300)]
    worse = rules.compare(
        baselines=baselines, v1={"accuracy": 0.85, "latency": 250}, v2={"accuracy": 0.9, "latency": 200}
    )
    assert worse.recommendation == "keep" and worse.confidence == 1
    mixed = rules.compare(
        baselines=baselines, v1={"accuracy": 0.95, "latency": 250}, v2={"accuracy": 0.9, "latency": 200}
    )
    assert mixed.recommendation == "review" and mixed.confidence == 1
    violating = rules.compare(
        baselines=baselines, v1={"accuracy": 0.5, "latency": 100}, v2={"accuracy": 0.9, "latency": 200}
    )
    assert violating.recommendation == "keep" and violating.summary["v1_violations"] == ["accuracy >= 0.8"]
    nothing = rules.compare(baselines=[], v1={"a": 1}, v2={"a": 2})
    assert nothing.recommendation == "review" and nothing.confidence == 0
    partial = rules.compare(baselines=baselines, v1={"accuracy": 0.95}, v2={"accuracy": 0.9})
    assert partial.recommendation == "promote" and partial.confidence == Decimal("0.5")  # half the baselines covered


def test_agreement_and_cohens_kappa():
    # Classic 2x2 example: 20 agree pass, 15 agree fail, 5 + 10 disagree → p_o 0.7, p_e 0.5, kappa 0.4.
    counts = {("pass", "pass"): 20, ("pass", "fail"): 5, ("fail", "pass"): 10, ("fail", "fail"): 15}
    stats = rules.agreement(counts, evaluations=60)
    assert stats["overridden"] == 50 and stats["agreed"] == 35
    assert stats["agreement_rate"] == 0.7 and stats["kappa"] == 0.4
    assert stats["confusion"]["pass"] == {"pass": 20, "fail": 5}


def test_agreement_edge_cases():
    empty = rules.agreement({}, evaluations=3)
    assert empty["agreement_rate"] is None and empty["kappa"] is None and empty["evaluations"] == 3
    # Every human answer differs from a manual_review AI verdict: no agreement, kappa 0.
    review = rules.agreement({("manual_review", "pass"): 4}, evaluations=4)
    assert review["agreement_rate"] == 0 and review["kappa"] == 0
    # One category only on both sides: chance agreement is 1, kappa undefined.
    same = rules.agreement({("pass", "pass"): 3}, evaluations=3)
    assert same["agreement_rate"] == 1 and same["kappa"] is None


def test_plain_decimal_display():
    assert rules.plain(Decimal("0.80000000")) == "0.8"
    assert rules.plain(Decimal("250.00000000")) == "250"
