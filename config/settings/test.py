"""The test suite (pytest-django). Same PostgreSQL schema, triggers and partitions as
production; only slow or external things are swapped."""

import base64
import os
import secrets

# Fixed, test-only keys (they protect nothing): the test database is reused between runs
# (--reuse-db), and what one run signed or sealed must still verify and open in the next.
# Child processes of concurrency tests inherit them through the environment.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ["AUDIT_SIGNING_KEY"] = "test-only-audit-signing-key, at least 32 bytes"
os.environ["KMS_MASTER_KEYS"] = "test1:" + base64.b64encode(b"test-only-master-key-32-bytes!!!").decode()

from config.env import LOCAL_CLUSTER, env

if LOCAL_CLUSTER and env.str("DATABASE_ADMIN_URL", default=""):
    # The local cluster's superuser creates the test database and the roles some tests
    # switch to; the application and owner roles are exercised by SET ROLE in those tests.
    os.environ["DATABASE_URL"] = env.str("DATABASE_ADMIN_URL")
    os.environ.pop("DATABASE_OWNER_URL", None)

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
# Seal right after each commit, in the writing thread: deterministic, and no background
# thread holds a connection to the test database when pytest drops it.
AUDIT_SEALER = "inline"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Throttling is tested explicitly where it matters; elsewhere it would make tests flaky.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/minute", "user": "100000/minute", "auth": "100000/minute"},
}
for _db in DATABASES.values():
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"].pop("pool", None)
# Two suites run at once against one cluster (two checkouts, or a suite beside a
# benchmark) each need their own test database: TEST_DATABASE_NAME names it.
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME")}
