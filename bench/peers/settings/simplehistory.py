"""django-simple-history: HistoricalRecords on the model, the actor from its middleware."""

from .base import *  # noqa: F403 (settings layered on the base module)
from .base import INSTALLED_APPS, MIDDLEWARE

PEER_HISTORY = "simplehistory"
MIGRATION_MODULES = {"lab": "bench.peers.lab.migrations.simplehistory"}
INSTALLED_APPS = [*INSTALLED_APPS, "simple_history"]
MIDDLEWARE = [*MIDDLEWARE, "simple_history.middleware.HistoryRequestMiddleware"]
