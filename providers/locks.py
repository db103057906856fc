"""PostgreSQL advisory lock keys of the providers app (7307xxx: SPEC §7), named here from
the project's registry (core.locks).

- USAGE_USER_LOCK: two-key form (USAGE_USER_LOCK, hashtext(user id)), transaction-scoped,
  taken by the SQL function providers.usage_record (migration 0002).
- ROTATE_KEK_LOCK, CHECK_PROVIDERS_LOCK: session-scoped, one run of each command at a time.
- IMPORT_CATALOG_LOCK: two-key form, transaction-scoped (legacy.bulk.providers.catalog_provider_for_import).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection

from core.locks import AdvisoryLock

USAGE_USER_LOCK = AdvisoryLock.USAGE_USER
ROTATE_KEK_LOCK = AdvisoryLock.ROTATE_KEK
CHECK_PROVIDERS_LOCK = AdvisoryLock.CHECK_PROVIDERS
# Two-key form (IMPORT_CATALOG_LOCK, hashtext(type|model)), transaction-scoped: the legacy
# import finds or creates one catalog entry per (type, model) at a time.
IMPORT_CATALOG_LOCK = AdvisoryLock.IMPORT_CATALOG


@contextlib.contextmanager
def session_lock(key: int) -> Iterator[bool]:
    """Try to take a session-level advisory lock; yields whether it was taken."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        taken = bool(cursor.fetchone()[0])
    try:
        yield taken
    finally:
        if taken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
