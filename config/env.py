"""The one `environ.Env` every settings module reads from.

Values come from the process environment first, then from `.env` at the repository root
(written by `make run`/`make test` with fresh secrets). When DATABASE_URL is set nowhere,
the project-local cluster's URLs (written by scripts/pg.sh into `.local-db.env`) are used.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    # read_env never overrides variables already present in the environment.
    environ.Env.read_env(str(BASE_DIR / ".env"))

LOCAL_CLUSTER = False
if not env.str("DATABASE_URL", default="") and (BASE_DIR / ".local-db.env").is_file():
    environ.Env.read_env(str(BASE_DIR / ".local-db.env"))
    LOCAL_CLUSTER = True
