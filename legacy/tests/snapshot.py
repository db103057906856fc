"""The imported state, independent of generated ids and import times: what "the same end
state" means when an interrupted and resumed import is compared with an uninterrupted one."""

from __future__ import annotations

import json

from django.db import connection

from core import crypto
from providers.models import key_context

# Each query returns the rows the import created, keyed by what identifies them in the
# export (e-mails, legacy keys, names), never by Tristate ids.
QUERIES = {
    "users": """
        SELECT u.email, u.name, u.role, u.is_staff, u.is_superuser, u.verified, u.is_active,
               CASE WHEN u.password LIKE '!%%' THEN '!' ELSE u.password END, u.created_at, u.last_login, u.settings
        FROM users u JOIN legacy_records m ON m.kind = 'user' AND m.target_id = u.id ORDER BY u.email""",
    "projects": """
        SELECT m.key, o.email, p.name, p.description, p.archived, p.created_at,
               (SELECT json_agg(json_build_array(v.tag, v.model_config, v.changelog) ORDER BY v.tag)
                  FROM versions v WHERE v.project_id = p.id),
               (SELECT json_agg(json_build_array(b.metric_key, b.operator, b.threshold, b.active)
                               ORDER BY b.metric_key, b.operator) FROM baselines b WHERE b.project_id = p.id),
               (SELECT json_agg(pol.name ORDER BY pol.name) FROM project_policies pp
                  JOIN policies pol ON pol.id = pp.policy_id WHERE pp.project_id = p.id),
               (SELECT json_agg(json_build_array(v.tag, h.action, h.model_config) ORDER BY v.tag)
                  FROM version_history h JOIN versions v ON v.id = h.version_id WHERE v.project_id = p.id)
        FROM projects p JOIN legacy_records m ON m.kind = 'project' AND m.target_id = p.id
        JOIN users o ON o.id = p.owner_id ORDER BY m.key""",
    "experiments": """
        SELECT m.key, pm.key, e.name, e.description, e.config, e.config_hash, e.dataset_id, e.status,
               e.created_at, e.started_at, e.completed_at, u.email,
               (SELECT json_agg(json_build_array(v.metrics, v.ai_verdict, v.ai_confidence, v.effective_verdict,
                                                 v.human_override, v.evaluated_by, v.evaluated_at,
                                                 v.checks->'rule', v.checks->'imported')
                                ORDER BY v.evaluated_at, v.metrics::text)
                  FROM evaluations v WHERE v.experiment_id = e.id)
        FROM experiments e JOIN legacy_records m ON m.kind = 'experiment' AND m.target_id = e.id
        JOIN legacy_records pm ON pm.kind = 'project' AND pm.target_id = e.project_id
        JOIN users u ON u.id = e.created_by_id ORDER BY m.key""",
    "quarantine": """
        SELECT m.key, q.config_hash, q.config, q.reason, q.evidence, q.failure_metrics, q.quarantined_at,
               q.review_status, b.review_status, b.lifted_at IS NULL, b.reason
        FROM quarantine_records q JOIN legacy_records m ON m.kind = 'quarantine' AND m.target_id = q.id
        JOIN blacklist b ON b.config_hash = q.config_hash ORDER BY m.key""",
    "usage": """
        SELECT u.email, p.provider_type, p.model_name, t.model, t.date, t.requests_count, t.tokens_input,
               t.tokens_output, t.cost_usd
        FROM usage_tracking t JOIN users u ON u.id = t.user_id JOIN providers p ON p.id = t.provider_id
        ORDER BY u.email, p.provider_type, t.model, t.date""",
    "audit": """
        SELECT m.key, a.ts, a.entity, a.action, u.email, a.payload
        FROM legacy_records m JOIN audits.audit_log a ON a.id = m.audit_id
        LEFT JOIN users u ON u.id = a.actor
        WHERE m.kind = 'audit' ORDER BY a.id""",
    "map": "SELECT kind, key, digest, source FROM legacy_records ORDER BY kind, key",
}


def _rows(sql: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(json.dumps(v, sort_keys=True, default=str) for v in row) for row in cursor.fetchall()]


def provider_keys() -> list[tuple]:
    """(e-mail, provider type, name, model, last four, the key decrypted)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT u.email, k.provider_type, k.provider_name, k.model_name, k.key_last_4_chars,
                   k.encrypted_api_key, k.encrypted_dek, k.user_id
            FROM user_providers k JOIN users u ON u.id = k.user_id
            JOIN legacy_records m ON m.kind = 'provider_key' AND m.target_id = k.id
            ORDER BY u.email, k.provider_type
            """
        )
        rows = cursor.fetchall()
    out = []
    for email, ptype, name, model, last4, sealed, dek, user_id in rows:
        plain = crypto.open_envelope(
            crypto.Envelope(sealed=sealed, wrapped_dek=dek), context=key_context(user_id, ptype)
        )
        out.append((email, ptype, name, model, last4, plain))
    return out


def snapshot() -> dict:
    state = {name: _rows(sql) for name, sql in QUERIES.items()}
    state["provider_keys"] = provider_keys()
    return state
