"""Cost alerts: acknowledging one."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audits.services import audit_record
from providers.models import (
    CostAlert,
)

# ---------------------------------------------------------------------------------------
# Cost alerts


@transaction.atomic
def cost_alert_acknowledge(*, alert: CostAlert, actor: User | None) -> CostAlert:
    """Acknowledge an alert. Idempotent: a second acknowledgement changes nothing and is
    not audited again (conditional UPDATE, so two concurrent ones audit once)."""
    now = timezone.now()
    updated = CostAlert.objects.filter(pk=alert.pk, acknowledged=False).update(
        acknowledged=True, acknowledged_at=now, acknowledged_by_id=getattr(actor, "pk", actor)
    )
    alert = CostAlert.objects.get(pk=alert.pk)
    if updated:
        audit_record(
            entity="cost_alert",
            action="acknowledge",
            actor=actor,
            payload={"id": str(alert.pk), "user": str(alert.user_id), "alert_type": alert.alert_type},
        )
    return alert
