"""Dump the whole database (every schema) in pg_dump's custom format."""

from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.pgtools import client_binary, connection_env, run


class Command(BaseCommand):
    help = (
        "Write a pg_dump custom-format backup of the whole database (all schemas, the audit log's partitions and "
        "triggers included) to --out (default backups/tristate-<UTC time>.dump). Restore with `manage.py restore`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="output file")

    def handle(self, *args, out=None, **options):
        path = Path(out or f"backups/tristate-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.dump")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn_args, env = connection_env()
        result = run([client_binary("pg_dump"), "--format=custom", "--no-owner", "--file", str(path), *conn_args], env)
        if result.returncode != 0:
            raise CommandError(f"pg_dump failed: {result.stderr.strip()}")
        path.chmod(0o600)
        self.stdout.write(f"backup written to {path} ({path.stat().st_size:,} bytes)")
