"""The one `environ.Env` every settings module reads from.

Values come from the process environment first, then from `.env` at the repository root
(written by `make run`/`make test` with fresh secrets). When DATABASE_URL is not set, the
project-local cluster's URL (written by scripts/pg.sh into `.local-db-url`) is used.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    # read_env never overrides variables already present in the environment.
    environ.Env.read_env(str(BASE_DIR / ".env"))


def local_database_url() -> str | None:
    path = BASE_DIR / ".local-db-url"
    return path.read_text().strip() if path.is_file() else None
