"""Observability: request ids, Prometheus metrics and structured logs (docs/observability/).

- `context`: the request id of the request being served (a contextvar), for log lines,
  the error envelope and audit entries.
- `metrics`: every metric the process records, with prometheus-client.
- `middleware`: per request: the request id, HTTP and database figures, one log line.
- `state`: figures read from the database when /metrics is scraped (audit chain,
  partitions, providers, replica).
- `logs`: the JSON formatter and the filter that puts the request id on every record.
- `domain`: domain counters derived from audit entries and API error codes.
- `views`: /metrics (guarded by METRICS_TOKEN) and /readyz.
"""

import os

# An empty PROMETHEUS_MULTIPROC_DIR (a blank line in .env) means off, as unset does:
# prometheus-client would take "" for a directory. Here, before any submodule imports it.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == "":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
