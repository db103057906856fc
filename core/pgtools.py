"""Run PostgreSQL's client programs (pg_dump, pg_restore) against a configured database."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

from django.conf import settings


def client_binary(name: str) -> str:
    """The newest installed version of a client program (Debian keeps them off PATH)."""
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found (install the postgresql-client package)")
    return found


def connection_env(alias: str | None = None, dbname: str | None = None) -> tuple[list[str], dict]:
    """Command-line connection arguments and environment (password) for a database alias."""
    alias = alias or ("owner" if "owner" in settings.DATABASES else "default")
    db = settings.DATABASES[alias]
    args = ["--dbname", dbname or db["NAME"]]
    if db.get("HOST"):
        args += ["--host", db["HOST"]]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return args, env


def run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    # argv is built from settings and operator-given paths, never shell-interpreted.
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
