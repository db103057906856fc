from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import schema  # noqa: F401  registers the OpenAPI extension
        from core.startup import refuse_misconfigured_secrets

        refuse_misconfigured_secrets()
