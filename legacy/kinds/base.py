"""What a record kind is, and what its functions may ask of the running import.

A kind is a small module with two functions, registered in legacy/kinds/__init__.py:

    prepare(rec: RawRecord, ctx: Context) -> Item      validate and normalize one record
                                                       (raise values.Reject); no database
    write(items: list[Item], ctx: Context) -> list     resolve references, then call the
                                                       domain's bulk service; one
                                                       core.bulk.RowResult per item

The importer does everything else: reading, batching, transactions, the legacy-id map
(already present / conflicts), rejects, counts, progress, dry runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection

from core import bulk
from legacy.reader import RawRecord

# "= ANY(<the values of a JSON array>)": one text parameter instead of a list psycopg
# adapts element by element (the lists here have a batch's worth of keys).
_ANY = "ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))"


# The legacy-id map rows of a batch's keys: one index probe on (kind, key) per key, whatever
# the planner believes about a table that grows by millions of rows during one run (with
# "kind = ... AND key = ANY(...)" and stale statistics it may scan every row of the kind
# and test each against the whole list). LIMIT keeps the subquery a per-key probe.
# Parameters: the keys as a JSON array, then the kind.
MAP_PROBE = (
    "jsonb_array_elements_text(%s::jsonb) AS k(key) CROSS JOIN LATERAL "
    "(SELECT key, digest, source, target_id FROM legacy_records WHERE kind = %s AND key = k.key LIMIT 1) AS m"
)


def _json(values: list[str]) -> str:
    return json.dumps(values, ensure_ascii=False)


@dataclass
class Item:
    """A prepared record: its legacy key, content digest, the record, and the kind's value."""

    key: str
    digest: str
    rec: RawRecord
    value: Any
    sub: int = 0


@dataclass(frozen=True)
class Kind:
    name: str  # --only name and summary row
    map_kind: str  # legacy_records.kind
    source: Any  # legacy.kinds.sources.JsonLines / JsonArray / JsonFiles
    prepare: Callable[[RawRecord, Context], Item]
    write: Callable[[list[Item], Context], list]
    key_label: str = "key"  # what the key is, for messages
    target: str = "uuid"  # what write's RowResult.id is: "uuid", "audit" (audit log id) or "none"
    merge_duplicates: bool = False  # a record under a known key is "already present" whatever its content
    sub_name: str | None = None  # records carried inside each record (experiments: evaluations)
    sub_count: Callable[[Any], int] | None = None
    batch_cap: int | None = None  # upper bound on the batch size (advisory locks per batch)
    parallel: bool = True  # batches may be written side by side (false: in order, one at a time)
    # Reorders the kind's records before they are prepared (audit events: by ts).
    order: Callable[[Iterator[RawRecord], Context], Iterator[RawRecord]] | None = None
    # Read and prepare in a separate process (the big kinds): reading is pure Python, and
    # a thread would share one interpreter lock with the writers. Not for kinds whose
    # prepared records hold secrets (provider keys are decrypted while preparing).
    read_apart: bool = False


@dataclass
class Context:
    """The running import, as the kinds see it."""

    root: Path
    run_id: str
    actor: Any  # the import's system user: actor of every entry the import writes
    now: datetime
    max_bytes: int
    fernets: Any = None  # cryptography MultiFernet of the legacy key(s), or None
    batch_first: str = ""
    batch_last: str = ""
    extra: dict = field(default_factory=dict)

    def audit_context(self) -> dict:
        """What every batch's audit entry says about where its rows came from."""
        return {"legacy_run": self.run_id, "first": self.batch_first, "last": self.batch_last}

    # --- references, resolved per batch (bounded memory, one query each) -------------

    def users(self, emails) -> dict[str, Any]:
        """{e-mail: user id (text)} of the given (lower-case) e-mails that have an account."""
        wanted = sorted({e for e in emails if e})
        if not wanted:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT email, id::text FROM users WHERE email = {_ANY}", [_json(wanted)])
            return dict(cursor.fetchall())

    def targets(self, map_kind: str, keys) -> dict[str, Any]:
        """{legacy key: Tristate id} of records of `map_kind` imported (by any run)."""
        wanted = sorted({k for k in keys if k})
        if not wanted:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT m.key, m.target_id FROM {MAP_PROBE}", [_json(wanted), map_kind])
            return dict(cursor.fetchall())

    def policies(self, names) -> dict[str, Any]:
        wanted = sorted({n for n in names if n})
        if not wanted:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT name, id FROM policies WHERE name = {_ANY}", [_json(wanted)])
            return dict(cursor.fetchall())


class Pending:
    """Collects per-item outcomes: refusals found while resolving references, and the
    rows handed to the domain service (whose results are then put back in place)."""

    def __init__(self, items: list[Item]):
        self.results: list = [None] * len(items)
        self.indexes: list[int] = []
        self.rows: list = []

    def refuse(self, index: int, reason: str) -> None:
        self.results[index] = bulk.refused(reason)

    def add(self, index: int, row) -> None:
        self.indexes.append(index)
        self.rows.append(row)

    def finish(self, service_results: list) -> list:
        for index, result in zip(self.indexes, service_results, strict=True):
            self.results[index] = result
        return self.results
