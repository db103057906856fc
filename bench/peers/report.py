"""The figures of every round, their per-round ratios Tristate / system (median, min, max),
the Markdown table and the plot (bench/results/peers.json, peers.png)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

PEERS = ["plain", "pghistory", "auditlog", "simplehistory", "raw"]
NAMES = {
    "tristate": "Tristate",
    "plain": "plain DRF",
    "pghistory": "pghistory",
    "auditlog": "auditlog",
    "simplehistory": "simplehistory",
    "raw": "raw floor",
}

# (key, label, unit, where Tristate's value is in a round's figures, where the peers' is
# when elsewhere: see _peer_path; () when no peer has one)
FIGURES = [
    ("writes_create_rate", "8 writers, creates/s (to last commit)", "/s", ("writes", "create", "rows_per_s"), None),
    (
        "writes_create_rate_chained",
        "8 writers, creates/s (Tristate: to every entry chained)",
        "/s",
        ("writes", "create", "rows_per_s_chained"),
        ("writes", "create", "rows_per_s"),
    ),
    ("writes_create_p50", "8 writers, create p50", "ms", ("writes", "create", "p50_ms"), None),
    ("writes_create_p95", "8 writers, create p95", "ms", ("writes", "create", "p95_ms"), None),
    ("writes_create_cpu", "CPU per create (writer + backends)", "ms", ("writes", "create", "cpu_ms_per_write"), None),
    (
        "writes_create_cpu_writers",
        "CPU per create, writer processes",
        "ms",
        ("writes", "create", "cpu_ms_per_write_writers"),
        None,
    ),
    (
        "writes_create_cpu_backends",
        "CPU per create, database backends",
        "ms",
        ("writes", "create", "cpu_ms_per_write_backends"),
        None,
    ),
    ("writes_transition_rate", "8 writers, transitions/s", "/s", ("writes", "transition", "rows_per_s"), None),
    (
        "writes_transition_rate_chained",
        "8 writers, transitions/s (Tristate: chained)",
        "/s",
        ("writes", "transition", "rows_per_s_chained"),
        ("writes", "transition", "rows_per_s"),
    ),
    ("writes_transition_p50", "8 writers, transition p50", "ms", ("writes", "transition", "p50_ms"), None),
    ("writes_transition_p95", "8 writers, transition p95", "ms", ("writes", "transition", "p95_ms"), None),
    ("writes_transition_cpu", "CPU per transition", "ms", ("writes", "transition", "cpu_ms_per_write"), None),
    (
        "writes_transition_cpu_writers",
        "CPU per transition, writer processes",
        "ms",
        ("writes", "transition", "cpu_ms_per_write_writers"),
        None,
    ),
    (
        "writes_transition_cpu_backends",
        "CPU per transition, database backends",
        "ms",
        ("writes", "transition", "cpu_ms_per_write_backends"),
        None,
    ),
    ("http_create_p50", "POST create p50, 1 client", "ms", ("http1", "create", "p50_ms"), None),
    ("http_create_p95", "POST create p95, 1 client", "ms", ("http1", "create", "p95_ms"), None),
    ("http_detail_p50", "GET detail p50, 1 client", "ms", ("http1", "detail", "p50_ms"), ("reads", "p50_ms")),
    ("http_detail_p95", "GET detail p95, 1 client", "ms", ("http1", "detail", "p95_ms"), ("reads", "p95_ms")),
    ("http_list_p50", "GET list project+status p50", "ms", ("http1", "list", "p50_ms"), None),
    ("http_list_p95", "GET list project+status p95", "ms", ("http1", "list", "p95_ms"), None),
    ("http_list_status_p50", "GET list by status, all rows, p50", "ms", ("http1", "list_status", "p50_ms"), None),
    ("http_list_status_p95", "GET list by status, all rows, p95", "ms", ("http1", "list_status", "p95_ms"), None),
    ("http_transition_p50", "POST transition p50, 1 client", "ms", ("http1", "transition", "p50_ms"), None),
    ("http_transition_p95", "POST transition p95, 1 client", "ms", ("http1", "transition", "p95_ms"), None),
    ("http_noop_p50", "GET authenticated no-op p50", "ms", ("http1", "noop", "p50_ms"), None),
    ("http_noop_p95", "GET authenticated no-op p95", "ms", ("http1", "noop", "p95_ms"), None),
    ("http8_create", "POST create, 8 clients", "req/s", ("http8", "create", "req_per_s"), None),
    ("http8_detail", "GET detail, 8 clients", "req/s", ("http8", "detail", "req_per_s"), None),
    ("http8_list", "GET list project+status, 8 clients", "req/s", ("http8", "list", "req_per_s"), None),
    ("http8_transition", "POST transition, 8 clients", "req/s", ("http8", "transition", "req_per_s"), None),
    ("verify_rate", "chain verification (Tristate only)", "rows/s", ("verify", "rows_per_s"), ()),
]


def _peer_path(peer: str, path: tuple, peer_path: tuple | None) -> tuple:
    """Where a peer's value of the figure is: the same place as Tristate's, or elsewhere
    (the peers' rate to last commit beside Tristate's rate to the last entry chained); the
    raw floor's detail is its primary-key select, which the HTTP peers do not report."""
    if peer_path is None:
        return path
    if peer_path and peer_path[0] == "reads":
        return peer_path if peer == "raw" else path
    return peer_path


def _dig(figures: dict, path: tuple):
    if not path:
        return None
    for key in path:
        if not isinstance(figures, dict) or key not in figures:
            return None
        figures = figures[key]
    return figures


def _spread(values: list[float]) -> dict | None:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else None


def build(rounds: list[dict], *, cfg: dict, machine: dict, list_counts: dict) -> dict:
    figures = []
    for key, label, unit, path, peer_path in FIGURES:
        values = {system: [] for system in ["tristate", *PEERS]}
        ratios = {peer: [] for peer in PEERS}
        for figures_of in rounds:
            ours = _dig(figures_of.get("tristate", {}), path)
            if ours is not None:
                values["tristate"].append(ours)
            for peer in PEERS:
                theirs = _dig(figures_of.get(peer, {}), _peer_path(peer, path, peer_path))
                if theirs is None:
                    continue
                values[peer].append(theirs)
                if ours is not None and theirs:
                    ratios[peer].append(ours / theirs)
        figures.append(
            {
                "key": key,
                "label": label,
                "unit": unit,
                "better": "lower" if unit == "ms" else "higher",
                "medians": {s: statistics.median(v) if v else None for s, v in values.items()},
                "ratios": {peer: _spread(r) for peer, r in ratios.items()},
            }
        )
    result = {"config": cfg, "machine": machine, "list_counts": list_counts, "figures": figures, "rounds": rounds}
    result["table_md"] = table(result)
    return result


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _ratio(spread: dict | None) -> str:
    if not spread:
        return "—"
    return f"{spread['median']:.2f}× ({spread['min']:.2f}–{spread['max']:.2f})"


def table(result: dict) -> str:
    systems = ["tristate", *PEERS]
    lines = [
        "| figure | unit | " + " | ".join(NAMES[s] for s in systems) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in systems) + " |",
    ]
    for fig in result["figures"]:
        cells = [_number(fig["medians"][s], fig["unit"]) for s in systems]
        lines.append(f"| {fig['label']} | {fig['unit']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Tristate / system, median of the per-round ratios (min–max); for ms lower is better "
        "for Tristate, for rates higher is:",
        "",
        "| figure | " + " | ".join(NAMES[p] for p in PEERS) + " |",
        "| --- | " + " | ".join("---:" for _ in PEERS) + " |",
    ]
    for fig in result["figures"]:
        if any(fig["ratios"].values()):
            lines.append(f"| {fig['label']} | " + " | ".join(_ratio(fig["ratios"][p]) for p in PEERS) + " |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [f for f in result["figures"] if any(f["ratios"].values())]
    height = 0.8 / len(PEERS)
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(rows) + 2))
    for k, peer in enumerate(PEERS):
        ys, medians, low, high = [], [], [], []
        for i, f in enumerate(rows):
            spread = f["ratios"][peer]
            if spread:
                ys.append(len(rows) - 1 - i + (k - len(PEERS) / 2) * height)
                medians.append(spread["median"])
                low.append(spread["median"] - spread["min"])
                high.append(spread["max"] - spread["median"])
        ax.barh(ys, medians, height=height, xerr=[low, high], label=NAMES[peer], capsize=2)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [f"{f['label']} ({'lower' if f['unit'] == 'ms' else 'higher'} is better)" for f in reversed(rows)]
    )
    ax.set_xlabel("Tristate / system (median of per-round ratios, bars: min–max)")
    when = result["machine"]["before"]["when"]
    ax.set_title(f"bench/peers, {result['config']['rounds']} rounds, {when}")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save(result: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = out / "peers.json"
    data.write_text(json.dumps(result, indent=1, default=str))
    return [data, plot(result, out / "peers.png")]
