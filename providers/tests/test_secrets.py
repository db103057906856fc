"""No plaintext key anywhere: not in a full dump of the database after keys are stored,
replaced, revealed and refused, not in any API response, admin page or log line."""

import glob
import logging
import shutil
import subprocess

import pytest
from django.db import connection
from django.test import Client

from providers import services
from providers.models import UserProvider

KEYS = {
    "openai": "sk-proj-PLAINTEXT-openai-7Hq2Zx9Lw4Kp",
    "anthropic": "sk-ant-PLAINTEXT-anthropic-3Mv8Rt6Yb1",
    "replacement": "sk-proj-PLAINTEXT-replaced-5Dn0Gc2Fs8",
    "refused": "sk-proj-PLAINTEXT-duplicate-9Ww1Ee3Rr5",
}


def _pg_dump() -> str:
    binary = shutil.which("pg_dump") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)), None
    )
    assert binary, "pg_dump is needed for this test"
    params = connection.get_connection_params()
    command = [binary, "--no-owner", "--dbname", params["dbname"], "--username", params.get("user") or "postgres"]
    if params.get("host"):
        command += ["--host", params["host"]]
    if params.get("port"):
        command += ["--port", str(params["port"])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_no_plaintext_key_in_a_full_database_dump(api_client_for, regular_user, make_user, caplog):
    staff = make_user("admin", is_superuser=True)
    client = api_client_for(regular_user)
    seen = []
    with caplog.at_level(logging.DEBUG):
        for provider_type in ("openai", "anthropic"):
            response = client.post(
                "/api/v1/me/providers/",
                {"provider_type": provider_type, "provider_name": provider_type, "api_key": KEYS[provider_type]},
            )
            assert response.status_code == 201
            seen.append(response.content.decode())
        row = UserProvider.objects.get(user=regular_user, provider_type="openai")
        response = client.patch(f"/api/v1/me/providers/{row.pk}", {"api_key": KEYS["replacement"]})
        seen.append(response.content.decode())
        response = client.post(
            "/api/v1/me/providers/", {"provider_type": "openai", "provider_name": "x", "api_key": KEYS["refused"]}
        )
        assert response.status_code == 409
        seen.append(response.content.decode())
        assert (
            services.provider_key_reveal(user=regular_user, provider_type="openai", purpose="t") == KEYS["replacement"]
        )
        seen.append(client.get("/api/v1/me/providers/").content.decode())
        admin = Client()
        admin.force_login(staff)
        for url in (
            "/admin/providers/userprovider/",
            f"/admin/providers/userprovider/{row.pk}/change/",
        ):
            page = admin.get(url)
            assert page.status_code == 200
            seen.append(page.content.decode())
    dump = _pg_dump()
    assert "ENC4:" in dump  # the sealed values are there, so the dump did include the table
    for key in KEYS.values():
        # Neither the key nor any distinctive part of it.
        assert key not in dump and key[:-4] not in dump and key[8:24] not in dump
        for text in seen:
            assert key not in text and key[:-4] not in text
        assert key not in caplog.text
    assert "ENC4:" not in "".join(seen)
