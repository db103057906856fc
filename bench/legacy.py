"""Legacy import: records/s end to end and peak memory, for an export of 10,000 users (≈ 700,000 records).

The export is generated once by the shared make_sample.py (`--users 10000 --seed 7`) into
bench/.cache/ and reused. Each run imports it into a fresh database (`<bench db>_legacy`,
created and migrated here, dropped at the end) with the real command, in a subprocess:

1. first import: records/s (all records read, divided by the command's wall time, from
   process start to exit: Django start-up, reading, every batch, and sealing the audit
   chain before it returns) and the process's peak RSS; the counts are checked against
   the generator's --expect file;
2. a second import of the same export (nothing new: every record already present, the
   bad ones rejected again): records/s;
3. `verify_audit_chain` on the result: it must pass.

Floor, measured in the same run: read and json-parse every record of the export and COPY
its raw text into an unlogged table, one row per record (the least any importer must do).

Targets: ≥ 5,000 records/s and ≤ 500 MB peak RSS on this machine.
Knobs: LEGACY_BENCH_USERS (default 10000), LEGACY_BENCH_BATCH (default: the command's),
LEGACY_SAMPLE_SCRIPT (default ../shared/legacy/make_sample.py beside the checkout).

Run: .venv/bin/python -m bench legacy
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, raw_connection

USERS = int(os.environ.get("LEGACY_BENCH_USERS", "10000"))
SEED = 7
BATCH = os.environ.get("LEGACY_BENCH_BATCH")
SAMPLE = Path(os.environ.get("LEGACY_SAMPLE_SCRIPT", str(ROOT.parent / "shared" / "legacy" / "make_sample.py")))
CACHE = ROOT / "bench" / ".cache"
TARGET_RATE = 5000
TARGET_RSS_MB = 500


def _export() -> tuple[Path, str, dict]:
    """(directory, legacy key, expected counts), generating the export on first use."""
    out = CACHE / f"legacy-u{USERS}-s{SEED}"
    done = out / ".complete"
    if not done.is_file():
        if not SAMPLE.is_file():
            raise SystemExit(f"make_sample.py not found at {SAMPLE} (set LEGACY_SAMPLE_SCRIPT)")
        print(f"  generating the export ({USERS} users) into {out} ...", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                str(SAMPLE),
                str(out),
                "--users",
                str(USERS),
                "--seed",
                str(SEED),
                "--expect",
                str(out / "expect.json"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        key = next(line.split("=", 1)[1] for line in result.stdout.splitlines() if line.startswith("LEGACY_"))
        (out / ".key").write_text(key)
        done.write_text(f"{time.monotonic() - started:.1f}\n")
    expect = json.loads((out / "expect.json").read_text())
    return out, (out / ".key").read_text().strip(), expect


def _fresh_database() -> tuple[str, dict]:
    """Create (again) `<bench db>_legacy`, migrate it; returns its name and the env to use it."""
    base_url = os.environ["DATABASE_URL"]
    name = base_url.rsplit("/", 1)[1] + "_legacy"
    with raw_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": base_url.rsplit("/", 1)[0] + "/" + name}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    return name, env


def _drop(name: str) -> None:
    with raw_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _import(export: Path, key: str, env: dict, tag: str) -> dict:
    summary = CACHE / f"legacy-{tag}.summary.json"
    command = [sys.executable, "manage.py", "import_legacy", str(export), "--legacy-key", key, "-v", "0"]
    command += ["--rejects", str(CACHE / f"legacy-{tag}.rejects.jsonl"), "--summary-json", str(summary)]
    if BATCH:
        command += ["--batch-size", BATCH]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"import_legacy failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    doc = json.loads(summary.read_text())
    doc["wall"] = wall
    doc["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of children is the largest child so far (kB on Linux): this import is the
    # largest process the benchmark starts.
    doc["maxrss_mb"] = after.ru_maxrss / 1024
    return doc


def _floor(export: Path) -> float:
    """Seconds to read + json-parse every record and COPY its text into a table."""
    files = sorted(p for p in export.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json"))
    started = time.monotonic()
    with raw_connection() as conn:
        conn.execute("DROP TABLE IF EXISTS legacy_floor")
        conn.execute("CREATE UNLOGGED TABLE legacy_floor (file text, line int, raw text)")
        with conn.cursor() as cur, cur.copy("COPY legacy_floor (file, line, raw) FROM STDIN") as copy:
            for path in files:
                if path.name in ("expect.json", "manifest.json"):
                    continue
                if path.suffix == ".jsonl":
                    with open(path, encoding="utf-8-sig") as fh:
                        for n, line in enumerate(fh, 1):
                            line = line.strip()
                            if not line:
                                continue
                            try:
                                json.loads(line)
                            except ValueError:
                                continue
                            copy.write_row((path.name, n, line))
                else:
                    text = path.read_text(encoding="utf-8-sig")
                    try:
                        value = json.loads(text)
                    except ValueError:
                        continue
                    for item in value if isinstance(value, list) else [value]:
                        copy.write_row((path.name, 1, json.dumps(item)))
        conn.execute("DROP TABLE legacy_floor")
    return time.monotonic() - started


def _check(doc: dict, expect: dict) -> list[str]:
    s = doc["summary"]
    wanted = {
        "users": expect["users"],
        "policies": expect["policies"],
        "projects": expect["projects"],
        "experiments": expect["experiments"],
        "evaluations": expect["evaluations"],
        "quarantine": expect["quarantine_records"],
        "provider_keys": expect["provider_keys"],
        "audit": expect["audit_events"],
    }
    return [f"{k}: {s[k]['imported']} != {v}" for k, v in wanted.items() if s[k]["imported"] != v]


def main(report):
    export, key, expect = _export()
    floor_seconds = _floor(export)
    name, env = _fresh_database()
    try:
        first = _import(export, key, env, "first")
        records = first["totals"]["read"]
        problems = _check(first, expect)
        counts = "match --expect" if not problems else "DIFFER: " + "; ".join(problems)
        rate = records / first["wall"]
        report.add(
            "first import, records/s (end to end)",
            rate,
            "rec/s",
            target=f">= {TARGET_RATE}",
            met=rate >= TARGET_RATE,
            floor=records / floor_seconds,
            note=f"{records} records in {first['wall']:.1f} s (import {first['seconds']:.1f} s, "
            f"cpu {first['cpu']:.1f} s); counts {counts}",
        )
        report.add(
            "first import, peak RSS",
            first["maxrss_mb"],
            "MB",
            target=f"<= {TARGET_RSS_MB}",
            met=first["maxrss_mb"] <= TARGET_RSS_MB,
        )
        slow = sorted(first["kind_seconds"].items(), key=lambda kv: -kv[1])
        print("    seconds per kind: " + ", ".join(f"{k} {v:.1f}" for k, v in slow), flush=True)
        second = _import(export, key, env, "second")
        report.add(
            "second import (nothing new), records/s",
            second["totals"]["read"] / second["wall"],
            "rec/s",
            note=f"imported {second['totals']['imported']}, already present {second['totals']['already_present']}, "
            f"rejected {second['totals']['rejected']}",
        )
        started = time.monotonic()
        verify = subprocess.run(
            [sys.executable, "manage.py", "verify_audit_chain"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        report.add(
            "verify_audit_chain after the import",
            time.monotonic() - started,
            "s",
            met=verify.returncode == 0,
            note=(verify.stdout or verify.stderr).strip().splitlines()[-1][:120],
        )
        report.add(
            "floor: parse every record + COPY its text, records/s",
            records / floor_seconds,
            "rec/s",
            note=f"{floor_seconds:.1f} s",
        )
    finally:
        _drop(name)
