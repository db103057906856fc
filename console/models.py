"""The console's own permissions. Django attaches permissions to models, so they hang on a
model without a table (managed = False, never queried)."""

from django.db import models


class ConsolePermission(models.Model):
    """Holder of the console-wide permissions (no table, no rows)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_database_health", "Can view the database health page"),
            ("run_chain_verification", "Can run an audit chain verification from the console"),
        ]
        verbose_name = "console permission"

    def __str__(self) -> str:
        return "console permissions"
