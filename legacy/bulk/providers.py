"""Bulk import of users' provider keys and past usage (the legacy import), with the
rules of providers.services: one statement per batch, audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from audits.services import audit_record
from core import crypto
from core.exceptions import ValidationFailed
from providers.models import (
    Provider,
    ProviderType,
    key_context,
)
from providers.services.catalog import provider_create, provider_name_taken
from providers.services.common import checked_text
from providers.services.keys import check_api_key, check_provider_type
from providers.services.usage import check_count

# ---------------------------------------------------------------------------------------
# Bulk import (the legacy import)


@dataclass(frozen=True)
class ProviderKeyImport:
    """A user's key to store; `api_key` is the plaintext (decrypted by the importer)."""

    user_id: object
    provider_type: str
    provider_name: str
    api_key: str
    model_name: str = ""

    def __repr__(self) -> str:  # never print the key
        return f"ProviderKeyImport(user_id={self.user_id!r}, provider_type={self.provider_type!r})"


@transaction.atomic
def provider_keys_import(*, keys: list[ProviderKeyImport], actor, context: dict | None = None) -> list:
    """Store many users' API keys (legacy import) with provider_key_create's rules: known
    provider type, names, a well-formed key, each sealed under envelope encryption (a
    fresh data key, bound to its user and provider type). One key per user and type: a
    user who already has one keeps it and the imported one is refused. One INSERT, one
    audit entry (ids and last four characters only). Returns core.bulk.RowResults."""
    from core import bulk

    results: list = [None] * len(keys)
    rows = []
    seen: set[tuple[str, str]] = set()
    for index, key in enumerate(keys):
        try:
            provider_type = check_provider_type(key.provider_type)
            provider_name = checked_text("provider_name", key.provider_name, max_length=100)
            model_name = checked_text("model_name", key.model_name or "", max_length=200, required=False)
            api_key = check_api_key(key.api_key)
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        pair = (str(key.user_id), provider_type)
        if pair in seen:
            results[index] = bulk.refused(f"provider_type: the user already has a {provider_type} key")
            continue
        seen.add(pair)
        envelope = crypto.seal(api_key, context=key_context(key.user_id, provider_type))
        rows.append(
            (
                index,
                [
                    _new_key_id(),
                    key.user_id,
                    provider_type,
                    provider_name,
                    model_name,
                    envelope.sealed,
                    envelope.wrapped_dek,
                    api_key[-4:],
                ],
            )
        )
    if not rows:
        return results
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO user_providers (id, created_at, updated_at, user_id, provider_type, provider_name, model_name,
                                        encrypted_api_key, encrypted_dek, key_last_4_chars, is_active)
            SELECT (r->>0)::uuid, %s, %s, (r->>1)::uuid, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, true
            FROM jsonb_array_elements(%s::jsonb) AS r
            ON CONFLICT (user_id, provider_type) DO NOTHING
            RETURNING id
            """,
            [now, now, bulk.json_rows([row for _, row in rows])],
        )
        inserted = {r[0] for r in cursor.fetchall()}
    done = []
    for index, row in rows:
        if row[0] in inserted:
            results[index] = bulk.created(row[0])
            done.append({"id": str(row[0]), "user": str(row[1]), "provider_type": row[2], "last4": row[7]})
        else:
            results[index] = bulk.refused(f"provider_type: the user already has a {row[2]} key")
    if done:
        audit_record(
            entity="user_provider",
            action="import",
            actor=actor,
            payload={**(context or {}), "count": len(done), "keys": done},
        )
    return results


def _new_key_id():
    from core.ids import uuid7

    return uuid7()


@dataclass(frozen=True)
class UsageImport:
    """One usage counter line to add: a day's requests, tokens and cost of a user with a
    provider type and model. The catalog provider is found by (type, model)."""

    user_id: object
    provider_type: str
    model: str
    date: date
    requests: int
    tokens_input: int
    tokens_output: int
    cost_usd: Decimal


# Catalog entries made for imported usage whose (type, model) the catalog lacks: inactive,
# free, so nothing probes or bills them until an administrator reviews them.
_IMPORT_ENDPOINTS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "huggingface": "https://api-inference.huggingface.co",
    "local": "http://localhost:8080",
}
_IMPORT_MAX_COUNT = 10**15
_NINE_PLACES = Decimal("0.000000001")


def catalog_provider_for_import(*, provider_type: str, model: str, actor) -> Provider:
    """The catalog entry imported usage of (type, model) is counted under: the oldest entry
    with that type and model name (case-insensitive), else a new inactive entry
    "<Type> <model> (imported)" (created through provider_create, audited). Writers
    running side by side wait for each other here (advisory lock until commit), so one
    entry is made per (type, model)."""
    from providers.locks import IMPORT_CATALOG_LOCK

    def oldest():
        return (
            Provider.objects.filter(provider_type=provider_type, model_name__iexact=model)
            .order_by("created_at", "id")
            .first()
        )

    found = oldest()
    if found is not None:
        return found
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [IMPORT_CATALOG_LOCK, f"{provider_type}|{model.lower()}"]
        )
    found = oldest()  # made by a writer that held the lock before us
    if found is not None:
        return found
    label = ProviderType(provider_type).label
    name = f"{label} {model} (imported)"[:100]
    suffix = 1
    while provider_name_taken(name):
        suffix += 1
        name = f"{label} {model} (imported {suffix})"[:100]
    return provider_create(
        actor=actor,
        name=name,
        provider_type=provider_type,
        model_name=model,
        api_endpoint=_IMPORT_ENDPOINTS[provider_type],
        is_active=False,
    )


def _usage_checked(row: UsageImport) -> tuple:
    provider_type = check_provider_type(row.provider_type)
    model = checked_text("model", row.model, max_length=200)
    if not isinstance(row.date, date) or isinstance(row.date, datetime):
        raise ValidationFailed.field("date", "A calendar date.")
    counts = [
        check_count(name, value, minimum=0, maximum=_IMPORT_MAX_COUNT)
        for name, value in (
            ("requests", row.requests),
            ("tokens_input", row.tokens_input),
            ("tokens_output", row.tokens_output),
        )
    ]
    cost = row.cost_usd
    if not isinstance(cost, Decimal) or not cost.is_finite() or cost < 0 or cost >= Decimal(10) ** 15:
        raise ValidationFailed.field("cost_usd", "A non-negative amount below 10^15 USD.")
    if cost.quantize(_NINE_PLACES) != cost:
        raise ValidationFailed.field("cost_usd", "At most 9 decimal places.")
    return provider_type, model, *counts, cost


@transaction.atomic
def usage_import(*, rows: list[UsageImport], actor, context: dict | None = None) -> list:
    """Add many past usage lines into the counters (legacy import): usage_tracking's one
    upsert per (user, provider, model, date), INSERT ... ON CONFLICT DO UPDATE adding to
    whatever is there, so lines of the same key (in the batch, or counted before, live or
    imported) add up and concurrent recorders never lose an increment. History is not
    re-judged: no quota check, no cost alerts, and the recorded cost is kept as it was
    billed. Rows are pre-aggregated and upserted in key order (no deadlock with another
    batch). One audit entry. Returns core.bulk.RowResults (the counter row's id)."""
    from core import bulk

    results: list = [None] * len(rows)
    providers: dict[tuple[str, str], object] = {}
    totals: dict[tuple, list] = {}
    members: dict[tuple, list[int]] = {}
    for index, row in enumerate(rows):
        try:
            provider_type, model, requests, tokens_in, tokens_out, cost = _usage_checked(row)
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        pk = (provider_type, model.lower())
        if pk not in providers:
            providers[pk] = str(catalog_provider_for_import(provider_type=provider_type, model=model, actor=actor).pk)
        # Ids as text: they key the aggregation and travel as JSON (cheaper than UUID objects).
        key = (str(row.user_id), providers[pk], model, row.date)
        acc = totals.setdefault(key, [0, 0, 0, Decimal(0)])
        acc[0] += requests
        acc[1] += tokens_in
        acc[2] += tokens_out
        acc[3] += cost
        members.setdefault(key, []).append(index)
    if not totals:
        return results
    keys = sorted(totals)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO usage_tracking AS u (user_id, provider_id, model, date, requests_count, tokens_input,
                                             tokens_output, cost_usd, created_at, updated_at)
            SELECT (r->>0)::uuid, (r->>1)::uuid, r->>2, (r->>3)::date, (r->>4)::bigint, (r->>5)::bigint,
                   (r->>6)::bigint, (r->>7)::numeric, %s, %s
            FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, n)
            ORDER BY n
            ON CONFLICT (user_id, provider_id, model, date) DO UPDATE SET
                requests_count = u.requests_count + EXCLUDED.requests_count,
                tokens_input = u.tokens_input + EXCLUDED.tokens_input,
                tokens_output = u.tokens_output + EXCLUDED.tokens_output,
                cost_usd = u.cost_usd + EXCLUDED.cost_usd,
                updated_at = EXCLUDED.updated_at
            RETURNING u.user_id::text, u.provider_id::text, u.model, u.date, u.id
            """,
            [now, now, bulk.json_rows([[*key, *totals[key]] for key in keys])],
        )
        row_ids = {(u, p, m, d): i for u, p, m, d, i in cursor.fetchall()}
    for key in keys:
        for index in members[key]:
            results[index] = bulk.created(row_ids.get(key))
    audit_record(
        entity="usage",
        action="import",
        actor=actor,
        payload={
            **(context or {}),
            "lines": sum(len(v) for v in members.values()),
            "rows": len(keys),
            "requests": sum(t[0] for t in totals.values()),
            "tokens_input": sum(t[1] for t in totals.values()),
            "tokens_output": sum(t[2] for t in totals.values()),
            "cost": str(sum((t[3] for t in totals.values()), Decimal(0))),
        },
    )
    return results
