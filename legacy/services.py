"""The legacy import (SPEC §9) as one service: `legacy_import(root=..., ...)`.

Reads an export of the predecessor's file store (format 3, see the shared FORMAT.md and
docs/legacy-import.md), writes every record kind through the domains' bulk services in
per-batch transactions, and reports per kind what was read, imported, already present
or rejected (with a rejects report). Idempotent and resumable through the legacy-id map
(legacy.models.LegacyRecord). One import at a time (a session advisory lock).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from django.db import connection, transaction

from accounts.models import Role, User
from accounts.services import user_create
from audits.chain import chain_pending
from audits.services import audit_record
from core.locks import AdvisoryLock
from legacy.importer import Importer, Options, Report, selected_kinds
from legacy.kinds import KINDS

IMPORT_USER_EMAIL = "legacy-import@system.invalid"
IMPORT_USER_NAME = "Legacy import"
IMPORT_LOCK = AdvisoryLock.LEGACY_IMPORT  # session-scoped: one import_legacy at a time
FORMAT_NAME, FORMAT_VERSION = "tristate-legacy", 3
DEFAULT_BATCH_SIZE = 2000
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024
DEFAULT_WRITERS = 2

# The export's top-level entries this version reads (anything else is reported).
KNOWN_ENTRIES = {
    "manifest.json",
    "users.jsonl",
    "settings",
    "policies.json",
    "projects",
    "experiments.jsonl",
    "quarantine.jsonl",
    "analyses",
    "provider_keys.jsonl",
    "usage",
    "audit",
}


class ImportRefused(Exception):
    """The import cannot start (not an export, unknown format, bad key, another run)."""


def import_user() -> User:
    """The system account the import acts as (actor of its audit entries; owner of
    anonymous legacy analyses): inactive, without a usable password, created once."""
    user = User.objects.filter(email=IMPORT_USER_EMAIL).first()
    if user is not None:
        return user
    with transaction.atomic():
        return user_create(
            email=IMPORT_USER_EMAIL,
            password=None,
            actor=None,
            name=IMPORT_USER_NAME,
            role=Role.USER,
            verified=False,
            is_active=False,
        )


def legacy_fernet(keys: str | None):
    """A MultiFernet of the comma-separated legacy key(s), or None when there is none."""
    parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
    if not parts:
        return None
    try:
        return MultiFernet([Fernet(k.encode("ascii")) for k in parts])
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ImportRefused(
            "the legacy key is not a Fernet key (32 url-safe base64-encoded bytes; several may be comma-separated)"
        ) from None


def check_export(root: Path) -> list[str]:
    """Refuse what is not an export of format 3; returns warnings about the rest."""
    if not root.is_dir():
        raise ImportRefused(f"{root} is not a directory")
    warnings = []
    manifest = root / "manifest.json"
    if manifest.is_file():
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportRefused(f"manifest.json is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
            raise ImportRefused(f"manifest.json does not describe a {FORMAT_NAME} export")
        if doc.get("version") != FORMAT_VERSION:
            raise ImportRefused(
                f"export format version {doc.get('version')!r} is not supported (this importer reads {FORMAT_VERSION})"
            )
    else:
        warnings.append("no manifest.json: assuming format version 3")
    unknown = sorted(p.name for p in root.iterdir() if p.name not in KNOWN_ENTRIES)
    for kind in KINDS:
        _, other = kind.source.names(root)
        unknown.extend(other)
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        warnings.append(f"{len(unknown)} file(s) not part of the format were not read: {shown}")
    return warnings


@contextlib.contextmanager
def _single_run() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK])
        taken = bool(cursor.fetchone()[0])
    if not taken:
        raise ImportRefused("another import_legacy is running; try again when it has finished")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [IMPORT_LOCK])


class _Rollback(Exception):  # control flow: ends a dry run's transaction
    def __init__(self, report: Report):
        super().__init__("dry run")
        self.report = report


def legacy_import(
    *,
    root: Path,
    rejects_path: Path,
    only: list[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    legacy_key: str | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    progress: bool = False,
    stderr=None,
    writers: int = DEFAULT_WRITERS,
    sort_run_bytes: int | None = None,
) -> Report:
    """Import the export at `root` (see the module docstring). Every batch is its own
    transaction; with dry_run the whole run is one transaction rolled back at the end
    (the report says what would have happened; the rejects report is written). Records
    one `legacy_import.run` audit entry with the summary when it imported anything, and
    seals the audit chain before returning (when called outside a transaction; inside
    one, batches are savepoints of it). Raises ImportRefused when it cannot start."""
    if batch_size < 1:
        raise ImportRefused("the batch size must be at least 1")
    if max_record_bytes < 1024:
        raise ImportRefused("the record size limit must be at least 1024 bytes")
    if not 1 <= writers <= 16:
        raise ImportRefused("the number of writers must be between 1 and 16")
    # Called inside a transaction (tests, a caller's own unit of work), every batch is a
    # savepoint of it and nothing commits until the caller does.
    outermost = not connection.in_atomic_block
    try:
        kinds = selected_kinds(only)
    except ValueError as exc:
        raise ImportRefused(str(exc)) from None
    root = Path(root)
    warnings = check_export(root)
    fernets = legacy_fernet(legacy_key)
    if fernets is None and any(k.name == "provider_keys" for k in kinds):
        warnings.append("no legacy key (--legacy-key or LEGACY_ENCRYPTION_KEY): ENC: provider keys will be rejected")
    options = Options(
        root=root,
        kinds=kinds,
        batch_size=batch_size,
        dry_run=dry_run,
        rejects_path=Path(rejects_path),
        max_bytes=max_record_bytes,
        fernets=fernets,
        progress=progress,
        sort_run_bytes=sort_run_bytes,
        # Writer threads commit on their own connections: only for a real run of its own,
        # not a dry run (one transaction) or a caller's transaction (tests).
        writers=writers if outermost and not dry_run else 1,
    )

    def run() -> Report:
        actor = import_user()
        importer = Importer(options, actor=actor, stderr=stderr)
        importer.report.warnings.extend(warnings)
        report = importer.run()
        if report.imported and not dry_run:
            with transaction.atomic():
                audit_record(
                    entity="legacy_import",
                    action="run",
                    actor=actor,
                    payload={
                        "run": report.run_id,
                        "directory": str(root.resolve()),
                        "kinds": [k.name for k in kinds],
                        "batch_size": batch_size,
                        "summary": report.summary(),
                        "rejects": report.rejected,
                        "rejects_file": str(Path(rejects_path).resolve()),
                        "seconds": round(report.seconds, 3),
                    },
                )
        return report

    with _single_run():
        if not dry_run:
            report = run()
        else:
            # One transaction for everything, the import's own account included, rolled
            # back at the end: the database is left exactly as it was.
            try:
                with transaction.atomic():
                    raise _Rollback(run())
            except _Rollback as done:
                report = done.report
    if not dry_run and outermost:
        report.sealed = chain_pending(wait=True)
    return report
