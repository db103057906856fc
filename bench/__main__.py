"""`python -m bench [name ...]` (`make bench`): run the benchmarks and report.

Each bench/<name>.py has a main(report). With no name, every benchmark runs in turn
(`soak` is a pass/fail load test with its own target, `make soak`). Afterwards one table
is printed — figure, value, target, met or missed, ratio to the raw-SQL floor measured
in the same run — and written to bench/results/latest.json, with a plot of the API p95
figures against their targets in bench/results/api_p95.png.
"""

import importlib
import json
import os
import pkgutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench.common import RESULTS_DIR, Report, cpu_probe_ms, cpu_times, setup_django, steal_pct

NOT_IN_ALL = {"common", "__main__", "soak", "plot"}
ORDER = ["audit", "accounts", "zones", "providers", "production", "legacy"]


def available() -> list[str]:
    here = Path(__file__).parent
    names = {m.name for m in pkgutil.iter_modules([str(here)])} - NOT_IN_ALL
    return [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER and not n.startswith("_"))


def _streaming_replicas() -> int:
    """Standbys streaming from the benchmarked server. A local one (make test starts
    scripts/replica.sh) replays every write on the same cores: figures then include it."""
    from bench.common import raw_connection

    try:
        with raw_connection() as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_replication").fetchone()[0]
    except Exception:  # the figure is informative only
        return -1


def _machine() -> dict:
    load = os.getloadavg()
    replicas = _streaming_replicas()
    if replicas > 0:
        print(
            f"  warning: {replicas} standby streaming from this server; its replay shares the CPU "
            "(scripts/replica.sh stop for clean figures)",
            flush=True,
        )
    return {
        "cores": os.cpu_count(),
        "load_1m": round(load[0], 2),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "streaming_replicas": replicas,
        "cpu_probe_ms": cpu_probe_ms(),
    }


def summary_table(reports: list[Report]) -> str:
    rows = [f"{'section':<10} {'figure':<58} {'value':>12} {'unit':<10} {'target':<22} {'':<7} {'vs floor':>9}"]
    for report in reports:
        for fig in report.figures:
            if not fig.target and fig.ratio is None:
                continue
            verdict = "" if fig.met is None else ("met" if fig.met else "MISSED")
            ratio = "" if fig.ratio is None else f"{fig.ratio:.2f}x"
            rows.append(
                f"{report.section:<10} {fig.name[:58]:<58} {fig.value:>12.2f} {fig.unit:<10} "
                f"{fig.target[:22]:<22} {verdict:<7} {ratio:>9}"
            )
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    names = argv or available()
    setup_django(suffix="_soak" if names == ["soak"] else "_bench")
    reports, failures = [], []
    machine = _machine()
    times_before = cpu_times()
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        report = Report(section=name)
        title = module.__doc__.strip().splitlines()[0] if module.__doc__ else ""
        print(f"== {name}: {title}", flush=True)
        started = time.perf_counter()
        try:
            module.main(report)
        except Exception as exc:  # one benchmark failing must not hide the others' figures
            failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
            print(f"   FAILED: {exc}", flush=True)
        print(f"   saved {report.save()} ({time.perf_counter() - started:.0f} s)", flush=True)
        reports.append(report)
    machine["load_1m_after"] = round(os.getloadavg()[0], 2)
    machine["cpu_probe_ms_after"] = cpu_probe_ms()
    machine["steal_pct"] = steal_pct(times_before, cpu_times())
    print("\n" + summary_table(reports))
    if argv:  # a partial run keeps its per-section files; latest.json is the full run's
        print(f"machine: {machine}")
        return 1 if failures else 0
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    latest = {
        "machine": machine,
        "sections": {r.section: [asdict(f) | {"ratio": f.ratio} for f in r.figures] for r in reports},
        "failures": failures,
    }
    (RESULTS_DIR / "latest.json").write_text(json.dumps(latest, indent=1, default=str))
    try:
        from bench.plot import plot_api_p95

        print(f"plot: {plot_api_p95(reports, RESULTS_DIR / 'api_p95.png')}")
    except ImportError:
        print("plot skipped: matplotlib is not installed (pip install -r requirements-dev.txt)")
    print(f"results: {RESULTS_DIR / 'latest.json'} (machine: {machine})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
