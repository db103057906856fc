"""Projects (SPEC §3): a project, its three zone versions (v1 experimentation, v2
production, v3 quarantine), its metric baselines and attached policies, and the history
of every change of a version's model_config.

Rows are written only through projects.services (atomic and audited)."""

from __future__ import annotations

import operator as op
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Cast

from core.models import TimestampedModel, UUIDModel, choices_check


class Tag(models.TextChoices):
    """A version's zone. A version's tag never changes: configs move between zones."""

    V1 = "v1", "v1 (experimentation)"
    V2 = "v2", "v2 (production)"
    V3 = "v3", "v3 (quarantine)"


class Operator(models.TextChoices):
    GT = ">", "greater than"
    LT = "<", "less than"
    GE = ">=", "greater than or equal"
    LE = "<=", "less than or equal"
    EQ = "=", "equal"


# Each operator's comparison (a TextChoices member is equal to, and hashes like, its
# stored value, so either finds it).
_COMPARISONS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    Operator.GT: op.gt,
    Operator.LT: op.lt,
    Operator.GE: op.ge,
    Operator.LE: op.le,
    Operator.EQ: op.eq,
}


def threshold_met(operator: str, value: Decimal, threshold: Decimal) -> bool:
    """Whether `value <operator> threshold` holds (a baseline's rule)."""
    return _COMPARISONS[operator](value, threshold)


class HistoryAction(models.TextChoices):
    PROMOTED = "promoted", "Promoted"
    DEGRADED = "degraded", "Degraded"
    UPDATED = "updated", "Updated"


class ProjectQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived=False)

    def owned_by(self, user):
        return self.filter(owner=user)


class Project(TimestampedModel):
    """A code-review project. Creating one creates its v1/v2/v3 versions; archiving it
    makes it and everything in its zones read-only."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects", db_index=False
    )
    settings = models.JSONField(default=dict, blank=True)
    archived = models.BooleanField(default=False)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        db_table = "projects"
        ordering = ["-created_at"]
        indexes = [
            # "My projects, newest first": the owner index carries the list order.
            models.Index(fields=["owner", "-created_at"], name="projects_owner_idx"),
            models.Index(fields=["archived"], name="projects_archived_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="projects_owner_name_uniq"),
            models.CheckConstraint(condition=~models.Q(name=""), name="projects_name_not_empty_check"),
        ]

    def __str__(self) -> str:
        return self.name


class Version(TimestampedModel):
    """One zone of a project and the model_config currently in it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="versions", db_index=False)
    tag = models.CharField(max_length=2, choices=Tag.choices)
    model_config = models.JSONField(default=dict, blank=True)
    # The same config as JSON text in its author's key order (projects.services.json_text;
    # after a promotion, the experiment's config_text): what the API and the console show.
    # jsonb sorts object keys, so `model_config` stays for what reads the value. The
    # database default lets set-based inserts of empty versions leave it out.
    model_config_text = models.TextField(default="{}", db_default="{}")
    changelog = models.TextField(blank=True, default="")
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        db_table = "versions"
        ordering = ["project", "tag"]
        indexes = [
            # The project index is the unique (project, tag) constraint's.
            models.Index(fields=["tag"], name="versions_tag_idx"),
            models.Index(fields=["promoted_at"], name="versions_promoted_at_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "tag"], name="versions_project_tag_uniq"),
            choices_check("tag", Tag, "versions"),
            # The text copy holds the same JSON value as `model_config` (only its key order may differ).
            models.CheckConstraint(
                condition=models.Q(model_config=Cast("model_config_text", models.JSONField())),
                name="versions_model_config_text_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.tag}"


class Baseline(TimestampedModel):
    """A metric rule experiments are judged by: `metrics[metric_key] <operator> threshold`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="baselines", db_index=False)
    metric_key = models.CharField(max_length=100)
    threshold = models.DecimalField(max_digits=24, decimal_places=8)
    operator = models.CharField(max_length=2, choices=Operator.choices)
    snapshot_id = models.CharField(max_length=200, blank=True, default="")
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "baselines"
        ordering = ["metric_key", "created_at"]
        indexes = [
            # Verdicts read "active baselines of project P": (project, active) serves both
            # SPEC's project and active lookups in one index.
            models.Index(fields=["project", "active"], name="baselines_project_active_idx"),
        ]
        constraints = [
            choices_check("operator", Operator, "baselines"),
            models.CheckConstraint(condition=~models.Q(metric_key=""), name="baselines_metric_key_not_empty_check"),
        ]

    def __str__(self) -> str:
        return f"{self.metric_key} {self.operator} {self.threshold}"

    def satisfied_by(self, value: Decimal) -> bool:
        """Whether a measured value meets this baseline."""
        return threshold_met(self.operator, value, self.threshold)

    @property
    def direction(self) -> str:
        """Which way is better for this metric: 'higher', 'lower' or 'target' (for '=')."""
        if self.operator in (Operator.GT, Operator.GE):
            return "higher"
        if self.operator in (Operator.LT, Operator.LE):
            return "lower"
        return "target"


class Policy(TimestampedModel):
    """An OPA Rego policy (source stored, not executed here), attachable to projects."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    rego_code = models.TextField()
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "policies"
        ordering = ["name"]
        verbose_name_plural = "policies"
        constraints = [
            models.CheckConstraint(condition=~models.Q(name=""), name="policies_name_not_empty_check"),
        ]

    def __str__(self) -> str:
        return self.name


class ProjectPolicy(UUIDModel):
    """A policy attached to a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="policy_links", db_index=False)
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="project_links", db_index=False)
    attached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        db_table = "project_policies"
        ordering = ["created_at"]
        verbose_name_plural = "project policies"
        indexes = [models.Index(fields=["policy"], name="project_policies_policy_idx")]
        constraints = [
            # Also the project index (leading column).
            models.UniqueConstraint(fields=["project", "policy"], name="project_policies_pair_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} ← {self.policy_id}"


class VersionHistory(UUIDModel):
    """One change of a version's model_config, written in the same transaction.

    `model_config` (an addition to SPEC's columns) is the configuration the version held
    right after the change, so "which config was in v2 at time T" is one index lookup
    (see projects.selectors.version_config_at)."""

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="history", db_index=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    action = models.CharField(max_length=16, choices=HistoryAction.choices)
    from_tag = models.CharField(max_length=2, choices=Tag.choices, null=True, blank=True)
    to_tag = models.CharField(max_length=2, choices=Tag.choices, null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    model_config = models.JSONField(default=dict, blank=True)
    # model_config as JSON text in its author's key order, as the version showed it then.
    model_config_text = models.TextField(default="{}", db_default="{}")

    class Meta:
        db_table = "version_history"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "version history"
        indexes = [
            # Serves "history of version V" and the point-in-time lookup (V, created_at <= T).
            models.Index(fields=["version", "created_at"], name="version_history_version_idx"),
            models.Index(fields=["changed_by"], name="version_history_changed_by_idx"),
            models.Index(fields=["action"], name="version_history_action_idx"),
        ]
        constraints = [
            choices_check("action", HistoryAction, "version_history"),
            models.CheckConstraint(
                condition=models.Q(from_tag__isnull=True) | models.Q(from_tag__in=Tag.values),
                name="version_history_from_tag_check",
            ),
            models.CheckConstraint(
                condition=models.Q(to_tag__isnull=True) | models.Q(to_tag__in=Tag.values),
                name="version_history_to_tag_check",
            ),
            models.CheckConstraint(
                condition=models.Q(model_config=Cast("model_config_text", models.JSONField())),
                name="version_history_model_config_text_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version_id} {self.action} {self.created_at:%Y-%m-%d %H:%M}"
