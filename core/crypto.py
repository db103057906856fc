"""Envelope encryption for secrets kept in the database (provider API keys, TOTP secrets).

Each secret gets its own fresh 256-bit data key (DEK). The secret is sealed with
AES-256-GCM under the DEK; the DEK is wrapped by a key-encryption key (KEK) held by the
KMS. Both seals carry associated data (the "context": which row and column the secret
belongs to), so a ciphertext moved to another row, or tampered with, fails to open with an
error instead of returning garbage. Stored strings carry a format version and the KEK id:

    wrapped DEK      ENC4:<kek_id>:<base64(nonce || ciphertext+tag)>
    sealed payload   ENC4:<base64(nonce || ciphertext+tag)>
    one-column box   ENC4:<kek_id>:<wrapped DEK b64>:<payload b64>   (TOTP secrets)

The KMS is an interface (`KMS`); `LocalKMS` reads a keyring of named master keys from
KMS_MASTER_KEYS ("id:base64key,..."). The first key wraps new DEKs; the others only
unwrap, so `manage.py rotate_kek` can re-wrap every DEK under the newest key and the old
key can then be removed. A cloud KMS plugs in through settings.KMS_BACKEND.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.utils.module_loading import import_string

VERSION = "ENC4"
_NONCE = 12


class DecryptionError(Exception):
    """A sealed value does not open: wrong key, wrong context, or tampered bytes."""


class KMS(Protocol):
    def current_key_id(self) -> str: ...
    def wrap(self, dek: bytes, *, context: bytes) -> str: ...
    def unwrap(self, wrapped: str, *, context: bytes) -> bytes: ...
    def key_id_of(self, wrapped: str) -> str: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise DecryptionError("malformed ciphertext encoding") from None


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < _NONCE + 16:
        raise DecryptionError("ciphertext too short")
    try:
        return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except InvalidTag:
        raise DecryptionError("authentication tag mismatch (wrong key, wrong row, or tampered)") from None


def parse_keyring(spec: str) -> dict[str, bytes]:
    """`id:base64key,...` → ordered {id: 32-byte key}; refuses malformed or short keys."""
    ring: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, material = item.partition(":")
        if not sep or not key_id or ":" in key_id:
            raise ValueError("KMS_MASTER_KEYS entries look like id:base64key")
        try:
            key = base64.b64decode(material, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"KMS master key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise ValueError(f"KMS master key {key_id!r} must be 32 bytes (256 bits)")
        if key_id in ring:
            raise ValueError(f"KMS master key id {key_id!r} appears twice")
        ring[key_id] = key
    if not ring:
        raise ValueError("KMS_MASTER_KEYS holds no key")
    return ring


class LocalKMS:
    """Keyring of master keys from the environment; AES-256-GCM key wrapping."""

    def __init__(self, spec: str):
        self._ring = parse_keyring(spec)
        self._current = next(iter(self._ring))

    def current_key_id(self) -> str:
        return self._current

    def wrap(self, dek: bytes, *, context: bytes) -> str:
        blob = _seal(self._ring[self._current], dek, b"dek|" + context)
        return f"{VERSION}:{self._current}:{_b64(blob)}"

    def key_id_of(self, wrapped: str) -> str:
        _version, key_id, _ = _split(wrapped, 3)
        return key_id

    def unwrap(self, wrapped: str, *, context: bytes) -> bytes:
        _, key_id, blob = _split(wrapped, 3)
        key = self._ring.get(key_id)
        if key is None:
            raise DecryptionError(f"master key {key_id!r} is not in the keyring")
        return _open(key, _unb64(blob), b"dek|" + context)


def _split(value: str, parts: int) -> list[str]:
    pieces = (value or "").split(":")
    if len(pieces) != parts or pieces[0] != VERSION:
        raise DecryptionError(f"not an {VERSION} value")
    return pieces


@lru_cache(maxsize=1)
def _kms_for(backend: str, spec: str) -> KMS:
    return import_string(backend)(spec)


def get_kms() -> KMS:
    return _kms_for(settings.KMS_BACKEND, settings.KMS_MASTER_KEYS)


@dataclass(frozen=True)
class Envelope:
    sealed: str  # ENC4:<payload>
    wrapped_dek: str  # ENC4:<kek_id>:<dek>


def seal(plaintext: str, *, context: str, kms: KMS | None = None) -> Envelope:
    kms = kms or get_kms()
    dek = AESGCM.generate_key(bit_length=256)
    aad = context.encode()
    return Envelope(
        sealed=f"{VERSION}:{_b64(_seal(dek, plaintext.encode(), b'payload|' + aad))}",
        wrapped_dek=kms.wrap(dek, context=aad),
    )


def open_envelope(envelope: Envelope, *, context: str, kms: KMS | None = None) -> str:
    kms = kms or get_kms()
    aad = context.encode()
    dek = kms.unwrap(envelope.wrapped_dek, context=aad)
    _, blob = _split(envelope.sealed, 2)
    return _open(dek, _unb64(blob), b"payload|" + aad).decode()


def rewrap(wrapped_dek: str, *, context: str, kms: KMS | None = None) -> str:
    """The same DEK wrapped under the current master key (the sealed payload is untouched)."""
    kms = kms or get_kms()
    aad = context.encode()
    return kms.wrap(kms.unwrap(wrapped_dek, context=aad), context=aad)


# One-column form, for secrets that live in a single field (TOTP secrets).
def seal_box(plaintext: str, *, context: str, kms: KMS | None = None) -> str:
    env = seal(plaintext, context=context, kms=kms)
    _, key_id, dek = _split(env.wrapped_dek, 3)
    _, payload = _split(env.sealed, 2)
    return f"{VERSION}:{key_id}:{dek}:{payload}"


def _box_parts(box: str) -> Envelope:
    version, key_id, dek, payload = _split(box, 4)
    return Envelope(sealed=f"{version}:{payload}", wrapped_dek=f"{version}:{key_id}:{dek}")


def open_box(box: str, *, context: str, kms: KMS | None = None) -> str:
    return open_envelope(_box_parts(box), context=context, kms=kms)


def rewrap_box(box: str, *, context: str, kms: KMS | None = None) -> str:
    parts = _box_parts(box)
    _, key_id, dek = _split(rewrap(parts.wrapped_dek, context=context, kms=kms), 3)
    _, payload = _split(parts.sealed, 2)
    return f"{VERSION}:{key_id}:{dek}:{payload}"


def box_key_id(box: str) -> str:
    return _split(box, 4)[1]
