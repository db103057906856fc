"""Pure rules of the v1 zone, without database access: config hashing, metric
validation, the AI verdict and the comparison recommendation. Services (and the legacy
importer) call these; tests exercise them directly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from core import canonical
from core.exceptions import ValidationFailed
from projects.models import threshold_met

METRIC_KEY_MAX = 100
METRICS_MAX = 500
FOUR_PLACES = Decimal("0.0001")


def _canonical_config(config, field: str) -> str:
    """The canonical JSON text of a config, refusing what is not a storable JSON object."""
    if not isinstance(config, dict):
        raise ValidationFailed.field(field, "Must be a JSON object.")
    try:
        text = canonical.dumps(config)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed.field(field, f"Not storable JSON: {exc}") from None
    if "\x00" in text or "\\u0000" in text:
        raise ValidationFailed.field(field, "NUL characters are not allowed.")
    return text


def validate_config(config, field: str = "config") -> dict:
    """A config is a JSON object that canonical JSON can encode (no NaN, no NUL)."""
    _canonical_config(config, field)
    return config


def config_hash(config: dict) -> str:
    """SHA-256 (hex) of the config's canonical JSON: sorted keys, no insignificant
    whitespace, UTF-8, integral floats as integers (core.canonical). Key order and
    whitespace of the submitted JSON never matter."""
    return canonical.sha256_hex_of_text(_canonical_config(config, "config"))


def _user_order_text(config: dict) -> str:
    return json.dumps(config, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def config_text(config: dict) -> str:
    """The config as JSON text in the user's key order (Experiment.config_text): what the
    API and the console show. jsonb, which `config` is stored as, re-orders object keys;
    the hash reads the canonical form, so this order never changes it."""
    return _user_order_text(validate_config(config))


def config_hash_and_text(config: dict) -> tuple[str, str]:
    """(config_hash(config), config_text(config)), the config checked and made canonical
    once instead of twice (a create needs both)."""
    return config_hash(config), _user_order_text(config)


def _number(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def validate_metrics(metrics, field: str = "metrics") -> dict:
    """{metric_key: number}: keys 1-100 characters, values finite numbers."""
    if not isinstance(metrics, dict):
        raise ValidationFailed.field(field, "Must be a JSON object of metric name → number.")
    if len(metrics) > METRICS_MAX:
        raise ValidationFailed.field(field, f"At most {METRICS_MAX} metrics.")
    bad = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key.strip() or len(key) > METRIC_KEY_MAX:
            bad[str(key)[:METRIC_KEY_MAX]] = [f"Metric names are 1-{METRIC_KEY_MAX} characters."]
        elif _number(value) is None:
            bad[key] = ["Must be a finite number."]
    if bad:
        raise ValidationFailed("Some metrics are not valid.", details={field: bad})
    return metrics


def validate_confidence(value, field: str = "ai_confidence") -> Decimal:
    number = _number(value)
    if number is None or number < 0 or number > 1:
        raise ValidationFailed.field(field, "A number between 0 and 1.")
    return number


def plain(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent: 0.80000000 → "0.8", 250.00 → "250"."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def quantize4(value: Decimal) -> Decimal:
    return value.quantize(FOUR_PLACES, rounding=ROUND_HALF_EVEN)


# ---------------------------------------------------------------------------------------
# The AI verdict (SPEC §4)


@dataclass(frozen=True)
class VerdictResult:
    verdict: str  # pass | fail | manual_review
    rule: str  # which rule decided: low_confidence | violated | missing_metric | no_baselines | all_satisfied
    checks: dict  # stored on the evaluation: every baseline, its measured value and outcome


@dataclass(frozen=True, slots=True)
class BaselineRule:
    """A baseline as a verdict reads it, without a model instance (the bulk import
    judges thousands of evaluations per batch against the baselines of many projects)."""

    pk: object
    metric_key: str
    operator: str
    threshold: Decimal

    def satisfied_by(self, value: Decimal) -> bool:
        return threshold_met(self.operator, value, self.threshold)


def compute_verdict(*, baselines, metrics: dict, confidence: Decimal, min_confidence: Decimal) -> VerdictResult:
    """The verdict of `metrics` against the project's active `baselines`.

    Precedence: confidence below the minimum → manual_review (a verdict the model itself
    doubts is not acted on, not even a failing one: failing quarantines automatically);
    else any baseline violated → fail; else any baseline's metric missing → manual_review;
    else every baseline satisfied → pass. No active baseline → manual_review (nothing to
    judge against is not a pass)."""
    rows = []
    violated = missing = False
    for b in baselines:
        value = _number(metrics.get(b.metric_key))
        if value is None:
            outcome = "missing"
            missing = True
        elif b.satisfied_by(value):
            outcome = "satisfied"
        else:
            outcome = "violated"
            violated = True
        rows.append(
            {
                "baseline": str(b.pk),
                "metric_key": b.metric_key,
                "operator": b.operator,
                "threshold": plain(b.threshold),
                "value": metrics.get(b.metric_key),
                "outcome": outcome,
            }
        )
    if confidence < min_confidence:
        verdict, rule = "manual_review", "low_confidence"
    elif violated:
        verdict, rule = "fail", "violated"
    elif missing:
        verdict, rule = "manual_review", "missing_metric"
    elif not rows:
        verdict, rule = "manual_review", "no_baselines"
    else:
        verdict, rule = "pass", "all_satisfied"
    checks = {"rule": rule, "min_confidence": str(min_confidence), "baselines": rows}
    return VerdictResult(verdict=verdict, rule=rule, checks=checks)


# ---------------------------------------------------------------------------------------
# Comparison reports (SPEC §4)


@dataclass(frozen=True)
class ComparisonResult:
    metrics: dict
    recommendation: str  # promote | keep | review
    confidence: Decimal
    summary: dict


def _metric_direction(baselines) -> str | None:
    directions = {b.direction for b in baselines}
    return directions.pop() if len(directions) == 1 else None


def compare(*, baselines, v1: dict, v2: dict) -> ComparisonResult:
    """Per-metric deltas of v1 against v2 and a recommendation.

    For each metric in either set: v1, v2, delta = v1 − v2, delta_pct (relative to v2),
    the direction taken from the project's active baselines on that metric ('higher' for
    > and >=, 'lower' for < and <=, 'target' for =, closer to the threshold being
    better; none when the metric has no baseline or its baselines disagree), and the
    outcome for v1: improved / regressed / unchanged / not_comparable.

    Recommendation: `keep` when v1 violates a baseline (it could not pass evaluation);
    otherwise over the comparable metrics (a direction and both values): `promote` when
    some improved and none regressed, `keep` when none improved, `review` when they are
    mixed or nothing is comparable.

    Confidence (0-1): coverage × decisiveness, where coverage is the share of baseline
    metrics present in both sets and decisiveness is |improved − regressed| / comparable
    (for `review`, 1 − decisiveness: an even split is a confident "look at it"); 1 when v1
    violates a baseline (the data decide); 0 when nothing is comparable."""
    by_metric: dict[str, list] = {}
    for b in baselines:
        by_metric.setdefault(b.metric_key, []).append(b)
    out: dict[str, dict] = {}
    improved = regressed = unchanged = 0
    v1_violations = []
    for key in sorted(set(v1) | set(v2)):
        a, b = _number(v1.get(key)), _number(v2.get(key))
        rules = by_metric.get(key, [])
        direction = _metric_direction(rules) if rules else None
        entry: dict = {
            "v1": v1.get(key),
            "v2": v2.get(key),
            "delta": None,
            "delta_pct": None,
            "direction": direction,
            "outcome": "not_comparable",
        }
        if a is not None:
            for rule in rules:
                if not rule.satisfied_by(a):
                    v1_violations.append(f"{key} {rule.operator} {plain(rule.threshold)}")
        if a is not None and b is not None:
            delta = a - b
            entry["delta"] = float(delta)
            entry["delta_pct"] = float(quantize4(delta / abs(b) * 100)) if b != 0 else None
            if direction is not None:
                if direction == "higher":
                    better, worse = a > b, a < b
                elif direction == "lower":
                    better, worse = a < b, a > b
                else:
                    target = rules[0].threshold
                    better, worse = abs(a - target) < abs(b - target), abs(a - target) > abs(b - target)
                entry["outcome"] = "improved" if better else "regressed" if worse else "unchanged"
                improved += better
                regressed += worse
                unchanged += not (better or worse)
        out[key] = entry
    comparable = improved + regressed + unchanged
    baseline_keys = set(by_metric)
    covered = sum(1 for k in baseline_keys if _number(v1.get(k)) is not None and _number(v2.get(k)) is not None)
    coverage = Decimal(covered) / Decimal(len(baseline_keys)) if baseline_keys else Decimal(0)
    decisiveness = Decimal(abs(improved - regressed)) / Decimal(comparable) if comparable else Decimal(0)
    if v1_violations:
        recommendation, confidence = "keep", Decimal(1)
    elif comparable == 0:
        recommendation, confidence = "review", Decimal(0)
    elif improved and not regressed:
        recommendation, confidence = "promote", coverage * decisiveness
    elif not improved:
        recommendation = "keep"
        confidence = coverage * (decisiveness if regressed else Decimal(1))
    else:
        recommendation, confidence = "review", coverage * (1 - decisiveness)
    summary = {
        "improved": improved,
        "regressed": regressed,
        "unchanged": unchanged,
        "comparable": comparable,
        "baseline_metrics": len(baseline_keys),
        "v1_violations": v1_violations,
    }
    return ComparisonResult(
        metrics=out,
        recommendation=recommendation,
        confidence=quantize4(min(max(confidence, Decimal(0)), Decimal(1))),
        summary=summary,
    )


# ---------------------------------------------------------------------------------------
# Judge-vs-human agreement


def agreement(counts: dict[tuple[str, str], int], evaluations: int) -> dict:
    """Agreement statistics from counts[(ai_verdict, human_verdict)] over overridden
    evaluations: the share where the human agreed with the AI and Cohen's kappa
    (categories pass / fail / manual_review; a human never answers manual_review)."""
    categories = ["pass", "fail", "manual_review"]
    n = sum(counts.values())
    agreed = sum(c for (ai, human), c in counts.items() if ai == human)
    confusion = {ai: {h: counts.get((ai, h), 0) for h in ("pass", "fail")} for ai in categories}
    rate = kappa = None
    if n:
        p_o = agreed / n
        p_e = sum(
            (sum(counts.get((k, h), 0) for h in ("pass", "fail")) / n)
            * (sum(counts.get((a, k), 0) for a in categories) / n)
            for k in categories
        )
        rate = round(p_o, 4)
        kappa = round((p_o - p_e) / (1 - p_e), 4) if p_e < 1 else None
    return {
        "evaluations": evaluations,
        "overridden": n,
        "agreed": agreed,
        "agreement_rate": rate,
        "kappa": kappa,
        "confusion": confusion,
    }
