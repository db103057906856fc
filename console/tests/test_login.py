"""The console's login and the API's share one lockout (accounts.services.password_login):
failures on either lock both."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from core.testing import assert_error

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _no_throttle_carry_over():
    cache.clear()
    yield
    cache.clear()


def _console_login(email: str, password: str):
    client = Client()
    return client, client.post(reverse("admin:login"), {"username": email, "password": password, "otp": ""})


def test_failures_on_the_api_lock_the_console(admin_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    api = APIClient()
    for _ in range(3):
        api.post("/api/v1/auth/login", {"email": admin_user.email, "password": "wrong"}, format="json")
    client, response = _console_login(admin_user.email, PASSWORD)
    assert response.status_code == 200 and "locked" in response.content.decode().lower()
    assert client.get(reverse("admin:index")).status_code == 302  # still not logged in


def test_failures_on_the_console_lock_the_api(admin_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        _console_login(admin_user.email, "wrong")
    response = APIClient().post("/api/v1/auth/login", {"email": admin_user.email, "password": PASSWORD}, format="json")
    assert_error(response, 423, "account_locked")
    assert int(response["Retry-After"]) > 0


def test_a_console_login_is_a_security_event(admin_user, new_audit):
    client, response = _console_login(admin_user.email, PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    assert new_audit(entity="security", action="login_success", actor=admin_user.pk).exists()
