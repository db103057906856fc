"""A client generated from /api/schema/ by openapi-python-client works (issue 28): the
generator runs without an error or a warning, and the generated code logs in, creates a
project and an experiment, moves the experiment along and lists it with a filter against
a live gunicorn server."""

import importlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.db import connection

from core.testing import gunicorn_server

PASSWORD = "generated-client-password-1"
PACKAGE = "tristate_generated_client"


def _database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{quote(db['HOST'] or 'localhost', safe='')}:{db['PORT'] or 5432}/{db['NAME']}"


def _generate(schema_text: str, folder: Path) -> None:
    schema = folder / "schema.json"
    schema.write_text(schema_text)
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(  # noqa: S603 (the pinned generator from this environment)
        [
            str(bin_dir / "openapi-python-client"),
            *("generate", "--path", str(schema), "--meta", "none", "--output-path", str(folder / PACKAGE)),
        ],
        cwd=folder,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output and "Error" not in output, output


def _module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_generated_client_round_trip(tmp_path, make_user):
    user = make_user("user", password=PASSWORD)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.test")}
    env["DATABASE_URL"] = _database_url()
    env.pop("DATABASE_OWNER_URL", None)
    env.pop("DATABASE_REPLICA_URL", None)
    with gunicorn_server(env, tmp_path / "server.log", workers=2) as (base, _server):
        schema = httpx.get(base + "/api/schema/?format=json", timeout=30)
        assert schema.status_code == 200, schema.text[:500]
        _generate(schema.text, tmp_path)
        sys.path.insert(0, str(tmp_path))
        try:
            client_module = _module("client")
            models = _module("models")
            login = _module("api.auth.auth_login_create")
            projects_create = _module("api.projects.projects_create")
            experiments_create = _module("api.experiments.experiments_create")
            transition = _module("api.experiments.experiments_transition_create")
            experiments_list = _module("api.experiments.experiments_list")

            anonymous = client_module.Client(base_url=base, raise_on_unexpected_status=True)
            token = login.sync(client=anonymous, body=models.LoginInputRequest(email=user.email, password=PASSWORD))
            assert isinstance(token, models.TokenOutput), token
            client = client_module.AuthenticatedClient(
                base_url=base, token=token.access, raise_on_unexpected_status=True
            )

            created = projects_create.sync_detailed(
                client=client, body=models.ProjectCreateInputRequest(name="Generated")
            )
            assert created.status_code == 201 and created.headers["Location"].endswith(
                f"/projects/{created.parsed.id}/"
            )
            project = created.parsed
            config = models.ExperimentCreateInputRequestConfig.from_dict({"model": "m", "temperature": 0.2})
            experiment = experiments_create.sync(
                client=client,
                body=models.ExperimentCreateInputRequest(project=project.id, name="first", config=config),
            )
            assert isinstance(experiment, models.ExperimentOutput), experiment
            assert experiment.config.to_dict() == {"model": "m", "temperature": 0.2}
            experiments_create.sync(
                client=client,
                body=models.ExperimentCreateInputRequest(project=project.id, name="second", config=config),
            )

            running = transition.sync(
                experiment.id, client=client, body=models.TransitionInputRequest(to=models.ExperimentStatusEnum.RUNNING)
            )
            assert running.status == models.ExperimentStatusEnum.RUNNING

            listed = experiments_list.sync(
                client=client, project=project.id, status=[models.ExperimentsListStatusItem.RUNNING]
            )
            assert [row.id for row in listed.results] == [experiment.id] and listed.count == 1

            refused = transition.sync_detailed(
                experiment.id, client=client, body=models.TransitionInputRequest(to=models.ExperimentStatusEnum.CREATED)
            )
            assert refused.status_code == 409 and refused.parsed.error.code == "invalid_transition"
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
                del sys.modules[name]
