"""Writes of the projects app: atomic, validated, audited in the same transaction. One
module per sub-domain; this package re-exports their public names.

Audit payloads carry ids, changed fields and SHA-256 hashes of JSON documents
(model_config, settings) rather than the documents themselves: configs are arbitrary
user JSON and may hold keys the audit log refuses to store (anything named like a secret).
"""

from projects.services.baselines import baseline_create, baseline_delete, baseline_update
from projects.services.policies import (
    policy_create,
    policy_delete,
    policy_update,
    project_policy_attach,
    project_policy_detach,
)
from projects.services.projects import (
    METRIC_KEY_MAX,
    NAME_MAX,
    THRESHOLD_DECIMALS,
    THRESHOLD_MAX_DIGITS,
    UNSET,
    json_hash,
    project_archive,
    project_create,
    project_delete,
    project_unarchive,
    project_update,
)
from projects.services.versions import version_apply_config, version_update

__all__ = [
    "METRIC_KEY_MAX",
    "NAME_MAX",
    "THRESHOLD_DECIMALS",
    "THRESHOLD_MAX_DIGITS",
    "UNSET",
    "baseline_create",
    "baseline_delete",
    "baseline_update",
    "json_hash",
    "policy_create",
    "policy_delete",
    "policy_update",
    "project_archive",
    "project_create",
    "project_delete",
    "project_policy_attach",
    "project_policy_detach",
    "project_unarchive",
    "project_update",
    "version_apply_config",
    "version_update",
]
