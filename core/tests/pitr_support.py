"""A scratch copy of the local set-up for the backup and recovery tests: a cluster made
by the real scripts/pg.sh (so with the real pgBackRest archiving), its own repository,
migrated, with a user and a token, an app served by gunicorn; everything in one /tmp
folder. Killing or restoring the shared cluster would break every other test."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from django.conf import settings

from core.pgtools import client_binary

ROOT = Path(settings.BASE_DIR)
SCRIPTS = ROOT / "scripts"
# The URLs the suite itself uses must not leak into a scratch cluster's processes.
_OWN_DB_VARIABLES = ("DATABASE_URL", "DATABASE_OWNER_URL", "DATABASE_ADMIN_URL", "DATABASE_REPLICA_URL")


def _read_env_file(path: Path) -> dict:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


class ScratchCluster:
    """A cluster started by scripts/pg.sh under PG_DATA_DIR/PG_SOCKET_DIR in a temporary
    folder, archiving into its own pgBackRest repository."""

    def __init__(self, *, archive_timeout: int = 60, prefix: str = "tristate-pitr-"):
        self.dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")  # the server user reaches its folders
        self.parent, self.sock = self.dir / "pg", self.dir / "sock"
        self.data = self.parent / "data"
        self.pgbackrest_conf = self.parent / "pgbackrest" / "pgbackrest.conf"
        self.script_env = {k: v for k, v in os.environ.items() if k not in _OWN_DB_VARIABLES}
        self.script_env.update(
            PG_DATA_DIR=str(self.parent),
            PG_SOCKET_DIR=str(self.sock),
            PG_ENV_FILE=str(self.dir / "db.env"),
            PG_REPLICA_ENV_FILE=str(self.dir / "replica.env"),
            PGBR_ARCHIVE_TIMEOUT=str(archive_timeout),
            DJANGO_SETTINGS_MODULE="config.settings.test",
            PYTHON=sys.executable,
        )
        self.urls: dict = {}

    # -- the scripts -------------------------------------------------------------
    def script(self, name: str, *args: str, check: bool = True, **extra_env) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(SCRIPTS / name), *args],
            env={**self.script_env, **extra_env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check:
            assert result.returncode == 0, f"{name} {args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def start(self) -> None:
        self.script("pg.sh", "start")
        self.urls = _read_env_file(self.dir / "db.env")

    @property
    def app_env(self) -> dict:
        """The environment of the app's processes on this cluster (both roles)."""
        return {
            **{k: v for k, v in self.script_env.items() if not k.startswith(("PG_", "PGBR_"))},
            "DATABASE_URL": self.urls["DATABASE_URL"],
            "DATABASE_OWNER_URL": self.urls["DATABASE_OWNER_URL"],
        }

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.app_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, f"manage.py {args}:\n{result.stdout}\n{result.stderr}"
        return result

    def migrate_and_sign_in(self) -> dict:
        """Migrate; create an admin with a session; returns the Authorization header."""
        self.manage("migrate", "--noinput", "-v", "0")
        out = self.manage(
            "shell",
            "-c",
            "from accounts.services import user_create, session_create;"
            "u = user_create(email='pitr@example.com', password='pitr-password-1', role='admin', verified=True,"
            " validate=False); print(session_create(user=u).access)",
        )
        return {"Authorization": f"Bearer {out.stdout.strip().splitlines()[-1]}"}

    # -- SQL as the superuser ----------------------------------------------------
    def connect(self, dbname: str = "tristate") -> psycopg.Connection:
        return psycopg.connect(host=str(self.sock), user="postgres", dbname=dbname, autocommit=True)

    def query(self, sql: str, params=None, dbname: str = "tristate") -> list[tuple]:
        with self.connect(dbname) as conn:
            return conn.execute(sql, params).fetchall()

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def switch_wal_and_wait_archived(self, timeout: float = 60) -> str:
        """Close the current WAL segment and wait until it is in the repository; returns
        its name. Every transaction committed before the call is in it."""
        with self.connect() as conn:
            lsn = conn.execute("SELECT pg_switch_wal()").fetchone()[0]
            segment = conn.execute("SELECT pg_walfile_name(%s)", [lsn]).fetchone()[0]
            deadline = time.monotonic() + timeout
            while True:
                archived = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
                if archived is not None and archived[8:] >= segment[8:]:
                    return segment
                assert time.monotonic() < deadline, f"WAL segment {segment} not archived in {timeout} s"
                time.sleep(0.1)

    def verify_chain(self, *extra: str) -> dict:
        """verify_audit_chain --json on this cluster; fails the test when broken."""
        out = self.manage("verify_audit_chain", "--json", *extra, check=False)
        text = out.stdout[out.stdout.index("{") :] if "{" in out.stdout else ""
        assert out.returncode == 0 and text, f"chain broken:\n{out.stdout}\n{out.stderr}"
        return json.loads(text)

    def kill_postmaster(self) -> None:
        os.kill(self.postmaster_pid(), signal.SIGKILL)

    def destroy(self) -> None:
        self.script("replica.sh", "destroy", check=False)
        for data in (self.data, self.parent / "drill" / "data"):
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    [
                        *(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []),
                        client_binary("pg_ctl"),
                        "-D",
                        str(data),
                        "stop",
                        "-m",
                        "immediate",
                    ],
                    capture_output=True,
                    check=False,
                )
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(f"{self.sock}-r", ignore_errors=True)
        shutil.rmtree(f"{self.sock}-d", ignore_errors=True)


def project_ids(cluster: ScratchCluster) -> set[str]:
    return {str(row[0]) for row in cluster.query("SELECT id FROM projects.projects")}
