"""The console at laptop width (issue 28), in Debian's Chromium at 1,400 px: change lists
keep each row's name on one line with every column visible, the experiment page shows
its config as indented JSON with links to its evaluations, promotions and audit entries,
an object's History lists its audit trail, an add form has no read-only field and no
pre-generated id, and names keep their capitalisation (no CSS capitals). Same rules as
console/tests/test_browser.py (no database work while the browser runs)."""

from __future__ import annotations

import json

import pytest

from console.tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PASSWORD, chromium, scene  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 1400
CHANGELISTS = [
    "experiments/experiment",
    "experiments/promotion",
    "experiments/evaluation",
    "projects/project",
    "providers/provider",
    "providers/usagetracking",
    "providers/userprovider",
    "accounts/user",
    "audits/auditlogrow",
    "quarantine/quarantinerecord",
]

# For each row of the change list: does its first cell (the name, linked) wrap onto a
# second line; and is any column past the right edge of the window?
MEASURE = """() => {
  const table = document.querySelector('#result_list');
  if (!table) return {rows: 0, wrapped: [], clipped: [], overflow: false};
  const wrapped = [];
  for (const row of table.querySelectorAll('tbody tr')) {
    const cell = row.querySelector('th, td.field-name, td:nth-child(2)');
    const link = cell && (cell.querySelector('a') || cell);
    if (link && link.getClientRects().length > 1) wrapped.push(link.innerText);
  }
  const clipped = [];
  for (const th of table.querySelectorAll('thead th')) {
    if (th.getBoundingClientRect().right > window.innerWidth + 1) clipped.push(th.innerText.trim());
  }
  return {rows: table.querySelectorAll('tbody tr').length, wrapped, clipped,
          overflow: document.documentElement.scrollWidth > window.innerWidth};
}"""


def test_the_console_reads_well_at_1400_px(chromium, live_server, scene):  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    admin, experiment = scene["admin"], scene["experiment"]
    base = live_server.url
    measured, seen = {}, {}
    with chromium.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", admin.email)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector("#card-experiments")
            seen["user_tools"] = page.inner_text("#user-tools")  # innerText: as displayed, CSS capitals included
            seen["dashboard"] = page.inner_text("#content")

            for changelist in CHANGELISTS:
                page.goto(f"{base}/admin/{changelist}/")
                page.wait_for_selector("#changelist")
                measured[changelist] = page.evaluate(MEASURE)
                page.screenshot(path=str(ARTIFACTS / f"console-1400-{changelist.replace('/', '-')}.png"))

            page.goto(f"{base}/admin/experiments/experiment/{experiment.pk}/change/")
            page.wait_for_selector("div.field-config_json")
            seen["config"] = page.inner_text("div.field-config_json pre")
            seen["related"] = page.locator("div.field-related a").all_inner_texts()
            page.screenshot(path=str(ARTIFACTS / "console-1400-experiment.png"), full_page=True)
            page.locator("div.field-related a", has_text="audit entries").click()
            page.wait_for_selector("#audit-trail")
            seen["history"] = page.inner_text("#audit-trail")
            page.screenshot(path=str(ARTIFACTS / "console-1400-history.png"), full_page=True)

            page.goto(f"{base}/admin/projects/project/add/")
            page.wait_for_selector("form")
            seen["add_fields"] = page.eval_on_selector_all("form .form-row", "rows => rows.map(r => r.className)")
            seen["add_readonly"] = page.locator("form div.readonly").count()
        finally:
            browser.close()

    (ARTIFACTS / "console-1400-measured.json").write_text(json.dumps(measured, indent=2))
    crowded = {name: r for name, r in measured.items() if r["wrapped"] or r["clipped"] or r["overflow"]}
    assert crowded == {}
    assert measured["experiments/experiment"]["rows"] >= 1 and measured["providers/provider"]["rows"] >= 2
    # Names as written: the user's e-mail, the zones' "v1" and "v2", "AI" (not in capitals).
    assert admin.email in seen["user_tools"]
    assert "Promotions v1 → v2" in seen["dashboard"] and "Experiments (v1 zone)" in seen["dashboard"]
    assert "AI providers" in seen["dashboard"]
    assert '\n  "' in seen["config"]  # indented JSON
    assert seen["related"] == ["evaluations", "promotions", "audit entries"]
    assert "create" in seen["history"] and "experiment" in seen["history"]
    assert seen["add_readonly"] == 0
    assert not any("field-id" in name or "field-created_at" in name for name in seen["add_fields"])
