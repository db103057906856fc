"""Master key rotation: `manage.py rotate_kek` re-wraps every data key (provider keys and
TOTP secrets) under the newest master key without touching the sealed payloads; then the
old master key can be removed from the keyring and everything still decrypts."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import User, totp_context
from core import crypto
from providers import services
from providers.locks import ROTATE_KEK_LOCK
from providers.models import UserProvider
from providers.tests.conftest import keyring

pytestmark = pytest.mark.django_db

TOTP_SECRET = "JBSWY3DPEHPK3PXP"


@pytest.fixture
def rings():
    """k1 alone, then k2 (new, first) with k1, then k2 alone."""
    k1, k2 = keyring("k1"), keyring("k2")
    return {"old": k1, "both": f"{k2},{k1}", "new": k2}


@pytest.fixture
def stored(settings, rings, make_user):
    settings.KMS_MASTER_KEYS = rings["old"]
    users = [make_user("user") for _ in range(3)]
    keys = {}
    for i, user in enumerate(users):
        for t in ("openai", "anthropic"):
            key = f"sk-{t}-{i}-0123456789abcdef"
            keys[services.provider_key_create(user=user, provider_type=t, provider_name=t, api_key=key).pk] = key
        User.objects.filter(pk=user.pk).update(totp_secret=crypto.seal_box(TOTP_SECRET, context=totp_context(user.pk)))
    return users, keys


def _reveal_all(keys):
    return {pk: services.provider_key_reveal(user_provider=UserProvider.objects.get(pk=pk)) for pk in keys}


def _open_totps(users):
    return [crypto.open_box(User.objects.get(pk=u.pk).totp_secret, context=totp_context(u.pk)) for u in users]


def test_rotation_then_old_key_removed(settings, rings, stored, new_audit):
    users, keys = stored
    sealed_before = dict(UserProvider.objects.values_list("pk", "encrypted_api_key"))
    settings.KMS_MASTER_KEYS = rings["both"]
    out = StringIO()
    call_command("rotate_kek", stdout=out, verbosity=0)
    text = out.getvalue()
    assert "re-wrapped 6 provider key(s) and 3 TOTP secret(s); failed 0" in text
    assert "provider keys under other master keys: none; TOTP secrets under other master keys: none" in text
    rows = UserProvider.objects.all()
    assert all(r.encrypted_dek.startswith("ENC4:k2:") for r in rows)
    assert dict(rows.values_list("pk", "encrypted_api_key")) == sealed_before  # payloads untouched
    assert all(crypto.box_key_id(User.objects.get(pk=u.pk).totp_secret) == "k2" for u in users)
    assert new_audit(entity="user_provider", action="rewrap").get().payload == {"count": 6, "kek_id": "k2", "failed": 0}
    assert new_audit(entity="user", action="totp_rewrap").count() == 1
    assert new_audit(entity="kms", action="rotate_kek").get().payload["provider_keys"] == 6

    settings.KMS_MASTER_KEYS = rings["new"]  # the old master key is gone
    assert _reveal_all(keys) == keys
    assert _open_totps(users) == [TOTP_SECRET] * 3
    settings.KMS_MASTER_KEYS = rings["old"]  # and the old key alone no longer opens anything
    with pytest.raises(crypto.DecryptionError):
        _reveal_all(keys)

    settings.KMS_MASTER_KEYS = rings["new"]
    again = StringIO()
    call_command("rotate_kek", stdout=again, verbosity=0)
    assert "re-wrapped 0 provider key(s) and 0 TOTP secret(s)" in again.getvalue()


def test_dry_run_changes_nothing(settings, rings, stored, new_audit):
    settings.KMS_MASTER_KEYS = rings["both"]
    before = list(UserProvider.objects.order_by("pk").values_list("encrypted_dek", flat=True))
    out = StringIO()
    call_command("rotate_kek", "--dry-run", stdout=out, verbosity=0)
    assert "(dry run)" in out.getvalue() and "would re-wrap 6 provider key(s) and 3 TOTP secret(s)" in out.getvalue()
    assert "provider keys under other master keys: k1: 6" in out.getvalue()
    assert list(UserProvider.objects.order_by("pk").values_list("encrypted_dek", flat=True)) == before
    assert not new_audit(action__in=["rewrap", "totp_rewrap", "rotate_kek"]).exists()


def test_interrupted_rotation_resumes(settings, rings, stored, new_audit):
    _, keys = stored
    settings.KMS_MASTER_KEYS = rings["both"]

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(n):
        raise Interrupted

    with pytest.raises(Interrupted):
        services.provider_keys_rewrap(batch_size=2, progress=stop_after_first_batch)
    deks = list(UserProvider.objects.values_list("encrypted_dek", flat=True))
    assert sum(d.startswith("ENC4:k2:") for d in deks) == 2  # the first batch committed
    report = services.provider_keys_rewrap(batch_size=2)
    assert report.rewrapped == 4 and report.failed == []
    assert new_audit(entity="user_provider", action="rewrap").count() == 3
    settings.KMS_MASTER_KEYS = rings["new"]
    assert _reveal_all(keys) == keys


def test_an_unreadable_row_is_reported_and_the_rest_rotates(settings, rings, stored):
    _, keys = stored
    victim = UserProvider.objects.order_by("pk").first()
    lost = crypto.seal("sk-lost-key-000000", context=victim.context, kms=crypto.LocalKMS(keyring("k0")))
    UserProvider.objects.filter(pk=victim.pk).update(encrypted_api_key=lost.sealed, encrypted_dek=lost.wrapped_dek)
    settings.KMS_MASTER_KEYS = rings["both"]
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("rotate_kek", "--batch-size", "4", stdout=out, verbosity=0)
    assert str(victim.pk) in str(exc.value)
    assert "re-wrapped 5 provider key(s)" in out.getvalue() and "k0: 1" in out.getvalue()
    assert UserProvider.objects.filter(encrypted_dek__startswith="ENC4:k2:").count() == 5
    settings.KMS_MASTER_KEYS = rings["new"]
    del keys[victim.pk]
    assert _reveal_all(keys) == keys


def test_rotation_refuses_to_run_twice_at_once(settings, rings, stored):
    settings.KMS_MASTER_KEYS = rings["both"]
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [ROTATE_KEK_LOCK])
        with pytest.raises(CommandError, match="another rotate_kek"):
            call_command("rotate_kek", verbosity=0)
    finally:
        other.close()
    with pytest.raises(CommandError):
        call_command("rotate_kek", "--batch-size", "0")
