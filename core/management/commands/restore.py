"""Restore a backup written by `manage.py backup` into an empty database."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from core.pgtools import client_binary, connection_env, run


class Command(BaseCommand):
    help = (
        "Restore FILE (from `manage.py backup`) into the configured database, or into --dbname on the same server. "
        "The target must be empty (a fresh database): restoring over live data is refused. Afterwards run "
        "`verify_audit_chain` (with the same AUDIT_SIGNING_KEY) and `db_roles`."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--dbname", help="restore into this database on the same server instead")
        parser.add_argument("--jobs", type=int, default=2, help="parallel restore jobs")

    def handle(self, *args, file, dbname=None, jobs=2, **options):
        if not Path(file).is_file():
            raise CommandError(f"no such backup file: {file}")
        alias = "owner" if "owner" in settings.DATABASES else "default"
        target = dbname or settings.DATABASES[alias]["NAME"]
        conn_args, env = connection_env(alias, dbname=target)
        listing = run(
            [
                client_binary("psql"),
                *conn_args,
                "-Atc",
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema')",
            ],
            env,
        )
        if listing.returncode != 0:
            raise CommandError(f"cannot reach database {target}: {listing.stderr.strip()}")
        if int(listing.stdout.strip() or 0) > 0:
            raise CommandError(f"database {target} is not empty; restore into a fresh database (--dbname)")
        result = run(
            [client_binary("pg_restore"), "--no-owner", "--exit-on-error", f"--jobs={jobs}", *conn_args, file], env
        )
        if result.returncode != 0:
            raise CommandError(f"pg_restore failed: {result.stderr.strip()}")
        connections.close_all()
        self.stdout.write(f"restored {file} into {target}")
