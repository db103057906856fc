from django.apps import AppConfig


class QuarantineConfig(AppConfig):
    name = "quarantine"
    verbose_name = "Quarantine (v3 zone)"
