"""One WSGI application serving both sides of bench/metrics_overhead.py: requests with
`X-Bench-Side: off` go to a Django handler built without the observability middleware,
the others to the project's own (config.wsgi). Both sides run in the same gunicorn
workers, so what differs between two servers (which worker is warmer, where the
scheduler put it, the memory layout of each process) no longer shows as a difference
between with and without (docs/observability/README.md, Cost).

`gunicorn bench._metrics_ab_wsgi:application` (bench settings unless
DJANGO_SETTINGS_MODULE says otherwise)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings

from config.wsgi import application as with_observability

SIDE_HEADER = "HTTP_X_BENCH_SIDE"

with override_settings(MIDDLEWARE=[name for name in settings.MIDDLEWARE if not name.startswith("core.observability.")]):
    without_observability = WSGIHandler()


def application(environ, start_response):
    handler = without_observability if environ.get(SIDE_HEADER) == "off" else with_observability
    return handler(environ, start_response)
