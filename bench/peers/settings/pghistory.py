"""django-pghistory: insert and update events written by triggers, the actor from its
middleware (which follows DRF's authenticated user)."""

from .base import *  # noqa: F403 (settings layered on the base module)
from .base import INSTALLED_APPS, MIDDLEWARE

PEER_HISTORY = "pghistory"
MIGRATION_MODULES = {"lab": "bench.peers.lab.migrations.pghistory"}
INSTALLED_APPS = [*INSTALLED_APPS, "pgtrigger", "pghistory"]
MIDDLEWARE = [*MIDDLEWARE, "pghistory.middleware.HistoryMiddleware"]
