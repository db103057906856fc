"""Abstract bases every domain model builds on."""

from django.db import models

from core.ids import uuid7


class UUIDModel(models.Model):
    """UUID primary key (time-ordered, see core.ids) and a creation time."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        abstract = True


class TimestampedModel(UUIDModel):
    """For rows that change: adds updated_at."""

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def choices_check(field: str, choices, table: str) -> models.CheckConstraint:
    """The database-side twin of a TextChoices field: bad values are refused by PostgreSQL too."""
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__in": [value for value, _ in choices.choices]}),
        name=f"{table}_{field}_check",
    )
