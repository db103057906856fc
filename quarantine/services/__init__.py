"""Writes of the v3 zone: quarantine records, re-evaluation requests and the blacklist,
atomic and audited in the same transaction. One module per sub-domain; this package
re-exports their public names.

The dependency arrow points experiments → quarantine: experiments.services creates
records through `record_quarantine` and blacklists through quarantine.services.blacklist,
the blacklist's one home. Nothing here imports experiments.services.

Record content never changes (a database trigger refuses it); these services change only
the review columns: review_status, reviewed_at, reviewed_by, review_notes.
"""

from quarantine.services.blacklist import (
    HASH_LOCK_NAMESPACE,
    blacklist_add,
    blacklist_for_reevaluation,
    blacklist_lift,
    blacklist_review,
    blacklist_upsert,
    hash_lock,
)
from quarantine.services.records import record_quarantine
from quarantine.services.reevaluation import (
    RESULT_VERDICTS,
    reevaluation_approve,
    reevaluation_complete,
    reevaluation_reject,
    reevaluation_request,
    validate_result,
)

__all__ = [
    "HASH_LOCK_NAMESPACE",
    "RESULT_VERDICTS",
    "blacklist_add",
    "blacklist_for_reevaluation",
    "blacklist_lift",
    "blacklist_review",
    "blacklist_upsert",
    "hash_lock",
    "record_quarantine",
    "reevaluation_approve",
    "reevaluation_complete",
    "reevaluation_reject",
    "reevaluation_request",
    "validate_result",
]
