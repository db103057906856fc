"""The Grafana dashboard and the Prometheus alert rules in docs/observability/ name only
metrics that /metrics exports."""

import json
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

DOCS = Path(settings.BASE_DIR) / "docs" / "observability"
METRIC = re.compile(r"\btristate_[a-z0-9_]+")
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}


def exported_names(settings) -> set[str]:
    """Every sample name /metrics can carry: from its TYPE lines, present even for
    families with no sample yet (a label set never used, no replica configured)."""
    settings.METRICS_TOKEN = "docs-test-token"
    response = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer docs-test-token")
    assert response.status_code == 200
    names = set()
    for line in response.content.decode().splitlines():
        if line.startswith("# TYPE tristate_"):
            _, _, name, kind = line.split()
            base = name.removesuffix("_total") if kind == "counter" else name
            names |= {base + suffix for suffix in SUFFIXES.get(kind, [""])}
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = []

    def walk(panels):
        for panel in panels:
            exprs.extend(target["expr"] for target in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v.get("type") == "query"]
    return exprs


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load((DOCS / "alerts.yml").read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def test_every_metric_the_dashboard_names_is_exported(settings):
    exported = exported_names(settings)
    named = {name for expr in dashboard_expressions() for name in METRIC.findall(expr)}
    assert len(named) >= 25, "the dashboard should cover HTTP, database, audit chain and domain figures"
    assert sorted(named - exported) == []


def test_every_metric_the_alert_rules_name_is_exported(settings):
    exported = exported_names(settings)
    alerts = alert_expressions()
    wanted = ("5xx", "P95", "SealerLag", "VerificationFailed", "PartitionsMissing", "ProviderUnhealthy", "Replica")
    for needed in wanted:
        assert any(needed.lower() in name.lower() for name in alerts), needed
    for alert, expr in alerts.items():
        names = set(METRIC.findall(expr))
        assert names, alert
        assert sorted(names - exported) == [], alert


def test_the_request_metrics_carry_no_raw_path_label(settings):
    """Labels are bounded: route templates, methods, statuses; never a path or an id."""
    exported = exported_names(settings)
    assert "tristate_http_requests_total" in exported
    text = (DOCS / "grafana-dashboard.json").read_text() + (DOCS / "alerts.yml").read_text()
    assert "path=" not in text and "user_id" not in text
