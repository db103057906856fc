"""Counts that cost the same on any table size: each count stops at a cap.

`SELECT count(*) FROM (SELECT 1 FROM t WHERE … LIMIT cap + 1)` reads at most cap + 1
index entries or rows, so a figure over a table of a hundred million rows costs what it
costs over ten thousand; above the cap it is shown as "10,000+". Several counts (any
QuerySets of the same database) go to PostgreSQL as one statement: one round trip.

The operations dashboard uses these for every figure over a table that can grow without
bound (users, sessions, experiments, quarantine records, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections
from django.db.models import QuerySet

DEFAULT_CAP = 10_000


@dataclass(frozen=True)
class CappedCount:
    value: int
    cap: int

    @property
    def more(self) -> bool:
        """True when there are more rows than the cap (value is then cap + 1)."""
        return self.value > self.cap

    @property
    def shown(self) -> int:
        return min(self.value, self.cap)

    def __int__(self) -> int:
        return self.shown

    def __bool__(self) -> bool:
        return self.value > 0

    def __str__(self) -> str:
        return f"{self.cap:,}+" if self.more else f"{self.value:,}"


def capped_counts(querysets: dict[str, QuerySet], *, cap: int = DEFAULT_CAP) -> dict[str, CappedCount]:
    """Count each QuerySet up to `cap` (one statement for all of them)."""
    if not querysets:
        return {}
    if cap < 1:
        raise ValueError("cap must be at least 1")
    aliases = {qs.db for qs in querysets.values()}
    if len(aliases) != 1:
        raise ValueError(f"capped_counts needs QuerySets of one database, got {sorted(aliases)}")
    parts: list[str] = []
    params: list = []
    for index, qs in enumerate(querysets.values()):
        # Only the existence of rows matters: no ordering, no columns but the key.
        sql, qs_params = qs.order_by().values("pk")[: cap + 1].query.sql_with_params()
        parts.append(f"(SELECT count(*) FROM ({sql}) AS c{index})")
        params.extend(qs_params)
    with connections[aliases.pop()].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return {name: CappedCount(int(value), cap) for name, value in zip(querysets, row, strict=True)}
