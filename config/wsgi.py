"""WSGI entry point (gunicorn config.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()

from core.startup import freeze_loaded_objects  # noqa: E402  (needs the settings the line above loads)

freeze_loaded_objects()
