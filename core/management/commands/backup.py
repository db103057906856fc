"""Dump the whole database (every schema) in pg_dump's custom format."""

import os
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.pgtools import client_binary, connection_env, run

DEFAULT_FOLDER = Path("backups")


class Command(BaseCommand):
    help = (
        "Write a pg_dump custom-format backup of the whole database (all schemas, the audit log's partitions and "
        "triggers included) to --out (default backups/tristate-<UTC time>.dump). An existing file is replaced "
        "only with --force; the folder of --out must exist. Restore with `manage.py restore`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="output file (its folder must exist)")
        parser.add_argument("--force", action="store_true", help="replace --out if it exists")

    def handle(self, *args, out=None, force=False, **options):
        if out:
            path = Path(out)
            if not path.parent.is_dir():
                raise CommandError(f"The folder {path.parent} does not exist; create it first.")
        else:
            path = DEFAULT_FOLDER / f"tristate-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.dump"
            if not DEFAULT_FOLDER.is_dir():
                DEFAULT_FOLDER.mkdir(parents=True)
                self.stdout.write(f"created the folder {DEFAULT_FOLDER}")
        if path.is_dir():
            raise CommandError(f"{path} is a folder; name a file.")
        if path.exists() and not force:
            raise CommandError(f"{path} exists; pass --force to replace it.")
        # Written beside the target, then moved over it: a failed dump leaves the old file.
        partial = path.with_name(path.name + ".partial")
        conn_args, env = connection_env()
        result = run(
            [client_binary("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial), *conn_args], env
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise CommandError(f"pg_dump failed: {result.stderr.strip()}")
        partial.chmod(0o600)
        if force:
            os.replace(partial, path)
        else:
            try:
                os.link(partial, path)  # fails if the file appeared meanwhile: never overwritten
            finally:
                partial.unlink(missing_ok=True)
        self.stdout.write(f"backup written to {path} ({path.stat().st_size:,} bytes)")
