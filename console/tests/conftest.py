"""Fixtures of the console tests: a row in every model the console shows (built through
the services, as production writes them), and console clients per kind of staff."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from projects.tests.fixtures import *  # noqa: F403  (project, superadmin, audit_entries)

API_KEY = "sk-console-test-Z9y8X7w6V5u4T3s2"


@pytest.fixture
def console_for():
    """console_for(user) → a Django test client logged in to the console as `user`."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


@pytest.fixture
def superuser_console(superadmin, console_for):
    return console_for(superadmin)


@pytest.fixture
def auditor(make_user):
    """A staff member of role viewer in the "Auditors" group (read-only console)."""
    user = make_user("viewer", name="Aude Auditor", is_staff=True)
    user.groups.add(Group.objects.get(name="Auditors"))
    return user


@pytest.fixture
def operator(make_user):
    """A staff member of role user in the "Operators" group."""
    user = make_user("user", name="Otis Operator", is_staff=True)
    user.groups.add(Group.objects.get(name="Operators"))
    return user


@pytest.fixture
def world(make_user, regular_user, admin_user, superadmin, project):
    """At least one row of every model the console shows, and every kind of secret the
    console must never render: a password hash, a sealed TOTP secret (and its plaintext),
    refresh-token / invitation / reset hashes, a sealed provider key and its data key."""
    from accounts import services as accounts
    from accounts import totp
    from audits.services import verification_record
    from audits.verify import VerifyResult
    from experiments import services as experiments
    from projects.models import Tag, Version
    from projects.services import policy_create, project_policy_attach
    from projects.tests.factories import PASSING, evaluating_experiment, quarantined_experiment
    from providers import services as providers
    from quarantine.services import reevaluation_request

    # Accounts.
    totp_user = make_user("user", name="Tia Totp")
    enrolment = accounts.totp_setup(user=totp_user)
    accounts.totp_confirm(user=totp_user, code=totp.code_at(enrolment.secret, time.time() - totp.STEP_SECONDS))
    totp_user.refresh_from_db()
    issued = accounts.session_create(user=regular_user)
    invitation, invitation_code = accounts.invitation_create(actor=admin_user)
    reset_token = accounts._password_reset_issue(user=regular_user, ttl=timedelta(hours=1), actor=None)
    accounts.security_event_record(action="login_success", status="success", user=regular_user)

    # Zones: a pending promotion, a quarantined config with a re-evaluation request.
    evaluating, evaluation = evaluating_experiment(project, regular_user, confidence=0.5)
    experiments.evaluation_override(evaluation=evaluation, verdict="pass", reason="ok", actor=admin_user)
    promotion = experiments.promotion_request(experiment=evaluating, actor=regular_user)
    quarantined, record = quarantined_experiment(project, regular_user)
    reevaluation = reevaluation_request(record=record, reason="retry", actor=regular_user)
    v2 = Version.objects.get(project=project, tag=Tag.V2)
    experiments.comparison_create(
        experiment=evaluating, v2_version=v2, v1_metrics=PASSING, v2_metrics=PASSING, actor=regular_user
    )
    policy = policy_create(name="console policy", rego_code="package console", actor=admin_user)
    project_policy_attach(project=project, policy=policy, actor=regular_user)

    # Providers: an unhealthy catalog entry, a user's key, a quota crossed (alerts).
    provider = providers.provider_create(
        actor=admin_user,
        name="Console Provider",
        provider_type="openai",
        model_name="gpt-console",
        api_endpoint="https://api.example.com/v1",
        cost_per_1k_tokens=Decimal("1"),
        timeout_seconds=5,
    )
    for _ in range(3):  # three failures in a row: unhealthy
        providers.provider_health_record(
            results=[providers.ProbeResult(provider.pk, False, 12, "HTTP 502 from upstream", provider.created_at)]
        )
    key = providers.provider_key_create(
        user=regular_user, provider_type="openai", provider_name="Mine", api_key=API_KEY
    )
    quota, _ = providers.quota_set(user=regular_user, actor=admin_user, daily_cost_limit=Decimal("1"))
    providers.usage_record(user=regular_user, provider=provider, model="gpt-console", tokens_input=900, tokens_output=0)

    # Production: a session with a finished task, an artifact and a review.
    from production import services as production

    analysis = production.session_create(project=project, actor=regular_user)
    task = production.task_create(session=analysis, type="static", actor=regular_user)
    production.task_update(task=task, status="running", actor=regular_user)
    production.task_update(task=task, status="completed", result={"findings": 2}, actor=regular_user)
    production.artifact_create(
        session=analysis,
        actor=regular_user,
        type="report",
        s3_uri="s3://reports/console/report.json",
        sha256="a" * 64,
        size_bytes=2048,
    )
    production.code_review_create(
        session=analysis,
        actor=regular_user,
        code_language="python",
        code_length=120,
        overall_score=Decimal("87.5"),
        vulnerabilities_count=1,
        issues_count=3,
    )

    # Audits: a verification run, and a statistics row (the sequencer keeps them; in a
    # test transaction nothing is sealed).
    verification_record(result=VerifyResult(checked=0), source="test")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audits.audit_daily_counts (day, entity, action, count) VALUES (current_date, %s, %s, 1) "
            "ON CONFLICT (day, entity, action) DO UPDATE SET count = audits.audit_daily_counts.count + 1",
            ["console_test", "seen"],
        )

    from accounts.models import PasswordReset, Session, User
    from providers.models import UserProvider

    stored_key = UserProvider.objects.get(pk=key.pk)
    secrets = {
        *User.objects.exclude(password="").values_list("password", flat=True),
        *User.objects.exclude(totp_secret="").values_list("totp_secret", flat=True),
        enrolment.secret,
        issued.refresh,
        issued.access,
        *Session.objects.values_list("refresh_token_hash", flat=True),
        invitation_code,
        invitation.code_hash,
        reset_token,
        *PasswordReset.objects.values_list("token_hash", flat=True),
        API_KEY,
        stored_key.encrypted_api_key,
        stored_key.encrypted_dek,
    }
    secrets.discard("")
    return {
        "analysis": analysis,
        "totp_user": totp_user,
        "promotion": promotion,
        "evaluating": evaluating,
        "quarantined": quarantined,
        "record": record,
        "reevaluation": reevaluation,
        "provider": provider,
        "key": key,
        "quota": quota,
        "invitation": invitation,
        "secrets": secrets,
    }
