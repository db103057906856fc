"""The prepared-key HMAC is the standard HMAC-SHA256, for every key length."""

import hashlib
import hmac

import pytest

from audits import signing


@pytest.mark.parametrize("key_length", [1, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("message", [b"", b"entry|1|x", b"p" * 5000])
def test_prepared_hmac_equals_the_standard_one(key_length, message):
    key = bytes(range(256))[:key_length] if key_length <= 256 else b"k" * key_length
    assert signing.prepared_key(key).hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_entry_and_link_macs_are_standard_hmacs():
    key = b"a signing key of some length"
    body = signing.content(7, "2026-01-02T03:04:05.000006Z", "user", "created", None, '{"a": 1}')
    assert signing.entry_hmac(key, body) == hmac.new(key, b"entry|" + body, hashlib.sha256).hexdigest()
    prev = "f" * 64
    expected = hmac.new(key, b"link|9|" + prev.encode() + b"|" + body, hashlib.sha256).hexdigest()
    assert signing.link_signature(key, body, 9, prev) == expected


def test_different_keys_give_different_macs():
    body = b"same body"
    assert signing.entry_hmac(b"key one", body) != signing.entry_hmac(b"key two", body)
