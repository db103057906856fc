"""The peer's resource, shaped like experiments.Experiment (the same columns, choices and
indexes), and the project it belongs to. The settings' PEER_HISTORY attaches the history
library under test to Experiment (lab/migrations/<peer>/ hold each choice's schema)."""

from django.conf import settings
from django.db import models

from core.ids import uuid7


class Status(models.TextChoices):
    CREATED = "created", "Created"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    EVALUATING = "evaluating", "Evaluating"
    PROMOTED = "promoted", "Promoted"
    QUARANTINED = "quarantined", "Quarantined"


ALLOWED_MOVES = {
    Status.CREATED: {Status.RUNNING, Status.FAILED},
    Status.RUNNING: {Status.COMPLETED, Status.FAILED},
    Status.COMPLETED: {Status.EVALUATING},
    Status.EVALUATING: {Status.PROMOTED, Status.QUARANTINED},
    Status.FAILED: {Status.QUARANTINED},
    Status.PROMOTED: set(),
    Status.QUARANTINED: set(),
}


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects")
    settings = models.JSONField(default=dict)
    archived = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Experiment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="experiments", db_index=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    version = models.CharField(max_length=2, default="v1")
    config = models.JSONField(default=dict)
    config_hash = models.CharField(max_length=64)
    dataset_id = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="experiments", db_index=False
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="lab_status_idx"),
            models.Index(fields=["created_by", "-created_at"], name="lab_created_by_idx"),
            models.Index(fields=["project", "-created_at"], name="lab_project_idx"),
            models.Index(fields=["project", "status", "-created_at"], name="lab_project_status_idx"),
            models.Index(fields=["dataset_id"], name="lab_dataset_id_idx"),
            models.Index(fields=["-created_at"], name="lab_created_at_idx"),
            models.Index(fields=["config_hash"], name="lab_config_hash_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="lab_experiment_status_check"),
        ]

    def __str__(self) -> str:
        return self.name


if settings.PEER_HISTORY == "pghistory":
    import pghistory

    Experiment = pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())(Experiment)
elif settings.PEER_HISTORY == "simplehistory":
    from simple_history import register

    register(Experiment)
