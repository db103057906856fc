"""Writes of the production zone: atomic, validated and audited in the same transaction.
One module per sub-domain; this package re-exports their public names.

Who may write: a session's own user or an admin (viewers nothing; another user's session
is a 404), and only while the session's project is not archived (409 project_archived).
`actor=None` is the system (management commands, importers) and may write.

Locking, always in this order, so concurrent writers cannot deadlock:
    project (FOR SHARE, projects.selectors.project_for_write: refuses archived projects)
    → session (FOR NO KEY UPDATE: serializes the session's moves and its tasks' moves,
      without blocking inserts of artifacts or results that reference it)
    → task rows (FOR UPDATE; several at once in primary-key order).

The concurrent-finish race: every task move locks its session first, then the task,
and counts the session's open tasks inside that lock, in a statement that starts after
the lock was granted. Under READ COMMITTED that statement sees every task move that
committed before, so of two tasks finishing at the same moment, the second to get the
lock sees the first one's move and finishes the session, exactly once.

Audit payloads carry ids, statuses, times, sizes and SHA-256 digests of JSON documents
(results, metadata), never user JSON itself: it may hold keys the audit log refuses.
"""

from production.services.artifacts import artifact_create, code_review_create
from production.services.purge import PURGE_LOCK, PurgeReport, artifacts_purge_expired, purge_expired
from production.services.sessions import UNSET, session_cancel, session_create, session_transition
from production.services.tasks import task_create, task_update

__all__ = [
    "PURGE_LOCK",
    "UNSET",
    "PurgeReport",
    "artifact_create",
    "artifacts_purge_expired",
    "code_review_create",
    "purge_expired",
    "session_cancel",
    "session_create",
    "session_transition",
    "task_create",
    "task_update",
]
