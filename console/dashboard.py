"""The operations dashboard (the console's index page).

Each card is a `Section`: who may see it (a permission test), a function computing its
figures from the apps' selectors, and a template under templates/admin/console/cards/.
The cost is bounded: every section costs one to three queries whatever the tables' sizes
(capped counts, bounded date windows, catalog queries; see docs/admin.md), and a test
holds the dashboard to a fixed number of queries.

The production card plugs in through `production_figures`, one small function: it reads
production's AnalysisSession / AnalysisTask models by name when they exist and shows
"no data yet" until then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import capfirst

from core.db.counts import capped_counts

log = logging.getLogger(__name__)

# A chain not verified for this long, or with entries waiting this long to be sealed,
# shows as needing attention.
VERIFICATION_STALE_AFTER = timedelta(days=7)
SEALING_LAG_WARN = timedelta(minutes=1)

OK, WARN, BAD, INFO = "ok", "warn", "bad", "info"


def changelist(model_label: str, **filters) -> str | None:
    """URL of a model's change list in the console, with filters, or None if the model
    is not registered."""
    app_label, model_name = model_label.split(".")
    try:
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(filters)}" if filters else url


def money(value) -> str:
    value = Decimal(value or 0)
    return f"${value:,.2f}" if value >= Decimal("0.01") or value == 0 else f"${value:,.4f}"


def _perm(*perms: str) -> Callable:
    def allowed(user) -> bool:
        return any(user.has_perm(p) for p in perms)

    return allowed


# --- Sections ------------------------------------------------------------------------------


def accounts_figures(request) -> dict:
    from accounts.selectors import console_figures

    counts = console_figures()
    return {
        "state": WARN if counts["locked"] else OK,
        "rows": [
            ("Active users", counts["active"], changelist("accounts.user", is_active__exact=1), OK),
            ("Locked out now", counts["locked"], changelist("accounts.user", locked="yes"), WARN),
            ("Unverified", counts["unverified"], changelist("accounts.user", verified__exact=0), INFO),
            ("Live login sessions", counts["sessions"], changelist("accounts.session", live="yes"), OK),
        ],
    }


def experiments_figures(request) -> dict:
    from experiments.selectors import console_figures

    figures = console_figures()
    waiting = int(figures["promotions_pending"]) + int(figures["promotions_approved"])
    return {
        "state": WARN if waiting else OK,
        "by_status": [
            (label, count, changelist("experiments.experiment", status__exact=value), value)
            for value, label, count in figures["by_status"]
        ],
        "rows": [
            (
                "Promotions awaiting a decision",
                figures["promotions_pending"],
                changelist("experiments.promotion", status__exact="pending"),
                WARN,
            ),
            (
                "Promotions approved, to complete",
                figures["promotions_approved"],
                changelist("experiments.promotion", status__exact="approved"),
                WARN,
            ),
        ],
    }


def quarantine_figures(request) -> dict:
    from quarantine.selectors import console_figures

    counts = console_figures()
    waiting = int(counts["reevaluations_pending"]) + int(counts["reevaluations_approved"])
    return {
        "state": WARN if waiting else OK,
        "rows": [
            (
                "Quarantined configs",
                counts["quarantined"],
                changelist("quarantine.quarantinerecord", review_status__exact="quarantined"),
                INFO,
            ),
            (
                "Under review",
                counts["under_review"],
                changelist("quarantine.quarantinerecord", review_status__exact="under_review"),
                INFO,
            ),
            (
                "Approved for retry",
                counts["approved_retry"],
                changelist("quarantine.quarantinerecord", review_status__exact="approved_retry"),
                INFO,
            ),
            (
                "Re-evaluations awaiting a decision",
                counts["reevaluations_pending"],
                changelist("quarantine.reevaluationrequest", status__exact="pending"),
                WARN,
            ),
            (
                "Re-evaluations approved, to complete",
                counts["reevaluations_approved"],
                changelist("quarantine.reevaluationrequest", status__exact="approved"),
                WARN,
            ),
        ],
    }


def _production_model(name: str):
    if not apps.is_installed("production"):
        return None
    try:
        return apps.get_model("production", name)
    except LookupError:
        return None


def _status_choices(model) -> list[tuple[str, str]] | None:
    try:
        field = model._meta.get_field("status")
    except FieldDoesNotExist:
        return None
    return list(field.choices or []) or None


def production_figures(request) -> dict:
    """Analysis sessions and tasks by status, once the production app has its models
    (read by name: production.AnalysisSession / production.AnalysisTask with a `status`
    field). One capped-count statement; "no data yet" while the models are absent."""
    found = []
    for name in ("AnalysisSession", "AnalysisTask"):
        model = _production_model(name)
        choices = _status_choices(model) if model is not None else None
        if choices:
            found.append((model, choices))
    if not found:
        return {"no_data": True, "state": INFO}
    querysets = {
        f"{model._meta.model_name}:{value}": model._default_manager.filter(status=value)
        for model, choices in found
        for value, _ in choices
    }
    counts = capped_counts(querysets)
    groups = []
    for model, choices in found:
        label = f"production.{model._meta.model_name}"
        groups.append(
            {
                "title": capfirst(model._meta.verbose_name_plural),  # keeps "AI", "TOTP" as written
                "rows": [
                    (text, counts[f"{model._meta.model_name}:{value}"], changelist(label, status__exact=value), value)
                    for value, text in choices
                ],
            }
        )
    failed = sum(int(counts[key]) for key in counts if key.endswith(":failed"))
    return {"groups": groups, "state": WARN if failed else OK}


def _production_visible(user) -> bool:
    model = _production_model("AnalysisSession")
    if model is None:
        return user.is_active and user.is_staff
    return user.has_module_perms("production")


def spend_figures(request) -> dict:
    from providers.periods import current_periods
    from providers.selectors import spend_summary, unacknowledged_alerts, users_near_cost_limit

    periods = current_periods()
    spend = spend_summary(periods=periods)
    near = users_near_cost_limit(periods=periods, limit=8)
    open_alerts = unacknowledged_alerts(periods=periods)
    for row in near:
        row["url"] = changelist("providers.costalert", user=row["user_id"])
    return {
        "state": BAD
        if any((r["daily"] or 0) >= 100 or (r["monthly"] or 0) >= 100 for r in near)
        else (WARN if near else OK),
        "today": money(spend.today_usd),
        "month": money(spend.month_usd),
        "today_requests": spend.today_requests,
        "month_requests": spend.month_requests,
        "day": spend.day,
        "month_start": spend.month_start,
        "near": near,
        "near_more": len(near) >= 8,
        "open_alerts": open_alerts,
        "alerts_url": changelist(
            "providers.costalert",
            acknowledged__exact=0,
            triggered_at__year=periods.month_start.year,
            triggered_at__month=periods.month_start.month,
        ),
        "usage_url": changelist(
            "providers.usagetracking", date__year=periods.month_start.year, date__month=periods.month_start.month
        ),
        "timezone": settings.QUOTA_TIMEZONE or "UTC",
    }


def providers_figures(request) -> dict:
    from providers.selectors import provider_health_board

    board = provider_health_board()
    worst = {status for _, status in board.attention}
    state = BAD if "unhealthy" in worst else (WARN if worst else OK)
    return {
        "state": state,
        "board": board,
        "attention": [
            {
                "provider": provider,
                "status": status,
                "url": reverse("admin:providers_provider_change", args=[provider.pk]),
                "error": _last_error(provider),
            }
            for provider, status in board.attention[:8]
        ],
        "unhealthy_url": changelist("providers.provider", attention="yes"),  # exactly board.attention
    }


def _last_error(provider) -> str:
    from providers.models import ProviderHealth

    try:
        return (provider.health.last_error or "")[:160]
    except ProviderHealth.DoesNotExist:
        return ""


def audit_chain_figures(request) -> dict:
    from audits.selectors import chain_status, last_verification

    now = timezone.now()
    status = chain_status()
    last = last_verification()
    lag = now - status["oldest_pending_ts"] if status["pending"] and status["oldest_pending_ts"] else timedelta(0)
    if last is not None and not last.ok:
        state = BAD
    elif last is None or now - last.created_at > VERIFICATION_STALE_AFTER or lag > SEALING_LAG_WARN:
        state = WARN
    else:
        state = OK
    return {
        "state": state,
        "status": status,
        "last": last,
        "lag_seconds": int(lag.total_seconds()),
        "lag_warn": lag > SEALING_LAG_WARN,
        "stale": last is not None and now - last.created_at > VERIFICATION_STALE_AFTER,
        "verify_url": reverse("admin:console_verify_chain"),
        "log_url": changelist("audits.auditlogrow"),
    }


def partitions_figures(request) -> dict:
    from audits.selectors import partition_summary

    summary = partition_summary()
    if summary.detach_pending:
        state = BAD
    elif summary.months_ahead < 1 or summary.gaps:
        state = WARN
    else:
        state = OK
    return {
        "state": state,
        "summary": summary,
        "target_ahead": settings.AUDIT_PARTITIONS_AHEAD,
        "health_url": reverse("admin:console_database")
        if request.user.has_perm("console.view_database_health")
        else None,
    }


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    visible: Callable
    build: Callable
    template: str


SECTIONS: list[Section] = [
    Section(
        "accounts",
        "Accounts",
        _perm("accounts.view_user", "accounts.view_session"),
        accounts_figures,
        "admin/console/cards/counts.html",
    ),
    Section(
        "experiments",
        "v1 · Experiments",
        _perm("experiments.view_experiment", "experiments.view_promotion"),
        experiments_figures,
        "admin/console/cards/experiments.html",
    ),
    Section(
        "production", "v2 · Production", _production_visible, production_figures, "admin/console/cards/production.html"
    ),
    Section(
        "quarantine",
        "v3 · Quarantine",
        _perm("quarantine.view_quarantinerecord", "quarantine.view_reevaluationrequest"),
        quarantine_figures,
        "admin/console/cards/counts.html",
    ),
    Section(
        "spend",
        "Spend",
        _perm("providers.view_usagetracking", "providers.view_costalert"),
        spend_figures,
        "admin/console/cards/spend.html",
    ),
    Section(
        "providers",
        "Providers",
        _perm("providers.view_provider"),
        providers_figures,
        "admin/console/cards/providers.html",
    ),
    Section(
        "audit_chain",
        "Audit chain",
        _perm("audits.view_verification", "audits.view_auditlogrow"),
        audit_chain_figures,
        "admin/console/cards/audit_chain.html",
    ),
    Section(
        "partitions",
        "Audit partitions",
        _perm("audits.view_auditlogrow", "console.view_database_health"),
        partitions_figures,
        "admin/console/cards/partitions.html",
    ),
]


def build(request) -> list[dict]:
    """The cards this staff member may see, with their figures. A card whose figures
    cannot be computed (a database error) says so instead of breaking the page."""
    cards = []
    for section in SECTIONS:
        if not section.visible(request.user):
            continue
        try:
            figures = section.build(request)
        except DatabaseError:
            log.exception("dashboard section %s failed", section.key)
            figures = {"error": True, "state": BAD}
        cards.append({"key": section.key, "title": section.title, "template": section.template, **figures})
    return cards
