"""Backups and restores with pgBackRest, through the real scripts (make backup / make
restore / make restore-drill run them) on a scratch cluster with an app serving it:

- the latest backup restores into a scratch data directory, where the chain and the row
  counts verify;
- a restore to a point in time T keeps every write before T and none after, the chain
  verifies, its head is not after T and the restore's own entry is there; a checkpoint
  exported after T reads as cut by that restore, not as tampering;
- the data directory is lost: every write acknowledged before the last archived WAL
  segment comes back (the RPO and RTO are measured and printed).
"""

import json
import shutil
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from audits import signing
from core.testing import gunicorn_server

from .pitr_support import ScratchCluster, project_ids

pytestmark = pytest.mark.slow
# Low, so that the measured data loss of a lost disk stays short; production keeps 60 s.
ARCHIVE_TIMEOUT = 5


@dataclass
class Site:
    cluster: ScratchCluster
    base: str
    auth: dict
    server: object

    def create_project(self, name: str, timeout: float = 20) -> httpx.Response:
        return httpx.post(self.base + "/api/v1/projects/", headers=self.auth, json={"name": name}, timeout=timeout)

    def create_projects(self, prefix: str, n: int) -> list[str]:
        ids = []
        for i in range(n):
            response = self.create_project(f"{prefix} {i}")
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        return ids

    def assert_serving(self) -> None:
        """The same app server (no restart) reads and writes the restored database."""
        deadline = time.monotonic() + 20
        name = f"after the restore {uuid.uuid4().hex[:8]}"
        while (response := self.create_project(name)).status_code != 201:
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "the app did not recover after the restore"
            time.sleep(0.2)
        assert self.server.poll() is None, "the app server had to restart"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    cluster = ScratchCluster(archive_timeout=ARCHIVE_TIMEOUT)
    try:
        cluster.start()
        auth = cluster.migrate_and_sign_in()
        log = tmp_path_factory.mktemp("pitr") / "server.log"
        env = {**cluster.app_env, "DB_STATEMENT_TIMEOUT_MS": "5000"}
        with gunicorn_server(env, log, workers=2, extra_args=("--timeout", "30")) as (base, server):
            yield Site(cluster, base, auth, server)
    finally:
        cluster.destroy()


def _counts(cluster: ScratchCluster) -> dict:
    [row] = cluster.query(
        "SELECT (SELECT count(*) FROM audits.audit_log), (SELECT count(*) FROM projects.projects), "
        "(SELECT count(*) FROM experiments.experiments), (SELECT count(*) FROM providers.usage_tracking)"
    )
    return dict(zip(("audit_log", "experiments", "projects", "usage_tracking"), (row[0], row[2], row[1], row[3])))


def test_the_latest_backup_restores_into_a_scratch_directory(site):
    site.create_projects("before the backup", 5)
    backup = site.cluster.script("pgbackrest.sh", "backup", BACKUP_TYPE="full")
    assert "backup:" in backup.stdout and "F (full requested)" in backup.stdout, backup.stdout
    assert "size:" in backup.stdout and "duration:" in backup.stdout
    live = _counts(site.cluster)  # nothing writes between the backup and here

    drill = site.cluster.script("pgbackrest.sh", "drill")
    [rows] = [line for line in drill.stdout.splitlines() if line.startswith("rows: ")]
    restored = {k: int(v) for k, v in (pair.split("=") for pair in rows.removeprefix("rows: ").split())}
    assert restored == live, (restored, live)
    assert restored["projects"] >= 5
    assert "OK: " in drill.stdout and "by status: ok" in drill.stdout, drill.stdout
    assert not (site.cluster.parent / "drill").exists(), "the drill left its scratch copy behind"


def test_restore_to_a_point_in_time(site, tmp_path, capsys):
    site.cluster.script("pgbackrest.sh", "backup")  # incr, or full when none exists
    batch_a = site.create_projects("batch A", 8)
    time.sleep(0.3)
    target = datetime.now(UTC)
    time.sleep(0.3)
    batch_b = site.create_projects("batch B", 8)
    checkpoint = tmp_path / "head-after-b.json"
    site.cluster.manage("audit_checkpoint", "--out", str(checkpoint))

    refused = site.cluster.script("pgbackrest.sh", "restore", check=False, TARGET_TIME=target.isoformat())
    assert refused.returncode == 2 and "CONFIRM=yes" in refused.stderr
    assert set(batch_b) <= project_ids(site.cluster), "a refused restore changed something"

    # The app keeps writing through the restore: its writes fail (503) while the server is
    # down or recovering, and none gets in before the restore's own entry.
    stop, during = threading.Event(), []

    def keep_writing():
        with httpx.Client(headers=site.auth, timeout=20) as client:
            while not stop.is_set():
                name = f"during the restore {uuid.uuid4().hex[:8]}"
                during.append(client.post(site.base + "/api/v1/projects/", json={"name": name}).status_code)
                time.sleep(0.05)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    started = time.monotonic()
    restore = site.cluster.script("pgbackrest.sh", "restore", CONFIRM="yes", TARGET_TIME=target.isoformat())
    rto = time.monotonic() - started
    time.sleep(1)
    stop.set()
    writer.join(30)
    assert set(during) <= {201, 503} and 503 in during, Counter(during)
    label = restore.stdout.split("restored: backup ", 1)[1].split(",", 1)[0]
    ids = project_ids(site.cluster)
    assert set(batch_a) <= ids
    assert not set(batch_b) & ids

    [(seq, payload)] = site.cluster.query(
        "SELECT chain_seq, payload FROM audits.audit_log WHERE entity = 'database' AND action = 'restored' "
        "AND payload->>'target_time' = %s",
        [signing.ts_text(target)],
    )
    assert payload["backup_label"] == label and payload["tool"] == "pgbackrest"
    # Everything before the restore's entry was written before T: the chain's head
    # as restored is not after T, and nothing written after T came back.
    [(before_max_ts,)] = site.cluster.query("SELECT max(ts) FROM audits.audit_log WHERE chain_seq < %s", [seq])
    assert before_max_ts <= target
    assert payload["restored_head"]["ts"] <= signing.ts_text(target)
    assert "OK: " in restore.stdout, restore.stdout

    result = site.cluster.verify_chain()
    assert result["ok"] and result["head"]["chain_seq"] > seq
    # The checkpoint exported after T names a position the restore cut: explained.
    explained = site.cluster.verify_chain("--checkpoint", str(checkpoint))
    assert explained["ok"] and "cut by the restore" in explained["restore_note"], explained
    # The same position in a checkpoint exported after the restore is a real cut.
    doc = {k: v for k, v in json.loads(checkpoint.read_text()).items() if k != "mac"}
    doc["exported_at"] = signing.ts_text(datetime.now(UTC))
    forged = tmp_path / "exported-after-restore.json"
    forged.write_text(json.dumps({**doc, "mac": signing.sign_document(signing.signing_key(), doc)}))
    tampered = site.cluster.manage("verify_audit_chain", "--checkpoint", str(forged), check=False)
    assert tampered.returncode != 0 and "BROKEN" in tampered.stderr, tampered.stdout + tampered.stderr

    site.assert_serving()
    with capsys.disabled():
        print(f"\n[pitr] point-in-time restore: RTO {rto:.1f} s (archive, stop, restore, replay, audit entry, chain)")


def test_lost_data_directory_loses_nothing_archived(site, capsys):
    site.cluster.script("pgbackrest.sh", "backup")
    acks: list[tuple[float, str]] = []  # (when acknowledged, project id)
    failures: list[str] = []
    stop = threading.Event()

    def writer():
        i = 0
        with httpx.Client(headers=site.auth, timeout=10) as client:
            while not stop.is_set():
                i += 1
                try:
                    response = client.post(site.base + "/api/v1/projects/", json={"name": f"lost disk {i}"})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code == 201:
                    acks.append((time.time(), response.json()["id"]))
                elif response.status_code != 503:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(1.5)
    archived_before = len(acks)  # acknowledged before the switch: in the archived segment
    site.cluster.switch_wal_and_wait_archived()
    # Keep writing past an archive_timeout: some of it is archived, the rest is lost.
    time.sleep(ARCHIVE_TIMEOUT + 2)
    # The machine is lost: no shutdown, then no data directory.
    site.cluster.kill_postmaster()
    lost_at = time.time()
    time.sleep(1)
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert not failures, failures[:5]
    shutil.rmtree(site.cluster.data)

    started = time.monotonic()
    restore = site.cluster.script("pgbackrest.sh", "restore")
    rto = time.monotonic() - started
    assert "OK: " in restore.stdout, restore.stdout

    present = project_ids(site.cluster)
    missing_archived = [pid for _, pid in acks[:archived_before] if pid not in present]
    assert not missing_archived, f"{len(missing_archived)} writes of archived WAL lost"
    surviving = [when for when, pid in acks if pid in present]
    lost = [when for when, pid in acks if pid not in present]
    last_ack = max(when for when, _ in acks if when <= lost_at)
    rpo = last_ack - max(surviving) if lost else 0.0
    assert rpo <= ARCHIVE_TIMEOUT + 3, f"{rpo:.1f} s of acknowledged writes lost (archive_timeout {ARCHIVE_TIMEOUT} s)"
    with capsys.disabled():
        print(
            f"\n[pitr] lost data directory: {len(acks)} writes acknowledged, {len(lost)} lost; "
            f"RPO {rpo:.1f} s (archive_timeout {ARCHIVE_TIMEOUT} s), RTO {rto:.1f} s (restore, recovery, "
            "audit entry, chain verification)"
        )
    site.cluster.verify_chain()
    site.assert_serving()
