"""Reads of the v1 zone, with visibility applied (docs/zones.md): admins and viewers see
every experiment; users see those of the projects they own; another user's experiment
is a 404. The blacklist is readable by every role."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import router
from django.db.models import Count, Expression, OuterRef, QuerySet, Subquery

from core import lookups, sqljson
from core.db import rows
from core.db.counts import DEFAULT_CAP, capped_counts
from core.exceptions import NotFound
from experiments import rules
from experiments.models import (
    Blacklist,
    ComparisonReport,
    Evaluation,
    Experiment,
    Promotion,
    PromotionStatus,
    Status,
)
from projects.models import Project
from projects.selectors import as_uuid, restrict_to_visible, visible_projects_filter


def _latest_verdict():
    """`verdict` of experiment_list: the effective verdict of the latest evaluation."""
    return Subquery(
        Evaluation.objects.filter(experiment=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("effective_verdict")[:1]
    )


@functools.cache
def _every_experiment() -> QuerySet[Experiment]:
    """Every experiment annotated with `verdict`, built once per process: resolving the
    annotation (and a rendering's expressions, _rendered) is most of the ORM's work
    for a detail. Never evaluated itself: callers filter a clone."""
    return Experiment.objects.annotate(verdict=_latest_verdict())


@functools.cache
def _rendered(document: Expression) -> QuerySet:
    """_every_experiment's rows as the JSON texts of `document` (core.sqljson), built once."""
    return sqljson.documents(_every_experiment(), document)


def _visible_experiments(**visible) -> QuerySet[Experiment]:
    """Every experiment (annotated) cut by a visibility filter's values: {} for all."""
    return _every_experiment().filter(**visible)


def experiment_list_parts(*, user) -> tuple[Callable[..., QuerySet[Experiment]], dict] | None:
    """experiment_list(user=user) as (rows, values): rows(**values) is that queryset and
    the values are all it takes from `user` (the one statement of the visibility rule,
    docs/zones.md, through the experiment's project), so a list can be compiled once with
    stand-ins for them (core.api.lists). None when `user` sees nothing."""
    visible = visible_projects_filter(user, "project__")
    return None if visible is None else (_visible_experiments, visible)


def experiment_list(*, user) -> QuerySet[Experiment]:
    """Visible experiments, each annotated with `verdict`: the effective verdict of its
    latest evaluation (null before any)."""
    parts = experiment_list_parts(user=user)
    return Experiment.objects.none() if parts is None else parts[0](**parts[1])


def sees_every_experiment(user) -> bool:
    """Whether experiment_list(user=user) is the whole table (no visibility filter)."""
    return visible_projects_filter(user, "project__") == {}


_EXPERIMENT_FIELDS = Experiment._meta.concrete_fields


def _experiment_rows(**ids) -> QuerySet:
    """experiment_list's rows as values (every column, then `verdict`) for a compiled
    lookup (core.lookups): `ids` are the primary key and the visibility filter's."""
    return _every_experiment().filter(**ids).values_list(*(f.attname for f in _EXPERIMENT_FIELDS), "verdict")


def experiment_get(*, user, pk) -> Experiment:
    """The experiment `user` may see, annotated with `verdict` (NotFound otherwise).
    The hot path of the API (a detail, the fetch before every transition): experiment_list
    compiled once per visibility rule and prepared once per connection (core.lookups)."""
    visible = visible_projects_filter(user, "project__")
    if visible is None:
        raise NotFound("Experiment not found.")
    compiled = lookups.statement(("experiment_get", *visible), _experiment_rows, ("pk", *visible))
    if compiled is None:
        try:
            return experiment_list(user=user).get(pk=as_uuid(pk))
        except Experiment.DoesNotExist:
            raise NotFound("Experiment not found.") from None
    row = compiled.first_row(pk=as_uuid(pk), **visible)
    if row is None:
        raise NotFound("Experiment not found.")
    experiment = rows.instance_from_row(Experiment, _EXPERIMENT_FIELDS, row[:-1], router.db_for_read(Experiment))
    experiment.verdict = row[-1]
    return experiment


def experiment_get_document(*, user, pk, document: Expression) -> str:
    """experiment_get rendered by PostgreSQL: `document` is the expression of its JSON
    text over experiment_list's rows, built once from the output serializer by the API
    (core.sqljson). The same rows and visibility rule, so the same NotFound; one query,
    compiled once per rendering and rule (core.sqljson.first_document_compiled)."""
    visible = visible_projects_filter(user, "project__")
    if visible is None:
        raise NotFound("Experiment not found.")
    text = sqljson.first_document_compiled(
        (document, *visible), lambda **values: _rendered(document).filter(**values), pk=as_uuid(pk), **visible
    )
    if text is None:
        raise NotFound("Experiment not found.")
    return text


def latest_evaluation(*, experiment_id) -> Evaluation | None:
    return Evaluation.objects.filter(experiment_id=experiment_id).order_by("-created_at", "-id").first()


def evaluation_list(*, experiment: Experiment) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(experiment=experiment).order_by("-created_at", "-id")


def evaluation_get(*, user, pk) -> Evaluation:
    qs = restrict_to_visible(Evaluation.objects.select_related("experiment"), user, "experiment__project__")
    try:
        return qs.get(pk=as_uuid(pk))
    except Evaluation.DoesNotExist:
        raise NotFound("Evaluation not found.") from None


def promotion_list(*, user) -> QuerySet[Promotion]:
    return restrict_to_visible(
        Promotion.objects.select_related("from_version", "to_version"), user, "experiment__project__"
    )


def promotion_get(*, user, pk) -> Promotion:
    try:
        return promotion_list(user=user).get(pk=as_uuid(pk))
    except Promotion.DoesNotExist:
        raise NotFound("Promotion not found.") from None


def open_promotion(*, experiment_id) -> Promotion | None:
    from experiments.models import OPEN_PROMOTION

    return Promotion.objects.filter(experiment_id=experiment_id, status__in=OPEN_PROMOTION).first()


def blacklist_list(*, user=None) -> QuerySet[Blacklist]:
    return Blacklist.objects.all()


def blacklist_get(*, pk) -> Blacklist:
    try:
        return Blacklist.objects.get(pk=as_uuid(pk))
    except Blacklist.DoesNotExist:
        raise NotFound("Blacklist entry not found.") from None


def is_blacklisted(config_hash: str) -> bool:
    """Whether a config hash may not run now (a blacklist row not lifted)."""
    return Blacklist.objects.filter(config_hash=config_hash, lifted_at__isnull=True).exists()


def comparison_list(*, user) -> QuerySet[ComparisonReport]:
    return restrict_to_visible(
        ComparisonReport.objects.select_related("v1_experiment"), user, "v1_experiment__project__"
    )


def comparison_get(*, user, pk) -> ComparisonReport:
    try:
        return comparison_list(user=user).get(pk=as_uuid(pk))
    except ComparisonReport.DoesNotExist:
        raise NotFound("Comparison report not found.") from None


def judge_agreement(*, project: Project) -> dict:
    """Judge-vs-human agreement of a project (one grouped query): over its evaluations
    with a human override, the share where the human agreed with the AI verdict, and
    Cohen's kappa (experiments.rules.agreement)."""
    rows = (
        Evaluation.objects.filter(experiment__project_id=project.pk)
        .values_list("ai_verdict", "human_override")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[tuple[str, str], int] = {}
    total = 0
    for ai, human, n in rows:
        total += n
        if human is not None:
            counts[(ai, human)] = n
    return rules.agreement(counts, total)


def console_figures(*, cap: int = DEFAULT_CAP) -> dict:
    """The operations dashboard's v1 figures: experiments per status, promotions waiting
    for a decision (pending) and for completion (approved). One statement; each count
    stops at `cap` and is served by the (status, created_at) indexes."""
    querysets: dict[str, QuerySet] = {
        f"status:{value}": Experiment.objects.filter(status=value) for value in Status.values
    }
    querysets["promotions_pending"] = Promotion.objects.filter(status=PromotionStatus.PENDING)
    querysets["promotions_approved"] = Promotion.objects.filter(status=PromotionStatus.APPROVED)
    counts = capped_counts(querysets, cap=cap)
    return {
        "by_status": [(value, label, counts[f"status:{value}"]) for value, label in Status.choices],
        "promotions_pending": counts["promotions_pending"],
        "promotions_approved": counts["promotions_approved"],
    }
