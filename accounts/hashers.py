"""Password hashers for legacy accounts.

The predecessor system stored bcrypt hashes (`$2b$…`/`$2a$…`), computed by libraries that
silently used only the first 72 bytes of a password. bcrypt 5 refuses passwords longer
than 72 bytes with a ValueError, so Django's own BCryptPasswordHasher would turn a long
password typed at login into a server error (and make such a legacy user's correct
password unusable). This hasher verifies exactly as the legacy system hashed: the first
72 bytes. Nothing new is ever hashed with it; Argon2id (first in PASSWORD_HASHERS)
replaces the hash at the next successful login.
"""

from __future__ import annotations

import bcrypt
from django.contrib.auth.hashers import BCryptPasswordHasher as DjangoBCryptPasswordHasher
from django.utils.crypto import constant_time_compare

BCRYPT_MAX_BYTES = 72
_LEGACY_PREFIXES = ("$2a$", "$2b$", "$2y$")


class BCryptPasswordHasher(DjangoBCryptPasswordHasher):
    """Django's `bcrypt$<hash>` format, verified on the first 72 bytes of the password."""

    algorithm = "bcrypt"

    def encode(self, password, salt):
        data = bcrypt.hashpw(password.encode()[:BCRYPT_MAX_BYTES], salt)
        return f"{self.algorithm}${data.decode('ascii')}"

    def verify(self, password, encoded):
        try:
            algorithm, data = encoded.split("$", 1)
        except ValueError:
            return False
        if algorithm != self.algorithm:
            return False
        try:
            encoded_2 = self.encode(password, data.encode("ascii"))
        except ValueError:  # a malformed stored hash (bad salt): no password matches it
            return False
        return constant_time_compare(encoded, encoded_2)


def legacy_bcrypt_to_django(legacy_hash: str) -> str:
    """A legacy `$2b$12$…` hash in the form Django stores (`bcrypt$$2b$12$…`).

    Raises ValueError for anything that is not a bcrypt hash (the legacy import reports
    the record as rejected)."""
    value = (legacy_hash or "").strip()
    if value.startswith("bcrypt$"):
        value = value[len("bcrypt$") :]
    if not value.startswith(_LEGACY_PREFIXES) or len(value) != 60:
        raise ValueError("not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)")
    return f"bcrypt${value}"
