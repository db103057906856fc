from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "AI providers"

    def ready(self):
        from providers import checks  # noqa: F401  (registers the system checks)
