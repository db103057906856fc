"""Access tokens bound to sessions, refresh rotation and reuse detection, logout, and
GET/DELETE /auth/sessions."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services, tokens
from accounts.models import RevokeReason, SecurityEvent, Session
from accounts.tests.conftest import audit_actions, bearer, login
from core.testing import assert_error

pytestmark = pytest.mark.django_db


def _tokens(client, user):
    response = login(client, user.email)
    assert response.status_code == 200, response.content
    return response.json()


# --- access tokens ----------------------------------------------------------------------


def test_revoking_a_session_kills_its_access_token_on_the_next_request(anon_client, regular_user):
    issued = _tokens(anon_client, regular_user)
    client = bearer(issued["access"])
    assert client.get("/api/v1/auth/me").status_code == 200
    services.session_revoke(session=Session.objects.get(user=regular_user), reason=RevokeReason.ADMIN, actor=None)
    assert_error(client.get("/api/v1/auth/me"), 401, "not_authenticated")


def test_expired_or_tampered_access_tokens_are_401(regular_user):
    session = services.session_create(user=regular_user).session
    old, _ = tokens.mint_access_token(session.pk, now=timezone.now() - timedelta(hours=1))
    assert_error(bearer(old).get("/api/v1/auth/me"), 401, "not_authenticated")
    good, _ = tokens.mint_access_token(session.pk)
    head, exp, mac = good.split(".")
    forged = f"{head}.{int(exp) + 3600}.{mac}"  # longer life, same signature
    assert_error(bearer(forged).get("/api/v1/auth/me"), 401, "not_authenticated")
    assert bearer(good).get("/api/v1/auth/me").status_code == 200


def test_deactivated_users_tokens_stop_working(admin_user, regular_user):
    client = bearer(services.session_create(user=regular_user).access)
    services.user_update(user=regular_user, actor=admin_user, is_active=False)
    assert_error(client.get("/api/v1/auth/me"), 401, "not_authenticated")
    assert not Session.objects.active().filter(user=regular_user).exists()


def test_authenticated_request_costs_one_query_after_the_first(regular_user):
    client = bearer(services.session_create(user=regular_user).access)
    client.get("/api/v1/auth/me")  # first use stamps last_used
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/auth/me").status_code == 200
    assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]


# --- refresh ----------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_is_dead(anon_client, regular_user):
    first = _tokens(anon_client, regular_user)
    response = anon_client.post("/api/v1/auth/refresh", {"refresh": first["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["refresh"] != first["refresh"] and second["access"] != first["access"]
    assert bearer(second["access"]).get("/api/v1/auth/me").status_code == 200
    # The old session is revoked: its access token stops too.
    assert_error(bearer(first["access"]).get("/api/v1/auth/me"), 401, "not_authenticated")
    old = Session.objects.get(refresh_token_hash=tokens.hash_secret(first["refresh"]))
    assert old.revoked_reason == "rotated" and old.replaced_by_id is not None
    assert ("session", "rotate") in audit_actions("session")


def test_reusing_a_rotated_refresh_token_revokes_every_session(anon_client, regular_user):
    phone = _tokens(anon_client, regular_user)
    laptop = _tokens(anon_client, regular_user)
    rotated = anon_client.post("/api/v1/auth/refresh", {"refresh": phone["refresh"]}, format="json").json()

    replay = anon_client.post("/api/v1/auth/refresh", {"refresh": phone["refresh"]}, format="json")
    assert_error(replay, 401, "invalid_token")

    assert not Session.objects.active().filter(user=regular_user).exists()
    for access in (laptop["access"], rotated["access"]):
        assert_error(bearer(access).get("/api/v1/auth/me"), 401, "not_authenticated")
    assert_error(
        anon_client.post("/api/v1/auth/refresh", {"refresh": rotated["refresh"]}, format="json"),
        401,
        "invalid_token",
    )
    event = SecurityEvent.objects.get(action="token_reuse")
    assert event.user_id == regular_user.pk and event.status == "failure"
    assert event.details["sessions_revoked"] == 2
    assert ("security", "token_reuse") in audit_actions("security")


@pytest.mark.parametrize("case", ["unknown", "expired", "logged_out", "inactive"])
def test_refresh_refusals_are_401_without_theft_alarm(anon_client, make_user, case):
    user = make_user("user")
    issued = _tokens(anon_client, user)
    refresh = issued["refresh"]
    if case == "unknown":
        refresh = tokens.new_secret()
    elif case == "expired":
        Session.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "logged_out":
        assert bearer(issued["access"]).post("/api/v1/auth/logout", {}, format="json").status_code == 204
    else:
        user.__class__.objects.filter(pk=user.pk).update(is_active=False)
    assert_error(anon_client.post("/api/v1/auth/refresh", {"refresh": refresh}, format="json"), 401, "invalid_token")
    assert not SecurityEvent.objects.filter(action="token_reuse").exists()


def test_refresh_needs_a_string(anon_client):
    assert_error(anon_client.post("/api/v1/auth/refresh", {}, format="json"), 400, "validation_error")
    assert_error(anon_client.post("/api/v1/auth/refresh", {"refresh": 1}, format="json"), 400, "validation_error")


# --- logout -----------------------------------------------------------------------------


def test_logout_with_the_refresh_token_ends_that_session_only(anon_client, regular_user):
    one = _tokens(anon_client, regular_user)
    two = _tokens(anon_client, regular_user)
    response = bearer(one["access"]).post("/api/v1/auth/logout", {"refresh": two["refresh"]}, format="json")
    assert response.status_code == 204
    assert_error(bearer(two["access"]).get("/api/v1/auth/me"), 401, "not_authenticated")
    assert bearer(one["access"]).get("/api/v1/auth/me").status_code == 200
    assert SecurityEvent.objects.filter(user=regular_user, action="logout").count() == 1
    # Idempotent.
    assert (
        bearer(one["access"]).post("/api/v1/auth/logout", {"refresh": two["refresh"]}, format="json").status_code == 204
    )


def test_logout_without_body_ends_the_current_session(anon_client, viewer_user):
    issued = _tokens(anon_client, viewer_user)
    client = bearer(issued["access"])
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert_error(client.get("/api/v1/auth/me"), 401, "not_authenticated")


def test_logout_with_an_expired_access_token_but_the_refresh_token(anon_client, regular_user):
    issued = _tokens(anon_client, regular_user)
    response = anon_client.post("/api/v1/auth/logout", {"refresh": issued["refresh"]}, format="json")
    assert response.status_code == 204
    assert not Session.objects.active().filter(user=regular_user).exists()


def test_logout_refusals(anon_client, regular_user, other_user):
    mine = _tokens(anon_client, regular_user)
    theirs = _tokens(anon_client, other_user)
    assert_error(
        bearer(mine["access"]).post("/api/v1/auth/logout", {"refresh": theirs["refresh"]}, format="json"),
        400,
        "invalid_token",
    )
    assert bearer(theirs["access"]).get("/api/v1/auth/me").status_code == 200
    assert_error(anon_client.post("/api/v1/auth/logout", {}, format="json"), 401, "not_authenticated")
    assert_error(anon_client.post("/api/v1/auth/logout", {"refresh": "nope"}, format="json"), 400, "invalid_token")


# --- my sessions ------------------------------------------------------------------------


def test_list_my_live_sessions_with_the_current_one_marked(anon_client, regular_user, other_user):
    a = _tokens(anon_client, regular_user)
    _tokens(anon_client, regular_user)
    _tokens(anon_client, other_user)
    dead = _tokens(anon_client, regular_user)
    anon_client.post("/api/v1/auth/logout", {"refresh": dead["refresh"]}, format="json")

    body = bearer(a["access"]).get("/api/v1/auth/sessions").json()
    assert body["count"] == 2
    assert [s["current"] for s in body["results"]].count(True) == 1
    assert all("refresh_token_hash" not in s for s in body["results"])
    everything = bearer(a["access"]).get("/api/v1/auth/sessions?include_revoked=true").json()
    assert everything["count"] == 3


def test_revoke_one_of_my_sessions(anon_client, viewer_user):
    a = _tokens(anon_client, viewer_user)
    b = _tokens(anon_client, viewer_user)
    b_id = Session.objects.get(refresh_token_hash=tokens.hash_secret(b["refresh"])).pk
    response = bearer(a["access"]).delete(f"/api/v1/auth/sessions/{b_id}")
    assert response.status_code == 204
    assert_error(bearer(b["access"]).get("/api/v1/auth/me"), 401, "not_authenticated")
    event = SecurityEvent.objects.get(action="session_revoked")
    assert event.details == {"reason": "revoked"} and event.resource == f"session:{b_id}"


def test_another_users_session_is_a_404(anon_client, regular_user, other_user):
    mine = _tokens(anon_client, regular_user)
    theirs = _tokens(anon_client, other_user)
    their_id = Session.objects.get(refresh_token_hash=tokens.hash_secret(theirs["refresh"])).pk
    client = bearer(mine["access"])
    assert_error(client.get(f"/api/v1/auth/sessions/{their_id}"), 404, "not_found")
    assert_error(client.delete(f"/api/v1/auth/sessions/{their_id}"), 404, "not_found")
    assert bearer(theirs["access"]).get("/api/v1/auth/me").status_code == 200


def test_sessions_need_authentication(anon_client):
    assert_error(anon_client.get("/api/v1/auth/sessions"), 401, "not_authenticated")


def test_session_list_costs_constant_queries(regular_user):
    client = bearer(services.session_create(user=regular_user).access)
    client.get("/api/v1/auth/sessions")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/auth/sessions").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for _ in range(10):
        services.session_create(user=regular_user)
    assert count() == few


def test_token_lookup_builds_the_same_objects_as_the_orm(regular_user):
    from accounts.models import User

    User.objects.filter(pk=regular_user.pk).update(settings={"theme": "dark", "n": [1, 2]})
    issued = services.session_create(user=regular_user)
    session = tokens.resolve_access_token(issued.access)
    expected_session = Session.objects.get(pk=issued.session.pk)
    expected_user = User.objects.get(pk=regular_user.pk)
    for field in Session._meta.concrete_fields:
        if field.name != "last_used":  # stamped by this very lookup
            assert getattr(session, field.attname) == getattr(expected_session, field.attname), field.name
    for field in User._meta.concrete_fields:
        assert getattr(session.user, field.attname) == getattr(expected_user, field.attname), field.name
    assert session.user.settings == {"theme": "dark", "n": [1, 2]} and isinstance(session.device_info, dict)
    assert not session._state.adding and session.user._state.db == "default"


@pytest.mark.django_db(transaction=True)
def test_token_lookup_survives_reconnects_and_runs_unprepared_behind_pgbouncer(regular_user):
    issued = services.session_create(user=regular_user)
    assert tokens.resolve_access_token(issued.access) is not None
    connection.close()  # a new server session: the statement is prepared again
    assert tokens.resolve_access_token(issued.access).pk == issued.session.pk
    options = connection.settings_dict["OPTIONS"]
    options["search_path_in_options"] = False
    try:
        with CaptureQueriesContext(connection) as ctx:
            assert tokens.resolve_access_token(issued.access).pk == issued.session.pk
        assert not any("EXECUTE" in q["sql"] for q in ctx.captured_queries)
    finally:
        options.pop("search_path_in_options")
