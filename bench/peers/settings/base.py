"""What a team would write for a small DRF service: DEBUG off, Django's default middleware,
persistent connections, token authentication, django-filter and page-number pagination
(50). The database is the one the benchmark made for the peer (PEER_DATABASE_URL)."""

import os
import secrets
from urllib.parse import unquote

import environ

# Tokens live in the database and nothing here is signed across processes: a key of the
# process's own is enough, and no secret is kept in the repository.
SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "bench.peers.urls"
WSGI_APPLICATION = "bench.peers.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Which history library the lab app attaches to its model ("" for none), and the lab
# app's migrations for that choice (each peer's schema differs by its history tables).
PEER_HISTORY = ""
MIGRATION_MODULES = {"lab": "bench.peers.lab.migrations.plain"}

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "bench.peers.lab",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

_db = environ.Env.db_url_config(os.environ["PEER_DATABASE_URL"])
_db["HOST"] = unquote(_db.get("HOST") or "")  # a socket directory, URL-encoded
_db["CONN_MAX_AGE"] = 60
_db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}

TEMPLATES = []
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
