"""The console's own pages (besides the model pages): database health and audit chain
verification. Wrapped by ConsoleAdminSite.admin_view (staff login, CSRF, no caching)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from datetime import time as dtime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from psycopg.errors import QueryCanceled

from audits.keycheck import WrongSigningKey
from audits.selectors import chain_status, partition_summary
from audits.services import verification_record
from audits.verify import verify_chain as run_verification
from core.db.stats import collect


def console_home(request):
    return HttpResponseRedirect(reverse("admin:index"))


# --- Database health ---------------------------------------------------------------------

# Literals in the text of running queries may carry data (even a sealed secret in an
# INSERT): the page shows the query's shape only.
_STRING = re.compile(r"(?:[EeBbXxUu]&?)?'(?:[^']|'')*'?")
_DOLLAR = re.compile(r"\$([A-Za-z_]*)\$.*?(?:\$\1\$|$)", re.S)
_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")


def mask_literals(sql: str) -> str:
    sql = _DOLLAR.sub("$…$", sql or "")
    sql = _STRING.sub("'…'", sql)
    return _NUMBER.sub("…", sql)


def _size(n: int | None) -> str:
    n = float(n or 0)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def database_health(request):
    if not request.user.has_perm("console.view_database_health"):
        raise PermissionDenied
    stats = collect()
    for row in stats["longest_queries"]:
        row["query"] = mask_literals(row["query"])
    for group in ("schemas", "tables", "partitions", "indexes"):
        for row in stats[group]:
            row["size"] = _size(row.get("bytes"))
    for row in stats["tables"]:
        live, dead = row["live_tuples"] or 0, row["dead_tuples"] or 0
        row["dead_pct"] = round(100 * dead / (live + dead), 1) if live + dead else 0
        # Worth a look: a fifth of the table dead, and enough rows for it to matter.
        row["dead_flag"] = dead >= 1000 and row["dead_pct"] >= 20
    connections = stats["connections"]
    context = {
        **admin.site.each_context(request),
        "title": "Database health",
        "stats": stats,
        "database_size": _size(stats["database_bytes"]),
        "connections_pct": round(100 * connections["total"] / connections["max_connections"], 1)
        if connections["max_connections"]
        else 0,
        "unused_indexes": [row for row in stats["indexes"] if row["unused"]],
        "audit_partitions": partition_summary(),
    }
    return TemplateResponse(request, "admin/console/database_health.html", context)


# --- Audit chain verification ----------------------------------------------------------------


class VerifyForm(forms.Form):
    since = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Start at the first entry of this day (UTC); empty verifies the whole chain.",
    )


def verify_chain(request):
    """GET: the chain's head, sealing lag and the recent verifications. POST: run one
    (audits.verify.verify_chain, recorded and audited by audits.services.verification_record)."""
    from audits.models import Verification

    if not request.user.has_perm("audits.view_verification"):
        raise PermissionDenied
    can_run = request.user.has_perm("console.run_chain_verification")
    form = VerifyForm(request.POST or None)
    if request.method == "POST":
        if not can_run:
            raise PermissionDenied
        if form.is_valid():
            since_day = form.cleaned_data.get("since")
            since = datetime.combine(since_day, dtime.min, tzinfo=UTC) if since_day else None
            started = time.monotonic()
            try:
                result = run_verification(since=since)
            except WrongSigningKey as exc:  # not tampering: nothing is run, recorded or sealed
                messages.error(request, exc.message)
                return HttpResponseRedirect(reverse("admin:console_verify_chain"))
            except OperationalError as exc:
                if not isinstance(exc.__cause__, QueryCanceled):
                    raise
                # The web request's statement timeout stopped the walk (the command has none).
                messages.error(
                    request,
                    "The verification did not finish within the statement timeout, so it proves nothing "
                    "either way. Verify from a recent date, or run `manage.py verify_audit_chain` "
                    "(no time limit).",
                )
                return HttpResponseRedirect(reverse("admin:console_verify_chain"))
            record = verification_record(
                result=result,
                source="console",
                since=since,
                duration_ms=int((time.monotonic() - started) * 1000),
                actor=request.user,
            )
            if result.ok:
                messages.success(request, f"Chain verified: {result.checked:,} entries OK (head #{result.head_seq}).")
            else:
                messages.error(request, f"Chain BROKEN after {result.checked:,} good entries: see below.")
            return HttpResponseRedirect(f"{reverse('admin:console_verify_chain')}?shown={record.pk}")
    recent = list(Verification.objects.order_by("-created_at")[:10])
    shown = None
    shown_id = request.GET.get("shown")
    if shown_id:
        shown = next((v for v in recent if str(v.pk) == shown_id), None)
    shown = shown or (recent[0] if recent else None)
    context = {
        **admin.site.each_context(request),
        "title": "Verify the audit chain",
        "form": form,
        "can_run": can_run,
        "status": chain_status(),
        "recent": recent,
        "shown": shown,
        "log_url": reverse("admin:audits_auditlogrow_changelist"),
    }
    return TemplateResponse(request, "admin/console/verify_chain.html", context)
