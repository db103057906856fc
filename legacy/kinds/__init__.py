"""The record kinds of the legacy export, in import order (references point backwards:
settings, projects, keys, usage and audit events name users; experiments name projects;
quarantine records name experiments).

Adding a kind is one entry here and one small module (prepare + write, see base.py)."""

from __future__ import annotations

from legacy.kinds import (
    analyses,
    audit,
    experiments,
    policies,
    projects,
    provider_keys,
    quarantine,
    settings,
    usage,
    users,
)
from legacy.kinds.base import Kind
from legacy.kinds.sources import JsonArray, JsonFiles, JsonLines
from legacy.models import RecordKind

KINDS: list[Kind] = [
    Kind(
        "users",
        RecordKind.USER,
        JsonLines("users.jsonl"),
        users.prepare,
        users.write,
        key_label="e-mail",
        merge_duplicates=True,
    ),
    Kind("settings", RecordKind.SETTINGS, JsonFiles("settings"), settings.prepare, settings.write, "e-mail"),
    Kind("policies", RecordKind.POLICY, JsonArray("policies.json"), policies.prepare, policies.write, "name"),
    Kind("projects", RecordKind.PROJECT, JsonFiles("projects"), projects.prepare, projects.write, "slug"),
    Kind(
        "experiments",
        RecordKind.EXPERIMENT,
        JsonLines("experiments.jsonl"),
        experiments.prepare,
        experiments.write,
        key_label="legacy id",
        sub_name="evaluations",
        sub_count=experiments.evaluations_in,
        read_apart=True,
    ),
    Kind(
        "quarantine",
        RecordKind.QUARANTINE,
        JsonLines("quarantine.jsonl"),
        quarantine.prepare,
        quarantine.write,
        key_label="experiment legacy id",
        # Each record takes its config hash's advisory lock until the batch commits.
        batch_cap=500,
    ),
    Kind(
        "analyses",
        RecordKind.ANALYSIS,
        JsonFiles("analyses", prefix="analysis_"),
        analyses.prepare,
        analyses.write,
        key_label="analysis id",
        read_apart=True,
    ),
    Kind(
        "provider_keys",
        RecordKind.PROVIDER_KEY,
        JsonLines("provider_keys.jsonl"),
        provider_keys.prepare,
        provider_keys.write,
        key_label="user and provider type",
    ),
    Kind(
        "usage",
        RecordKind.USAGE,
        JsonLines("usage", prefix="usage_"),
        usage.prepare,
        usage.write,
        key_label="file and line",
        target="none",
        read_apart=True,
    ),
    Kind(
        "audit",
        RecordKind.AUDIT,
        JsonLines("audit", prefix="audit_"),
        audit.prepare,
        audit.write,
        key_label="legacy id",
        target="audit",
        order=audit.by_ts,
        # Appended one batch after the other: ids, hence chain order, follow ts.
        parallel=False,
        read_apart=True,
    ),
]

BY_NAME = {kind.name: kind for kind in KINDS}
