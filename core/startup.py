"""Secrets checked when any process starts (web, every management command, the shell):
a misconfigured process must refuse to start instead of signing audit entries, tokens or
data keys with an empty or weak secret that later reads as tampering or as lost data.

Called from CoreConfig.ready(), so it runs wherever Django is set up, in production and
locally alike; `scripts/make_env.py` writes secrets that pass.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

AUDIT_KEY_MIN_BYTES = 32
SECRET_KEY_MIN_CHARS = 50  # Django's own deployment check (security.W009) asks for 50
LOCAL_KMS = "core.crypto.LocalKMS"


def secret_problems() -> list[str]:
    """One message per misconfigured secret, naming the variable and what is expected."""
    from core.crypto import parse_keyring

    problems = []
    try:
        secret_key = settings.SECRET_KEY or ""
    except ImproperlyConfigured:  # Django's own refusal of an empty SECRET_KEY, said our way
        secret_key = ""
    if len(secret_key) < SECRET_KEY_MIN_CHARS or len(set(secret_key)) < 5:
        problems.append(
            f"SECRET_KEY must be a random string of at least {SECRET_KEY_MIN_CHARS} characters "
            f"(it has {len(secret_key)}); generate one with `python scripts/make_env.py`."
        )
    audit_key = (settings.AUDIT_SIGNING_KEY or "").encode("utf-8")
    if len(audit_key) < AUDIT_KEY_MIN_BYTES:
        problems.append(
            f"AUDIT_SIGNING_KEY must be at least {AUDIT_KEY_MIN_BYTES} bytes (it has {len(audit_key)}); "
            "use the key the audit chain was written with, or for a new installation a random one "
            "(`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
        )
    if getattr(settings, "KMS_BACKEND", LOCAL_KMS) == LOCAL_KMS:
        try:
            parse_keyring(settings.KMS_MASTER_KEYS or "")
        except ValueError as exc:
            problems.append(
                f"KMS_MASTER_KEYS must be a comma-separated list of id:base64(32 bytes) master keys: {exc}."
            )
    return problems


def refuse_misconfigured_secrets() -> None:
    problems = secret_problems()
    if problems:
        raise ImproperlyConfigured("Refusing to start: " + " ".join(problems))


def freeze_loaded_objects() -> None:
    """Leave what a server process loaded at start (modules, models, URL patterns,
    serializers: hundreds of thousands of objects that live as long as the process) out
    of every later garbage collection. The cyclic collector's full passes walk every
    tracked object; after this they walk only what requests create. Python's own advice
    for forking servers (gc.freeze); the frozen objects are never freed, which is what
    they would be anyway."""
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  import every view and serializer now, before the freeze
    gc.collect()
    gc.freeze()
