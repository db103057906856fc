"""Envelope encryption: round trips, tamper and move detection, key rotation."""

import base64
import os

import pytest

from core import crypto


def _ring(*ids):
    return ",".join(f"{i}:{base64.b64encode(os.urandom(32)).decode()}" for i in ids)


def test_round_trip_and_format():
    kms = crypto.LocalKMS(_ring("k1"))
    env = crypto.seal("sk-secret-1234", context="user_providers|u1|openai", kms=kms)
    assert env.sealed.startswith("ENC4:") and "sk-secret" not in env.sealed
    assert env.wrapped_dek.startswith("ENC4:k1:")
    assert crypto.open_envelope(env, context="user_providers|u1|openai", kms=kms) == "sk-secret-1234"


def test_each_secret_gets_its_own_data_key():
    kms = crypto.LocalKMS(_ring("k1"))
    a = crypto.seal("same", context="c", kms=kms)
    b = crypto.seal("same", context="c", kms=kms)
    assert a.wrapped_dek != b.wrapped_dek and a.sealed != b.sealed


@pytest.mark.parametrize("part", ["sealed", "wrapped_dek"])
def test_tampering_fails_loudly(part):
    kms = crypto.LocalKMS(_ring("k1"))
    env = crypto.seal("secret", context="c", kms=kms)
    value = getattr(env, part)
    raw = bytearray(base64.b64decode(value.rsplit(":", 1)[1]))
    raw[-1] ^= 1
    forged = value.rsplit(":", 1)[0] + ":" + base64.b64encode(bytes(raw)).decode()
    env = crypto.Envelope(**{**env.__dict__, part: forged})
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(env, context="c", kms=kms)


def test_moving_a_secret_to_another_row_fails():
    kms = crypto.LocalKMS(_ring("k1"))
    env = crypto.seal("secret", context="user_providers|alice|openai", kms=kms)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(env, context="user_providers|mallory|openai", kms=kms)


def test_rotation_rewraps_and_old_key_can_go():
    old = _ring("k1")
    new_key = _ring("k2")
    env = crypto.seal("secret", context="c", kms=crypto.LocalKMS(old))
    both = crypto.LocalKMS(new_key + "," + old)
    rewrapped = crypto.rewrap(env.wrapped_dek, context="c", kms=both)
    assert rewrapped.startswith("ENC4:k2:")
    only_new = crypto.LocalKMS(new_key)
    assert crypto.open_envelope(crypto.Envelope(env.sealed, rewrapped), context="c", kms=only_new) == "secret"
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(env, context="c", kms=only_new)


def test_box_form_round_trip_and_rewrap():
    ring = _ring("k1")
    box = crypto.seal_box("JBSWY3DPEHPK3PXP", context="users.totp|u1", kms=crypto.LocalKMS(ring))
    assert crypto.box_key_id(box) == "k1"
    rotated = crypto.rewrap_box(box, context="users.totp|u1", kms=crypto.LocalKMS(_ring("k9") + "," + ring))
    assert crypto.box_key_id(rotated) == "k9"


@pytest.mark.parametrize("spec", ["", "nocolon", "k1:not-base64!", "k1:" + base64.b64encode(b"short").decode()])
def test_bad_keyrings_are_refused(spec):
    with pytest.raises(ValueError):
        crypto.LocalKMS(spec)
