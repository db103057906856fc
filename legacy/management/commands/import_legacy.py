"""manage.py import_legacy DIR [--dry-run] [--batch-size N] [--only KINDS] [--rejects FILE] [--legacy-key KEY]"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.progress import ProgressStream
from legacy.kinds import KINDS
from legacy.services import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_WRITERS,
    ImportRefused,
    legacy_import,
)


class Command(BaseCommand):
    help = (
        "Import an export of the legacy file store (format 3) into Tristate: idempotent (a second run imports "
        "nothing new), resumable after any interruption, one transaction per batch. Every record is imported, "
        "found already present, or written to the rejects report (JSON lines: file, line, kind, reason, raw text "
        "with secrets masked). Ends with a summary per kind."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="the export's directory (holding manifest.json, users.jsonl, ...)")
        parser.add_argument(
            "--dry-run", action="store_true", help="do all the work in one transaction and roll it back"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"records per transaction (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--only",
            help="comma-separated kinds to import, of: " + ", ".join(kind.name for kind in KINDS),
        )
        parser.add_argument(
            "--rejects",
            help="where to write the rejects report (default: ./import_legacy-<time>.rejects.jsonl)",
        )
        parser.add_argument(
            "--legacy-key",
            help="the legacy Fernet key for ENC: values (default: LEGACY_ENCRYPTION_KEY; several comma-separated)",
        )
        parser.add_argument(
            "--writers",
            type=int,
            default=DEFAULT_WRITERS,
            help=f"batches written side by side, each on its own connection (default {DEFAULT_WRITERS}; "
            "audit events are always appended one batch after the other)",
        )
        parser.add_argument(
            "--summary-json",
            help="also write the summary (per kind: read, imported, already present, rejected) to this JSON file",
        )
        parser.add_argument(
            "--max-record-bytes",
            type=int,
            default=DEFAULT_MAX_RECORD_BYTES,
            help=f"larger records are rejected without being loaded (default {DEFAULT_MAX_RECORD_BYTES})",
        )

    def handle(
        self,
        *,
        directory,
        dry_run,
        batch_size,
        only,
        rejects,
        legacy_key,
        max_record_bytes,
        summary_json,
        writers,
        **options,
    ):
        rejects_path = Path(rejects or f"import_legacy-{datetime.now():%Y%m%d-%H%M%S}.rejects.jsonl")
        try:
            report = legacy_import(
                root=Path(directory),
                rejects_path=rejects_path,
                only=only.split(",") if only else None,
                batch_size=batch_size,
                dry_run=dry_run,
                legacy_key=legacy_key or settings.LEGACY_ENCRYPTION_KEY,
                max_record_bytes=max_record_bytes,
                progress=options.get("verbosity", 1) >= 1,
                writers=writers,
                stderr=ProgressStream(self.stderr),
            )
        except ImportRefused as exc:
            raise CommandError(str(exc)) from None
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        for line in report.lines():
            self.stdout.write(line)
        totals = report.totals
        rate = totals.read / report.seconds if report.seconds else 0.0
        self.stdout.write(
            f"import_legacy{' (dry run: nothing was written)' if dry_run else ''}: run {report.run_id}, "
            f"{totals.read} records in {report.seconds:.1f} s ({rate:,.0f}/s): {totals.imported} imported, "
            f"{totals.present} already present, {totals.rejected} rejected"
        )
        self.stdout.write(f"rejects: {rejects_path.resolve()} ({report.rejects_written} records)")
        if summary_json:
            Path(summary_json).write_text(
                json.dumps(
                    {
                        "run": report.run_id,
                        "dry_run": dry_run,
                        "seconds": round(report.seconds, 3),
                        "kind_seconds": {k: round(v, 3) for k, v in report.kind_seconds.items()},
                        "summary": report.summary(),
                        "totals": totals.as_dict(),
                        "rejects_file": str(rejects_path.resolve()),
                        "warnings": report.warnings,
                    },
                    indent=1,
                )
            )
