"""Every process refuses to start with an empty, short or malformed secret, naming the
variable and what is expected; the secrets scripts/make_env.py writes pass."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.startup import secret_problems

ROOT = Path(__file__).resolve().parents[2]
GOOD_RING = "k1:" + base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("AUDIT_SIGNING_KEY", "", "AUDIT_SIGNING_KEY must be at least 32 bytes (it has 0)"),
        ("AUDIT_SIGNING_KEY", "x" * 31, "AUDIT_SIGNING_KEY must be at least 32 bytes (it has 31)"),
        ("KMS_MASTER_KEYS", "", "KMS_MASTER_KEYS must be a comma-separated list of id:base64(32 bytes)"),
        ("KMS_MASTER_KEYS", "k1:not base64!", "is not valid base64"),
        ("KMS_MASTER_KEYS", "k1:" + base64.b64encode(b"short").decode(), "must be 32 bytes"),
        ("KMS_MASTER_KEYS", base64.b64encode(b"k" * 32).decode(), "id:base64key"),
        ("SECRET_KEY", "", "SECRET_KEY must be a random string of at least 50 characters"),
        ("SECRET_KEY", "a" * 60, "SECRET_KEY must be a random string"),
    ],
)
def test_each_misconfigured_secret_is_named(settings, name, value, expected):
    setattr(settings, name, value)
    problems = secret_problems()
    assert len(problems) == 1 and expected in problems[0], problems


def test_the_test_settings_and_a_generated_env_pass(settings):
    assert secret_problems() == []
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_env.py")], capture_output=True, text=True, check=True
    ).stdout
    values = dict(line.split("=", 1) for line in generated.splitlines() if "=" in line and not line.startswith("#"))
    for name in ("SECRET_KEY", "AUDIT_SIGNING_KEY", "KMS_MASTER_KEYS"):
        setattr(settings, name, values[name])
    assert secret_problems() == []


@pytest.mark.parametrize("name, value", [("AUDIT_SIGNING_KEY", ""), ("KMS_MASTER_KEYS", "")])
def test_a_command_refuses_to_start(name, value):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "SECRET_KEY": "s" * 10 + "0123456789abcdefghijklmnopqrstuvwxyz0123456789",
        "AUDIT_SIGNING_KEY": "a" * 40,
        "KMS_MASTER_KEYS": GOOD_RING,
        name: value,
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert f"Refusing to start: {name}" in done.stderr


def test_a_server_process_freezes_what_it_loaded_views_included():
    import gc
    import sys

    from core.startup import freeze_loaded_objects

    try:
        freeze_loaded_objects()
        assert gc.get_freeze_count() > 10_000
        assert "experiments.api.views" in sys.modules  # the URLconf was loaded before the freeze
    finally:
        gc.unfreeze()
