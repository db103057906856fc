"""Writes of the v1 zone: atomic, validated and audited in the same transaction. One
module per sub-domain; this package re-exports their public names (and the blacklist's,
whose home is quarantine.services.blacklist) so `from experiments.services import ...`
keeps working.

Locking, always in this order so concurrent workflows cannot deadlock:
    project (FOR SHARE, projects.selectors.project_for_write: refuses archived projects)
    → experiment (FOR UPDATE, or a conditional UPDATE ... WHERE status = ...)
    → config-hash advisory lock (quarantine, blacklist and re-evaluation changes)
    → promotion / evaluation / blacklist / quarantine record rows → version row.

Creating an experiment takes the config-hash advisory lock in shared mode before it
reads the blacklist; blacklisting takes it exclusively. So an experiment is never
created with a config blacklisted by a transaction that committed before it looked.

Audit payloads carry ids, statuses, hashes and verdicts, never whole user JSON (configs
or evidence may hold keys the audit log refuses, such as "api_key"): see projects.services.
"""

from experiments.services.comparisons import comparison_create
from experiments.services.evaluations import evaluation_override, evaluation_submit
from experiments.services.lifecycle import (
    UNSET,
    WORKFLOW_TARGETS,
    compute_verdict,
    config_hash,
    experiment_create,
    experiment_transition,
    experiment_update,
    validate_config,
)
from experiments.services.promotions import promotion_approve, promotion_complete, promotion_reject, promotion_request
from experiments.services.quarantining import experiment_quarantine
from quarantine.services.blacklist import (
    HASH_LOCK_NAMESPACE,
    blacklist_add,
    blacklist_for_reevaluation,
    blacklist_lift,
    blacklist_review,
    hash_lock,
)

__all__ = [
    "HASH_LOCK_NAMESPACE",
    "UNSET",
    "WORKFLOW_TARGETS",
    "blacklist_add",
    "blacklist_for_reevaluation",
    "blacklist_lift",
    "blacklist_review",
    "comparison_create",
    "compute_verdict",
    "config_hash",
    "evaluation_override",
    "evaluation_submit",
    "experiment_create",
    "experiment_quarantine",
    "experiment_transition",
    "experiment_update",
    "hash_lock",
    "promotion_approve",
    "promotion_complete",
    "promotion_reject",
    "promotion_request",
    "validate_config",
]
