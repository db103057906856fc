"""The console in a real browser: Debian's Chromium, headless, driven by Playwright
against a live server. An administrator logs in, reads the dashboard, approves a pending
promotion through the list's action, finds the approval in the audit log view, verifies
the chain and opens the database health page.
Screenshots go to test-artifacts/.

Never a downloaded browser: the executable is /usr/bin/chromium (CHROMIUM_PATH to
override), installed by `make test` through scripts/ensure_chromium.sh; the test skips,
saying why, only when it is missing. All database work happens before the browser starts
or after it stops (Playwright's sync API runs an event loop in this thread, where
Django refuses database calls)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(settings.BASE_DIR) / "test-artifacts"))
PASSWORD = "correct horse battery"  # what the make_user fixture gives everyone


@pytest.fixture
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"{CHROMIUM} is missing: Debian's chromium package could not be installed "
            "(scripts/ensure_chromium.sh, run by `make test`); the browser test needs it"
        )
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")


@pytest.fixture
def scene(make_user, project, regular_user):
    """An administrator who logs in, a promotion another user requested (four-eyes), and
    something in every card of the dashboard."""
    from decimal import Decimal

    from django.utils import timezone
    from rest_framework.test import APIClient

    from audits.services import verification_record
    from audits.verify import VerifyResult
    from experiments.services import promotion_request
    from projects.tests.factories import evaluating_experiment, make_experiment, quarantined_experiment
    from providers import services as providers
    from quarantine.services import reevaluation_request

    admin = make_user("admin", email="ops-admin@example.com", name="Olga Ops")
    experiment, _ = evaluating_experiment(project, regular_user)
    promotion = promotion_request(experiment=experiment, actor=regular_user, reason="beats the baseline")
    _, record = quarantined_experiment(project, regular_user)
    reevaluation_request(record=record, reason="the dataset was fixed", actor=regular_user)
    make_experiment(project, regular_user, status="running")
    locked = make_user("user", email="locked-out@example.com")
    api = APIClient()
    for _ in range(settings.LOGIN_MAX_FAILURES):  # locked out the way it happens: failed logins
        api.post("/api/v1/auth/login", {"email": locked.email, "password": "not it"}, format="json")

    catalog = {}
    for name, kind in (("Claude (platform)", "anthropic"), ("GPT-4o (platform)", "openai")):
        catalog[name] = providers.provider_create(
            actor=admin,
            name=name,
            provider_type=kind,
            model_name="model",
            api_endpoint="https://llm.example.com/v1",
            cost_per_1k_tokens=Decimal("1"),
            timeout_seconds=5,
        )
    now = timezone.now()
    providers.provider_health_record(
        results=[providers.ProbeResult(catalog["Claude (platform)"].pk, True, 84, "", now)]
    )
    for _ in range(3):
        providers.provider_health_record(
            results=[providers.ProbeResult(catalog["GPT-4o (platform)"].pk, False, 5000, "timed out after 5 s", now)]
        )
    providers.quota_set(user=regular_user, actor=admin, daily_cost_limit=Decimal("1"))
    providers.usage_record(
        user=regular_user, provider=catalog["Claude (platform)"], model="model", tokens_input=930, tokens_output=0
    )
    verification_record(result=VerifyResult(checked=120, head_seq=120), source="command")
    return {"admin": admin, "promotion": promotion, "experiment": experiment}


def test_approve_a_promotion_in_a_real_browser(chromium, live_server, scene, new_audit):
    from audits.models import AuditEntry

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    admin, promotion = scene["admin"], scene["promotion"]
    base = live_server.url
    seen: dict[str, str] = {}

    with chromium.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(20_000)

            # Log in (the console's login: same lockout and rules as the API).
            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", admin.email)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector("#card-experiments")

            # The dashboard: its cards, and the pending promotion among the figures.
            page.screenshot(path=str(ARTIFACTS / "console-dashboard.png"), full_page=True)
            seen["dashboard"] = page.inner_text("#content")
            pending = page.locator("#card-experiments a[href$='/admin/experiments/promotion/?status__exact=pending']")
            seen["pending"] = pending.inner_text()
            pending.click()

            # The filtered list of promotions: approve the pending one through its action.
            page.wait_for_selector("#result_list")
            page.check(f"input.action-select[value='{promotion.pk}']")
            page.select_option("select[name=action]", "approve")
            page.fill("input[name=reason]", "Reviewed in the console: metrics hold.")
            page.click("button[name=index]")
            page.wait_for_selector("ul.messagelist li.success")
            seen["message"] = page.inner_text("ul.messagelist")
            page.screenshot(path=str(ARTIFACTS / "console-promotion-approved.png"), full_page=True)
            page.goto(f"{base}/admin/experiments/promotion/")
            page.wait_for_selector("#result_list")
            page.screenshot(path=str(ARTIFACTS / "console-promotions.png"), full_page=True)
            seen["promotions"] = page.inner_text("#result_list")

            # The audit log view: the approval, by this administrator.
            page.goto(f"{base}/admin/audits/auditlogrow/?entity=promotion&action=approve")
            page.wait_for_selector("#result_list")
            page.screenshot(path=str(ARTIFACTS / "console-audit-log.png"), full_page=True)
            seen["audit_log"] = page.inner_text("#result_list")
            first_row = page.locator("#result_list tbody tr").first
            first_row.locator("th a, td a").first.click()
            page.wait_for_selector("div.field-payload_json")
            seen["entry"] = page.inner_text("#content-main")

            # Verify the chain from the console, then look at the database's health.
            page.goto(f"{base}/admin/console/verify-chain/")
            page.click("#verify-form input[type=submit]")
            page.wait_for_selector("#verification-result")
            seen["verification"] = page.inner_text("#verification-result")
            page.screenshot(path=str(ARTIFACTS / "console-verify-chain.png"), full_page=True)
            page.goto(f"{base}/admin/console/database/")
            page.wait_for_selector("text=Index usage")
            page.screenshot(path=str(ARTIFACTS / "console-database-health.png"), full_page=False)
        finally:
            browser.close()

    assert "Promotions awaiting a decision" in seen["dashboard"] and "Audit chain" in seen["dashboard"]
    assert seen["pending"].strip() == "1"
    assert "Approved: 1." in seen["message"]
    assert "Approved" in seen["promotions"] or "approved" in seen["promotions"]
    assert admin.email in seen["audit_log"] and "approve" in seen["audit_log"]
    assert str(promotion.pk) in seen["entry"] and "Reviewed in the console" in seen["entry"]
    assert seen["verification"].startswith("OK") and "(console)" in seen["verification"]

    promotion.refresh_from_db()
    assert promotion.status == "approved" and promotion.approver_id == admin.pk
    approval = new_audit(entity="promotion", action="approve").get()
    assert approval.actor == admin.pk and approval.payload["id"] == str(promotion.pk)
    assert approval.sealed  # committed by the live server and sealed into the chain
    action = new_audit(entity="admin", action="action").get()
    assert action.actor == admin.pk
    assert action.payload == {
        "model": "experiments.promotion",
        "name": "approve",
        "ids": [str(promotion.pk)],
        "selected": 1,
        "more_selected": False,
        "refusals": 0,
        "request_id": action.payload["request_id"],
    }
    assert AuditEntry.objects.filter(entity="security", action="login_success", actor=admin.pk).exists()
    assert new_audit(entity="audit_log", action="verified", actor=admin.pk).exists()
    for name in ("console-dashboard.png", "console-promotions.png", "console-audit-log.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
