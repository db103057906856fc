"""Mappings of the audit log (created in plain SQL by migration 0001; see there for why).

Both entry models read audits.audit_entries (migration 0008): the sealed log and the
entries still waiting in audits.audit_pending, whose chain columns are NULL. Nothing here
writes: `audits.services.audit_record` is the one way in, the sequencer moves entries into
the log, and the database refuses every UPDATE/DELETE/TRUNCATE of the log."""

from django.db import models

from core.ids import uuid7


class _AuditColumns(models.Model):
    ts = models.DateTimeField()
    entity = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    actor = models.UUIDField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    entry_hmac = models.CharField(max_length=64)
    chain_seq = models.BigIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    signature = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def sealed(self) -> bool:
        return self.chain_seq is not None


class AuditEntry(_AuditColumns):
    """One audit entry, keyed as the table is: (id, ts). ts is the partition key."""

    pk = models.CompositePrimaryKey("id", "ts")
    id = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "audit_entries"

    def __str__(self) -> str:
        return f"#{self.id} {self.entity}.{self.action}"


class AuditLogRow(_AuditColumns):
    """The same table with `id` alone as key, because the admin cannot register a
    composite-key model. ids come from one sequence, so they are unique in practice."""

    id = models.BigIntegerField(primary_key=True)

    class Meta:
        managed = False
        db_table = "audit_entries"
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ["-ts", "-id"]

    def __str__(self) -> str:
        return f"#{self.id} {self.entity}.{self.action}"


class Statistic(models.Model):
    """Row of the `audits.statistics` view: entries per day, entity and action."""

    day = models.DateField(primary_key=True)
    entity = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    count = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "statistics"
        ordering = ["-day", "entity", "action"]

    def __str__(self) -> str:
        return f"{self.day} {self.entity}.{self.action}: {self.count}"


class Verification(models.Model):
    """One run of chain verification (command or API), for the operations dashboard."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=16)
    ok = models.BooleanField()
    checked = models.BigIntegerField()
    pending = models.BigIntegerField(default=0)
    head_seq = models.BigIntegerField(default=0)
    since = models.DateTimeField(null=True, blank=True)
    first_broken = models.JSONField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "audit_verifications"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], name="audit_verif_created_idx")]

    def __str__(self) -> str:
        return f"{'OK' if self.ok else 'BROKEN'} {self.checked} entries at {self.created_at:%Y-%m-%d %H:%M}"
