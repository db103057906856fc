"""The API p95 figures of a benchmark run against their targets, as a PNG."""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

_TARGET_MS = re.compile(r"<=\s*([\d.]+)\s*ms")


def plot_api_p95(reports, path: Path) -> Path:
    rows = []
    for report in reports:
        for fig in report.figures:
            match = _TARGET_MS.search(fig.target or "")
            if fig.unit == "ms" and "p95" in fig.name and match:
                rows.append((f"{report.section}: {fig.name}"[:70], fig.value, float(match.group(1))))
    if not rows:
        return path
    rows.reverse()
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(rows) + 1.5))
    labels = [r[0] for r in rows]
    values = [r[1] for r in rows]
    targets = [r[2] for r in rows]
    colors = ["#2e7d32" if v <= t else "#c62828" for v, t in zip(values, targets, strict=True)]
    ax.barh(labels, values, color=colors)
    ax.scatter(targets, labels, marker="|", s=400, color="black", label="target", zorder=3)
    ax.set_xlabel("p95 latency (ms)")
    ax.set_title("Tristate API p95 vs target (green: met, red: missed)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
