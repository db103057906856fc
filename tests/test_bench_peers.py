"""`make bench-peers` keeps working as the code changes: its quick version's smallest step
(one round, a few writes and requests per figure, 1,000 experiments) for every system,
in databases of its own named after this suite's test database. It checks that the
benchmark ran and that every system recorded its writes with their actor; it asserts no
speed (figures are ratios read by people, not thresholds)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
WRITES = 3  # per writer, 8 writers: creates, then as many transitions


@pytest.mark.slow
def test_bench_peers_smallest_step(tmp_path):
    database = settings.DATABASES["default"]
    prefix = (database.get("TEST", {}).get("NAME") or f"test_{database['NAME']}") + "_peers"
    env = {
        **os.environ,
        "BENCH_QUICK": "1",
        "BENCH_PEERS_ROUNDS": "1",
        "BENCH_PEERS_EXPERIMENTS": "1000",
        "BENCH_PEERS_AUDIT_ROWS": "0",
        "BENCH_PEERS_WRITES": str(WRITES),
        "BENCH_PEERS_REQUESTS": "3",
        "BENCH_PEERS_CLIENT_REQUESTS": "2",
        "BENCH_GUNICORN_WORKERS": "2",
        "BENCH_PEERS_DB_PREFIX": prefix,
        "BENCH_PEERS_OUT": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.peers"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "peers.json").read_text())
    assert (tmp_path / "peers.png").stat().st_size > 10_000

    (only_round,) = result["rounds"]
    assert set(only_round) == {"tristate", "plain", "pghistory", "auditlog", "simplehistory", "raw"}
    written = 2 * 8 * WRITES
    for system, figures in only_round.items():
        history = figures["writes"]["history"]
        # Every write left its history row naming its actor (the peers' too: their
        # libraries were wired as their middleware would be). plain keeps none.
        if system != "plain":
            assert history["with_actor"] >= written, (system, history)
        for phase in ("create", "transition"):
            assert figures["writes"][phase]["rows_per_s"] > 0, (system, phase)
            assert figures["writes"][phase]["cpu_ms_per_write"] > 0, (system, phase)
    verify = only_round["tristate"]["verify"]
    assert verify["ok"] and verify["checked"] >= written

    figures = {f["key"]: f for f in result["figures"]}
    for key in ("writes_create_rate", "writes_create_rate_chained", "writes_create_cpu", "writes_transition_rate"):
        assert all(figures[key]["ratios"][peer] for peer in ("plain", "pghistory", "auditlog", "simplehistory", "raw"))
    for key in ("http_create_p50", "http_detail_p50", "http_list_p50", "http_list_status_p50", "http_noop_p50"):
        assert all(figures[key]["ratios"][peer] for peer in ("plain", "pghistory", "auditlog", "simplehistory"))
    assert figures["http_detail_p50"]["ratios"]["raw"], "the raw floor's primary-key select"
    assert figures["verify_rate"]["medians"]["tristate"] > 0
    # The same data everywhere: every system's lists counted the same rows.
    assert len({json.dumps(c, sort_keys=True) for c in result["list_counts"].values()}) == 1
    assert "| 8 writers, creates/s (to last commit) |" in result["table_md"]
