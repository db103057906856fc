"""scripts/pg.sh turns on WAL archiving with pgBackRest: on a new cluster, and on a
cluster made before archiving existed (configured, restarted once); re-running it changes
nothing and restarts nothing. Scratch clusters only: the shared one is never restarted."""

import os
import subprocess

import pytest

from core.pgtools import client_binary

from .pitr_support import ScratchCluster

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster():
    c = ScratchCluster(prefix="tristate-archiving-")
    try:
        yield c
    finally:
        c.destroy()


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _settings(cluster: ScratchCluster) -> dict:
    return dict(
        cluster.query(
            "SELECT name, setting FROM pg_settings "
            "WHERE name IN ('archive_mode', 'archive_command', 'archive_timeout')",
            dbname="postgres",
        )
    )


def _check(cluster: ScratchCluster) -> subprocess.CompletedProcess:
    return subprocess.run(
        _as_postgres(["pgbackrest", f"--config={cluster.pgbackrest_conf}", "--stanza=tristate", "check"]),
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_cluster_without_archiving_is_configured_and_restarted_once(cluster):
    # A cluster as scripts/pg.sh made them before archiving: running, archive_mode off.
    cluster.parent.mkdir()
    cluster.sock.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres:", str(cluster.parent), str(cluster.sock)], check=True)
    subprocess.run(
        _as_postgres([client_binary("initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth-local=trust"]),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres(
            [client_binary("pg_ctl"), "-D", str(cluster.data), "start", "-w", "-l", str(cluster.parent / "old.log"),
             "-o", f"-k {cluster.sock} -c listen_addresses=''"]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert _settings(cluster)["archive_mode"] == "off"
    old_pid = cluster.postmaster_pid()

    first = cluster.script("pg.sh", "start", PGBR_ARCHIVE_TIMEOUT="60")
    assert "restarting PostgreSQL once to turn on WAL archiving" in first.stderr
    settings = _settings(cluster)
    assert settings["archive_mode"] == "on" and settings["archive_timeout"] == "60"
    assert f"--config={cluster.pgbackrest_conf} --stanza=tristate" in settings["archive_command"]
    assert "archive-push %p" in settings["archive_command"]
    restarted_pid = cluster.postmaster_pid()
    assert restarted_pid != old_pid
    check = _check(cluster)
    assert check.returncode == 0, check.stdout + check.stderr  # a WAL segment reached the repository

    again = cluster.script("pg.sh", "start")
    assert "restarting" not in again.stderr and cluster.postmaster_pid() == restarted_pid
    conf = (cluster.data / "postgresql.conf").read_text()
    assert conf.count("include_if_exists = 'tristate-archive.conf'") == 1


def test_a_new_cluster_archives_from_the_start(cluster):
    cluster.start()
    assert _settings(cluster)["archive_mode"] == "on"
    check = _check(cluster)
    assert check.returncode == 0, check.stdout + check.stderr
