from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "bench.peers.lab"
    label = "lab"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        if settings.PEER_HISTORY == "auditlog":
            from auditlog.registry import auditlog

            from .models import Experiment

            auditlog.register(Experiment)
