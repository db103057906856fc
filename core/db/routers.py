"""Database routing: writes and migrations go to the primary; read-only traffic may go
to a streaming replica (DATABASE_REPLICA_URL).

Reads go to the replica only when all of these hold: a replica is configured and
healthy (reachable, lag under REPLICA_MAX_LAG_SECONDS); the current request is a safe
method (GET/HEAD/OPTIONS) marked replica-safe by its view; the request has not written
anything; and its user has not written within REPLICA_STICKY_SECONDS (read-your-writes
across requests). Everything else — every service, every command — uses the primary.
"""

from core.db import replica_state


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        return "replica" if replica_state.reads_may_use_replica() else "default"

    def db_for_write(self, model, **hints):
        replica_state.mark_write()  # the rest of this request reads its own writes
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db in ("default", "owner")
