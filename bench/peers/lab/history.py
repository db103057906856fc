"""The actor, set as each history library's middleware would set it, for writes made
outside a request (the benchmark's writer processes) or after DRF authenticated the
request (auditlog's middleware reads the user before DRF's token authentication runs);
and how many history rows the library has written."""

import contextlib
from types import SimpleNamespace

from django.conf import settings


def actor(user):
    """A context manager under which saves are attributed to `user`."""
    if settings.PEER_HISTORY == "pghistory":
        import pghistory

        return pghistory.context(user=user.pk)
    if settings.PEER_HISTORY == "auditlog":
        from auditlog.context import set_actor

        return set_actor(user)
    if settings.PEER_HISTORY == "simplehistory":
        return _simple_history_request(user)
    return contextlib.nullcontext()


def request_actor(user):
    """The same inside a DRF view: only auditlog needs it (pghistory's middleware follows
    DRF's user, simple-history's reads it from the request when it saves)."""
    return actor(user) if settings.PEER_HISTORY == "auditlog" else contextlib.nullcontext()


@contextlib.contextmanager
def _simple_history_request(user):
    # What HistoryRequestMiddleware does: the request (here, what it reads of one) on
    # HistoricalRecords.context for the duration of the work.
    from simple_history.models import HistoricalRecords

    HistoricalRecords.context.request = SimpleNamespace(user=user)
    try:
        yield
    finally:
        del HistoricalRecords.context.request


def history_rows() -> dict:
    """{"rows": history rows of experiments, "with_actor": those naming their actor}."""
    from .models import Experiment

    if settings.PEER_HISTORY == "pghistory":
        from django.apps import apps

        events = apps.get_model("lab", "ExperimentEvent").objects
        return {"rows": events.count(), "with_actor": events.filter(pgh_context__metadata__user__isnull=False).count()}
    if settings.PEER_HISTORY == "auditlog":
        from auditlog.models import LogEntry

        entries = LogEntry.objects.get_for_model(Experiment)
        return {"rows": entries.count(), "with_actor": entries.filter(actor__isnull=False).count()}
    if settings.PEER_HISTORY == "simplehistory":
        rows = Experiment.history.all()
        return {"rows": rows.count(), "with_actor": rows.filter(history_user__isnull=False).count()}
    return {"rows": 0, "with_actor": 0}
