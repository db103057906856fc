"""The e-mailed links open real pages (issue 28): a GET shows a form and consumes nothing,
the POST uses the token and says what happened and where to go next; `/` links the
console, the API docs and the health endpoint."""

import re
from urllib.parse import unquote, urlsplit

import pytest
from django.test import Client

from accounts import services
from accounts.models import User


def link_from(message) -> str:
    match = re.search(r"https?://\S+\?token=\S+", message.body)
    assert match, message.body
    return match.group(0)


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def post_form(client, url, data):
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(urlsplit(url).path, {**data, "csrfmiddlewaretoken": token})


@pytest.mark.django_db
def test_the_verification_link_confirms_only_when_the_form_is_posted(
    make_user, mailoutbox, django_capture_on_commit_callbacks
):
    user = make_user(verified=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.email_verification_send(user=user)
    link = link_from(mailoutbox[-1])
    client = csrf_client()
    page = client.get(link)  # what a link scanner does
    assert page.status_code == 200 and b"Confirm my address" in page.content
    assert User.objects.get(pk=user.pk).verified is False
    token = unquote(link.split("token=", 1)[1])
    done = post_form(client, link, {"token": token})
    assert done.status_code == 200 and b"Address confirmed" in done.content and b"/api/v1/auth/login" in done.content
    assert User.objects.get(pk=user.pk).verified is True
    again = post_form(client, link, {"token": "not-a-token"})
    assert again.status_code == 400 and b"verify-email/resend" in again.content


@pytest.mark.django_db
def test_the_reset_link_sets_a_new_password_once(make_user, mailoutbox, django_capture_on_commit_callbacks):
    user = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        services.password_reset_request(email=user.email)
    link = link_from(mailoutbox[-1])
    token = unquote(link.split("token=", 1)[1])
    client = csrf_client()
    assert client.get(link).status_code == 200
    differ = post_form(client, link, {"token": token, "new_password": "a new long passphrase", "repeat": "other"})
    assert differ.status_code == 400 and b"The two passwords differ." in differ.content
    new = "a new long passphrase 42"
    done = post_form(client, link, {"token": token, "new_password": new, "repeat": new})
    assert done.status_code == 200 and b"Password changed" in done.content
    assert User.objects.get(pk=user.pk).check_password(new)
    used = post_form(client, link, {"token": token, "new_password": new + "x", "repeat": new + "x"})
    assert used.status_code == 400 and b"password-reset" in used.content
    assert User.objects.get(pk=user.pk).check_password(new)


@pytest.mark.django_db
def test_the_landing_page_links_the_console_the_docs_and_health():
    page = Client().get("/")
    assert page.status_code == 200
    for href in ("/admin/", "/api/docs/", "/healthz"):
        assert f'href="{href}"'.encode() in page.content
