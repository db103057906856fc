"""WSGI entry point of a peer (its settings module in DJANGO_SETTINGS_MODULE)."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
