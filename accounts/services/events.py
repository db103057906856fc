"""Request metadata (client IP, user agent) and security events: the trail of sign-ins
and account changes, recorded even when the request itself fails.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import EventStatus, SecurityAction, SecurityEvent, User
from accounts.types import AnyRequest
from audits.services import audit_record


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: AnyRequest | None) -> str | None:
    """The client's IP address. Behind a load balancer (TRUST_X_FORWARDED_FOR) it is the
    right-most X-Forwarded-For entry — the one our balancer appended; entries left of it
    come from the client and can be forged."""
    meta = getattr(request, "META", None) or {}
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = [part for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            ip = _valid_ip(forwarded[-1])
            if ip:
                return ip
    return _valid_ip(meta.get("REMOTE_ADDR"))


def client_meta(request: AnyRequest | None) -> dict:
    """IP address and user agent of a request (or an empty dict outside a request)."""
    if request is None:
        return {}
    meta = getattr(request, "META", {})
    return {"ip": client_ip(request), "user_agent": (meta.get("HTTP_USER_AGENT") or "")[:500]}


def security_event_record(
    *,
    action: str,
    status: str,
    user: User | None = None,
    request: AnyRequest | None = None,
    resource: str = "",
    details: dict | None = None,
    actor: User | None = None,
) -> SecurityEvent:
    """A security event in accounts.audit_logs and the same event in the audit chain.
    `actor` (default: `user`) is who did it, `user` whose account it concerns."""
    if action not in SecurityAction.values:
        raise ValueError(f"unknown security action {action!r} (add it to accounts.models.SecurityAction)")
    meta = client_meta(request)
    event = SecurityEvent.objects.create(
        user=user,
        action=action,
        resource=resource[:200],
        status=status,
        details=details or {},
        ip_address=meta.get("ip"),
        user_agent=meta.get("user_agent", ""),
    )
    audit_record(
        entity="security",
        action=action,
        actor=actor if actor is not None else user,
        payload={
            "event": str(event.pk),
            "status": status,
            "user": str(user.pk) if user else None,
            "resource": resource[:200],
            "ip": meta.get("ip"),
            **(details or {}),
        },
    )
    return event


def failure_event_record(**kwargs: Any) -> None:
    """A security event committed on its own, for paths that raise right after."""
    with transaction.atomic():
        security_event_record(status=EventStatus.FAILURE, **kwargs)
