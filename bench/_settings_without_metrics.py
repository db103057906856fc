"""The benchmark settings without the observability middleware: the "off" side of
bench/metrics_overhead.py (no request id, no HTTP or database metrics, no request log
line)."""

from config.settings.bench import *  # noqa: F403
from config.settings.bench import MIDDLEWARE

MIDDLEWARE = [name for name in MIDDLEWARE if not name.startswith("core.observability.")]
