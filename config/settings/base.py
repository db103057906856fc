"""Settings shared by every environment. Everything configurable comes from the environment
(see `.env.example` for the full, commented list)."""

from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from config.env import BASE_DIR, env
from core.observability.logs import logging_config

# --- Core -------------------------------------------------------------------------------
SECRET_KEY = env("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The domain apps, in dependency order. Each one's tables live in the PostgreSQL schema
# of the same name (see core/db/backends/postgresql).
DOMAIN_APPS = ["accounts", "audits", "projects", "experiments", "quarantine", "providers", "production", "legacy"]

INSTALLED_APPS = [
    # Django's admin with the operations console as its site (console/admin_app.py).
    "console.admin_app.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    *DOMAIN_APPS,
    # The operations console (dashboard, groups, pages); last, after the apps it shows.
    "console",
]

MIDDLEWARE = [
    # First: request id, HTTP/database metrics and the request's log line cover all the rest.
    "core.observability.middleware.ObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.ApiGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.db.replica_views.ReplicaMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.api.responses.CreatedLocationMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
# Three connections, two of them optional:
#   default  DATABASE_URL          the application role (owns nothing; least privilege)
#   owner    DATABASE_OWNER_URL    migrations, partition upkeep, db_roles (owns the schema)
#   replica  DATABASE_REPLICA_URL  a streaming replica for read-only traffic (core.db.routers)
if not env.str("DATABASE_URL", default=""):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DATABASE_URL is not set and no local cluster is known (run `make db`).")


def _database(url: str) -> dict:
    db = env.db_url_config(url)
    # A unix-socket directory may be given URL-encoded as the host (%2Ftmp%2F...).
    db["HOST"] = unquote(db.get("HOST") or "")
    db["ENGINE"] = "core.db.backends.postgresql"
    db["ATOMIC_REQUESTS"] = False
    # Check a reused connection before each request, so a restarted database costs no
    # failed request. The check is a poll of the idle socket, with SELECT 1 only when
    # the server has sent something (core.db.backends.postgresql: is_usable).
    db["CONN_HEALTH_CHECKS"] = env.bool("DB_HEALTH_CHECKS", default=True)
    options = db.setdefault("OPTIONS", {})
    # A multi-host URL (`make ha`: h1:p1,h2:p2,h3:p3/db?target_session_attrs=read-write)
    # arrives as libpq's comma-separated host and port lists: the driver tries each node
    # and keeps the one accepting writes, so nothing here knows which node leads. The
    # connect timeout bounds each attempt: with no leader a request fails fast (503).
    options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    options["statement_timeout_ms"] = env.int("DB_STATEMENT_TIMEOUT_MS", default=30_000)
    options["lock_timeout_ms"] = env.int("DB_LOCK_TIMEOUT_MS", default=10_000)
    # Behind PgBouncer in transaction mode startup options are refused; the search path
    # then comes from the role (manage.py db_roles sets it). See docs/scaling.md.
    behind_pgbouncer = env.bool("DB_PGBOUNCER", default=False)
    options["search_path_in_options"] = not behind_pgbouncer
    if behind_pgbouncer:
        # Transaction pooling hands each transaction any server connection: nothing may
        # outlive a transaction, so no WITH HOLD server-side cursors (Django's
        # iterator()). Django already turns psycopg's prepared statements off.
        db["DISABLE_SERVER_SIDE_CURSORS"] = True
    if env.bool("DB_POOL", default=False):
        # Django's built-in psycopg pool; CONN_MAX_AGE must stay 0 with it.
        options["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
            "timeout": env.int("DB_POOL_TIMEOUT", default=10),
        }
        db["CONN_MAX_AGE"] = 0
    else:
        db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    return db


DATABASES = {"default": _database(env.str("DATABASE_URL"))}
if env.str("DATABASE_OWNER_URL", default="") and env.str("DATABASE_OWNER_URL") != env.str("DATABASE_URL"):
    DATABASES["owner"] = _database(env.str("DATABASE_OWNER_URL"))
    DATABASES["owner"]["CONN_MAX_AGE"] = 0
    DATABASES["owner"]["OPTIONS"].pop("pool", None)
    DATABASES["owner"]["TEST"] = {"MIRROR": "default"}
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = _database(env.str("DATABASE_REPLICA_URL"))
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["core.db.routers.PrimaryReplicaRouter"]
# After a request writes, its user's reads stay on the primary this long (read-your-writes).
REPLICA_STICKY_SECONDS = env.float("REPLICA_STICKY_SECONDS", default=5.0)
# A replica lagging more than this is skipped.
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=10.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # Legacy import: bcrypt hashes verify and are upgraded to Argon2id at the next login
    # (our subclass: bcrypt 5 would raise on passwords over 72 bytes; see accounts/hashers.py).
    "accounts.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
LOGIN_URL = "admin:login"

ACCESS_TOKEN_TTL = timedelta(seconds=env.int("ACCESS_TOKEN_TTL_SECONDS", default=15 * 60))
REFRESH_TOKEN_TTL = timedelta(seconds=env.int("REFRESH_TOKEN_TTL_SECONDS", default=30 * 24 * 3600))
LOGIN_MAX_FAILURES = env.int("LOGIN_MAX_FAILURES", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
OPEN_REGISTRATION = env.bool("OPEN_REGISTRATION", default=False)
PASSWORD_RESET_TTL = timedelta(seconds=env.int("PASSWORD_RESET_TTL_SECONDS", default=3600))
EMAIL_VERIFICATION_TTL = timedelta(seconds=env.int("EMAIL_VERIFICATION_TTL_SECONDS", default=3 * 24 * 3600))
TOTP_ISSUER = env.str("TOTP_ISSUER", default="Tristate")
# Behind a load balancer that sets X-Forwarded-For, take the client IP from it.
TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
FRONTEND_URL = env.str("FRONTEND_URL", default="http://127.0.0.1:8000")

# --- Secrets kept outside the database ---------------------------------------------------
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY")
# "id:base64key,id:base64key": the first key wraps new data keys, the others only unwrap.
KMS_MASTER_KEYS = env.str("KMS_MASTER_KEYS")
KMS_BACKEND = env.str("KMS_BACKEND", default="core.crypto.LocalKMS")
LEGACY_ENCRYPTION_KEY = env.str("LEGACY_ENCRYPTION_KEY", default="")

# --- Domain rules ----------------------------------------------------------------------
EVALUATION_MIN_CONFIDENCE = env.float("EVALUATION_MIN_CONFIDENCE", default=0.7)
QUOTA_DEFAULT_DAILY_REQUESTS = env.int("QUOTA_DEFAULT_DAILY_REQUESTS", default=1000)
QUOTA_DEFAULT_MONTHLY_REQUESTS = env.int("QUOTA_DEFAULT_MONTHLY_REQUESTS", default=20000)
QUOTA_DEFAULT_DAILY_COST_USD = env.str("QUOTA_DEFAULT_DAILY_COST_USD", default="10.00")
QUOTA_DEFAULT_MONTHLY_COST_USD = env.str("QUOTA_DEFAULT_MONTHLY_COST_USD", default="200.00")
QUOTA_TIMEZONE = env.str("QUOTA_TIMEZONE", default="UTC")
AUDIT_PARTITIONS_AHEAD = env.int("AUDIT_PARTITIONS_AHEAD", default=3)
# Who seals committed audit entries into the chain: "thread" (a background thread per
# process), "inline" (the writer, right after commit) or "off" (manage.py audit_seal --loop).
AUDIT_SEALER = env.str("AUDIT_SEALER", default="thread")
AUDIT_SEALER_IDLE_SECONDS = env.float("AUDIT_SEALER_IDLE_SECONDS", default=2.0)
# The sealer thread gathers the commits of this window into one batch.
AUDIT_SEALER_WINDOW_SECONDS = env.float("AUDIT_SEALER_WINDOW_SECONDS", default=0.05)

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.BearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RoleBasedAccess"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "core.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.strict.StrictFilterBackend",
        "core.api.strict.StrictOrderingFilter",
    ],
    "DEFAULT_METADATA_CLASS": "core.api.metadata.RequestBodyMetadata",
    "DEFAULT_SCHEMA_CLASS": "core.schema.OperationSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="120/minute"),
        "user": env.str("THROTTLE_USER", default="6000/minute"),
        "auth": env.str("THROTTLE_AUTH", default="30/minute"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Client identity for throttling: the socket peer, or the address the load balancer
    # appended when TRUST_X_FORWARDED_FOR is on; never a client-supplied header as is.
    "NUM_PROXIES": 1 if TRUST_X_FORWARDED_FOR else 0,
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Tristate API",
    "DESCRIPTION": "System of record for the three-zone AI code-review platform "
    "(v1 experimentation, v2 production, v3 quarantine).\n\n"
    'Every error is `{"error": {"code", "message", "details"}}`; bad input is a 400 and writes '
    "nothing. One rule of JSON types for every request body: a field's JSON value has the type this document "
    "gives it (a string is not a number or a boolean, a number is not a string, a boolean is `true` or `false`; "
    "decimal fields, `format: decimal`, take a decimal string or a number). Bodies nest at most 64 levels and "
    "carry no NUL or unpaired UTF-16 surrogate; dates and date-times, in bodies and query strings, lie between "
    "0001-01-02 and 9999-12-30 UTC.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "InvitationStatusEnum": "accounts.models.InvitationStatus",
        "SecurityEventStatusEnum": "accounts.models.EventStatus",
    },
}

# Bodies above this answer 400 `request_too_large` (checked before parsing).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# OpenAPI enum names of the zone apps (the same field name, e.g. `status`, carries
# different choice sets across projects, experiments and quarantine).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES", {}),
    "VersionTagEnum": "projects.models.Tag",
    "ExperimentStatusEnum": "experiments.models.Status",
    "VerdictEnum": "experiments.models.Verdict",
    "HumanVerdictEnum": "experiments.models.HumanVerdict",
    # Promotions and re-evaluation requests share pending/approved/rejected/completed.
    "ApprovalStatusEnum": "experiments.models.PromotionStatus",
    "BlacklistReviewStatusEnum": "experiments.models.ReviewStatus",
    "QuarantineReviewStatusEnum": "quarantine.models.RecordStatus",
    # The production zone's status and type fields.
    "AnalysisSessionStatusEnum": "production.models.SessionStatus",
    "AnalysisTaskStatusEnum": "production.models.TaskStatus",
    "AnalysisTaskTypeEnum": "production.models.TaskType",
    "ArtifactTypeEnum": "production.models.ArtifactType",
}

# Throttle counters and other short-lived state. The default is per process; with several
# workers or servers set a shared cache (e.g. dbcache://tristate_cache after
# `manage.py createcachetable`, or pymemcache://host:11211) so limits hold across them.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- I18N / static / e-mail ----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tristate <noreply@tristate.local>")

# --- Observability (docs/observability/) -------------------------------------------------
# Log lines as JSON objects (json) or text; both carry the request id. Production: json.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
# GET /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>`; unset: off (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
