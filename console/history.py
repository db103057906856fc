"""The audit trail where people look for it: an object's "History" page in the console
lists its audit entries (Django's own history, the admin LogEntry table, stays empty:
the console records every change in the audit log instead, console.audit), and the audit
log's pages link the object an entry concerns and its actor.

An entry concerns the object its payload's `id` names: a domain entry's entity is the
object's model name (`project`, `user_provider`), a console entry's entity is `admin`
with the model's label in `model`.
"""

from __future__ import annotations

import json

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

HISTORY_LIMIT = 200


def _registered_models() -> dict[str, type]:
    """{model name (lower case, no underscores): model} of the models the console shows."""
    return {model._meta.model_name: model for model in apps.get_models() if admin.site.is_registered(model)}


def object_url(entity: str, payload) -> str | None:
    """The console page of the object an entry concerns, or None."""
    if not isinstance(payload, dict) or payload.get("id") in (None, ""):
        return None
    if entity == "admin":
        app_label, _, model_name = str(payload.get("model", "")).partition(".")
    else:
        model = _registered_models().get(entity.replace("_", "").lower())
        if model is None:
            return None
        app_label, model_name = model._meta.app_label, model._meta.model_name
    try:
        return reverse(f"admin:{app_label}_{model_name}_change", args=[payload["id"]])
    except NoReverseMatch:
        return None


def actor_url(actor) -> str | None:
    if actor is None:
        return None
    opts = get_user_model()._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[actor])
    except NoReverseMatch:
        return None


def audit_trail(obj, *, limit: int = HISTORY_LIMIT):
    """The newest `limit` audit entries naming `obj` (its domain entries and the console's)."""
    from audits import selectors

    key = str(obj.pk)
    names = Q(payload__id=key) | (Q(payload__id=obj.pk) if isinstance(obj.pk, int) else Q())
    entries = selectors.audit_log_list(with_actor_email=True).filter(names)
    return list(entries.order_by("-ts", "-id")[:limit])


def pretty_json(value) -> str:
    return format_html('<pre class="console-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


def link(url: str | None, text) -> str:
    return format_html('<a href="{}">{}</a>', url, text) if url else format_html("{}", text)


def history_view(model_admin, request, object_id):
    """The console's "History" of one object: its audit entries, newest first."""
    from django.contrib.admin.utils import unquote
    from django.core.exceptions import PermissionDenied
    from django.http import Http404
    from django.template.response import TemplateResponse

    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(f"No {model_admin.opts.verbose_name} with this id.")
    if not model_admin.has_view_or_change_permission(request, obj):
        raise PermissionDenied
    may_read_log = request.user.has_perm("audits.view_auditlogrow")
    entries = audit_trail(obj) if may_read_log else []
    rows = [
        {
            "entry": entry,
            "url": reverse("admin:audits_auditlogrow_change", args=[entry.id]),
            "actor": link(actor_url(entry.actor), entry.actor_email or entry.actor) if entry.actor else "system",
            "payload": pretty_json(entry.payload),
        }
        for entry in entries
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"History: {obj}",
        "subtitle": None,
        "object": obj,
        "opts": model_admin.opts,
        "rows": rows,
        "may_read_log": may_read_log,
        "limit": HISTORY_LIMIT,
        "change_url": reverse(
            f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_change", args=[obj.pk]
        ),
    }
    return TemplateResponse(request, "admin/console/object_history.html", context)
