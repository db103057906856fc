"""After every accounts flow has run, no column of any table in the database holds a
token, code, password or TOTP secret in plain text: a dump lets nobody log in."""

import time

import pytest
from django.db import connection

from accounts import services, totp
from accounts.tests.conftest import NEW_PASSWORD, bearer, login, token_from_mail

pytestmark = pytest.mark.django_db

PASSWORD = "first passphrase 123"


def _all_rows_as_text() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
            """
        )
        tables = cursor.fetchall()
        assert ("accounts", "users") in tables and ("audits", "audit_log") in tables
        rows = []
        for schema, table in tables:
            cursor.execute(f'SELECT t::text FROM "{schema}"."{table}" AS t')
            rows += [f"{schema}.{table}: {row[0]}" for row in cursor.fetchall()]
    return rows


def test_a_database_dump_holds_no_secret(anon_client, admin_user, mailoutbox, run_on_commit):
    secrets = {}
    admin = bearer(services.session_create(user=admin_user).access)

    created = admin.post("/api/v1/invitations/", {"role": "user", "max_uses": 2}, format="json").json()
    secrets["invitation code"] = created["code"]
    with run_on_commit():
        response = anon_client.post(
            "/api/v1/auth/register",
            {"email": "scan@example.com", "password": PASSWORD, "invitation_code": created["code"]},
            format="json",
        )
    assert response.status_code == 201
    secrets["verification token"] = token_from_mail(mailoutbox[-1])
    assert (
        anon_client.post(
            "/api/v1/auth/verify-email", {"token": secrets["verification token"]}, format="json"
        ).status_code
        == 200
    )

    first = login(anon_client, "scan@example.com", PASSWORD).json()
    secrets["access token"], secrets["refresh token"] = first["access"], first["refresh"]
    client = bearer(first["access"])
    enrolment = client.post("/api/v1/auth/totp/setup").json()
    secrets["totp secret"] = enrolment["secret"]
    secrets["otpauth uri"] = enrolment["otpauth_uri"]
    code = totp.code_at(enrolment["secret"], time.time() - totp.STEP_SECONDS)
    assert client.post("/api/v1/auth/totp/confirm", {"code": code}, format="json").status_code == 200

    second = login(anon_client, "scan@example.com", PASSWORD, otp=totp.code_at(enrolment["secret"], time.time())).json()
    rotated = anon_client.post("/api/v1/auth/refresh", {"refresh": second["refresh"]}, format="json").json()
    secrets["second refresh token"], secrets["rotated refresh token"] = second["refresh"], rotated["refresh"]
    secrets["rotated access token"] = rotated["access"]

    with run_on_commit():
        anon_client.post("/api/v1/auth/password-reset", {"email": "scan@example.com"}, format="json")
    secrets["reset token"] = token_from_mail(mailoutbox[-1])
    confirm = anon_client.post(
        "/api/v1/auth/password-reset/confirm",
        {"token": secrets["reset token"], "new_password": NEW_PASSWORD},
        format="json",
    )
    assert confirm.status_code == 204
    secrets["password"], secrets["new password"] = PASSWORD, NEW_PASSWORD

    rows = _all_rows_as_text()
    assert len(rows) > 30  # the flow really wrote: users, sessions, events, audit entries
    text = "\n".join(rows).lower()
    for name, value in secrets.items():
        assert value.lower() not in text, f"{name} found in the database"
    # What is there instead: hashes and sealed boxes.
    from accounts.models import User

    user = User.objects.get(email="scan@example.com")
    assert user.totp_secret.startswith("ENC4:") and user.password.startswith(("argon2", "md5"))
