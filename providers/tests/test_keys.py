"""Users' API keys: envelope encryption round trip, tamper and move detection, reveal,
update/replace/delete, and the audit entries (which never hold the key)."""

import base64
import json
import logging

import pytest
from django.db import connection

from core import crypto
from core.exceptions import Conflict, NotFound, ValidationFailed
from providers import services
from providers.models import UserProvider, key_context

pytestmark = pytest.mark.django_db

KEY = "sk-proj-Zq8v1NfX3mW9rT2yK7pL4sD6hJ0aB5cE"


def _store(user, provider_type="openai", api_key=KEY, **kw):
    return services.provider_key_create(
        user=user, provider_type=provider_type, provider_name=kw.pop("provider_name", "OpenAI"), api_key=api_key, **kw
    )


def _flip_last_byte(value: str) -> str:
    head, _, blob = value.rpartition(":")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 0x01
    return f"{head}:{base64.b64encode(bytes(raw)).decode()}"


def test_store_seals_with_a_fresh_dek_and_reveal_round_trips(regular_user):
    row = _store(regular_user)
    row.refresh_from_db()
    assert row.key_last_4_chars == KEY[-4:]
    assert row.encrypted_api_key.startswith("ENC4:") and KEY not in row.encrypted_api_key
    kek = crypto.get_kms().current_key_id()
    assert row.encrypted_dek.startswith(f"ENC4:{kek}:")
    # AES-256-GCM: 12-byte nonce + ciphertext + 16-byte tag; the DEK is 32 bytes.
    assert len(base64.b64decode(row.encrypted_api_key.split(":")[1])) == 12 + len(KEY) + 16
    assert len(base64.b64decode(row.encrypted_dek.split(":")[2])) == 12 + 32 + 16
    assert services.provider_key_reveal(user_provider=row, actor=regular_user, purpose="review") == KEY

    other = _store(regular_user, provider_type="anthropic", api_key=KEY)
    assert other.encrypted_dek != row.encrypted_dek and other.encrypted_api_key != row.encrypted_api_key


def test_reveal_by_user_and_type_is_audited_without_the_key(regular_user, new_audit):
    row = _store(regular_user)
    before = new_audit(entity="user_provider", action="reveal").count()
    assert services.provider_key_reveal(user=regular_user, provider_type="openai", purpose="analysis 42") == KEY
    entry = new_audit(entity="user_provider", action="reveal").order_by("-id").first()
    assert new_audit(entity="user_provider", action="reveal").count() == before + 1
    assert entry.payload["id"] == str(row.pk) and entry.payload["purpose"] == "analysis 42"
    assert KEY not in json.dumps(entry.payload) and KEY[:-4] not in json.dumps(entry.payload)


def test_reveal_refuses_missing_and_inactive_keys(regular_user):
    with pytest.raises(NotFound):
        services.provider_key_reveal(user=regular_user, provider_type="openai")
    row = _store(regular_user)
    services.provider_key_update(user_provider=row, actor=regular_user, is_active=False)
    with pytest.raises(Conflict):
        services.provider_key_reveal(user=regular_user, provider_type="openai")


@pytest.mark.parametrize("column", ["encrypted_api_key", "encrypted_dek"])
def test_tampered_ciphertext_or_dek_fails_loudly(regular_user, column, caplog):
    row = _store(regular_user)
    UserProvider.objects.filter(pk=row.pk).update(**{column: _flip_last_byte(getattr(row, column))})
    row.refresh_from_db()
    with caplog.at_level(logging.ERROR), pytest.raises(crypto.DecryptionError):
        services.provider_key_reveal(user_provider=row)
    assert str(row.pk) in caplog.text and KEY not in caplog.text


def test_key_moved_to_another_users_row_fails(regular_user, other_user):
    mine = _store(regular_user)
    theirs = _store(other_user, api_key="sk-other-key-0000000000")
    # An attacker with database access copies my sealed key into their own row.
    UserProvider.objects.filter(pk=theirs.pk).update(
        encrypted_api_key=mine.encrypted_api_key, encrypted_dek=mine.encrypted_dek
    )
    theirs.refresh_from_db()
    with pytest.raises(crypto.DecryptionError):
        services.provider_key_reveal(user_provider=theirs)
    # ... or into another provider type of mine.
    anthropic = _store(regular_user, provider_type="anthropic", api_key="sk-ant-0000000000000")
    UserProvider.objects.filter(pk=anthropic.pk).update(
        encrypted_api_key=mine.encrypted_api_key, encrypted_dek=mine.encrypted_dek
    )
    anthropic.refresh_from_db()
    with pytest.raises(crypto.DecryptionError):
        services.provider_key_reveal(user_provider=anthropic)


def test_swapping_the_payload_of_two_keys_of_the_same_row_context_fails(regular_user):
    """The DEK and the payload belong together: another envelope's payload under this DEK fails."""
    row = _store(regular_user)
    other = crypto.seal("sk-different-0000", context=key_context(regular_user.pk, "openai"))
    UserProvider.objects.filter(pk=row.pk).update(encrypted_api_key=other.sealed)
    row.refresh_from_db()
    with pytest.raises(crypto.DecryptionError):
        services.provider_key_reveal(user_provider=row)


def test_one_key_per_user_and_type(regular_user):
    _store(regular_user)
    with pytest.raises(Conflict) as exc:
        _store(regular_user, api_key="sk-second-key-000000")
    assert KEY not in exc.value.message and "sk-second" not in exc.value.message


@pytest.mark.parametrize(
    "bad",
    ["short", "has space inside key", "tab\tkey-123456", "x" * 1025, "ünicode-key-123", "", None, 12345678],
)
def test_bad_keys_are_refused_without_echoing_them(regular_user, bad):
    with pytest.raises(ValidationFailed) as exc:
        _store(regular_user, api_key=bad)
    assert exc.value.details.keys() == {"api_key"}
    text = exc.value.message + json.dumps(exc.value.details)
    assert not (isinstance(bad, str) and len(bad) >= 4 and bad in text)


def test_bad_provider_type_and_name_are_refused(regular_user):
    with pytest.raises(ValidationFailed) as exc:
        _store(regular_user, provider_type="mistral")
    assert "provider_type" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        _store(regular_user, provider_name="   ")
    assert "provider_name" in exc.value.details


def test_replace_key_makes_a_new_envelope_and_is_audited(regular_user, new_audit):
    row = _store(regular_user)
    old_sealed, old_dek = row.encrypted_api_key, row.encrypted_dek
    new_key = "sk-proj-REPLACEMENT-9876"
    row = services.provider_key_update(user_provider=row, actor=regular_user, api_key=new_key, model_name="gpt-4o")
    row.refresh_from_db()
    assert row.encrypted_api_key != old_sealed and row.encrypted_dek != old_dek
    assert row.key_last_4_chars == "9876" and row.model_name == "gpt-4o"
    assert services.provider_key_reveal(user_provider=row) == new_key
    entry = new_audit(entity="user_provider", action="update").order_by("-id").first()
    assert entry.payload["fields"] == ["model_name", "api_key"] and entry.payload["last4"] == "9876"
    assert new_key not in json.dumps(entry.payload)


def test_update_without_changes_writes_nothing(regular_user, new_audit):
    row = _store(regular_user)
    before = new_audit().count()
    services.provider_key_update(user_provider=row, actor=regular_user, is_active=True, provider_name="OpenAI")
    assert new_audit().count() == before


def test_delete_is_audited(regular_user, new_audit):
    row = _store(regular_user)
    services.provider_key_delete(user_provider=row, actor=regular_user)
    assert not UserProvider.objects.filter(pk=row.pk).exists()
    entry = new_audit(entity="user_provider", action="delete").get()
    assert entry.payload["id"] == str(row.pk) and entry.actor == regular_user.pk
    with pytest.raises(NotFound):
        services.provider_key_delete(user_provider=row, actor=regular_user)


def test_database_refuses_unsealed_values(regular_user):
    from django.db import IntegrityError, transaction

    row = _store(regular_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        UserProvider.objects.filter(pk=row.pk).update(encrypted_api_key=KEY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_api_key FROM providers.user_providers WHERE id = %s", [row.pk])
        assert cursor.fetchone()[0].startswith("ENC4:")
