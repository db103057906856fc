"""The test suite (pytest-django). Same PostgreSQL schema, triggers and partitions as
production; only slow or external things are swapped."""

import base64
import os
import secrets

# Tests must run on a clean clone even before `.env` exists; child processes spawned by
# concurrency tests inherit these through the environment, so they share the keys.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("AUDIT_SIGNING_KEY", secrets.token_urlsafe(48))
os.environ.setdefault("KMS_MASTER_KEYS", "k1:" + base64.b64encode(secrets.token_bytes(32)).decode())

from .base import *
from .base import DATABASES, REST_FRAMEWORK

DEBUG = False
# A cheap hasher keeps the suite fast; Argon2 (production) and bcrypt (legacy) stay
# available so their behaviour is still tested.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "accounts.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Throttling is tested explicitly where it matters; elsewhere it would make tests flaky.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/minute", "user": "100000/minute", "auth": "100000/minute"},
}
for _db in DATABASES.values():
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"].pop("pool", None)
