"""gunicorn reads this file from the working directory by default (`gunicorn
config.wsgi:application` in the checkout). Its only job: prometheus-client's
multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (docs/observability/README.md)."""

import os


def on_starting(server):
    """Start from an empty metrics directory: files of a previous run would add their
    figures (of processes long gone) to this run's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                if name.endswith(".db"):
                    os.unlink(os.path.join(directory, name))
        else:
            os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    """A worker's in-flight gauge stops counting when it exits (its counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
