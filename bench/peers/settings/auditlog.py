"""django-auditlog: the model registered, the actor from its middleware or set_actor."""

from .base import *  # noqa: F403 (settings layered on the base module)
from .base import INSTALLED_APPS, MIDDLEWARE

PEER_HISTORY = "auditlog"
MIGRATION_MODULES = {"lab": "bench.peers.lab.migrations.auditlog"}
INSTALLED_APPS = [*INSTALLED_APPS, "auditlog"]
MIDDLEWARE = [*MIDDLEWARE, "auditlog.middleware.AuditlogMiddleware"]
