"""Test data built through the services (so rows are exactly what production writes).
Plain functions, imported by the tests of projects, experiments and quarantine."""

from __future__ import annotations

import itertools

from experiments import services as exp_services
from experiments.models import Status
from projects import services

_seq = itertools.count(1)

# The path an experiment takes to reach each status (through the status machine).
PATHS = {
    Status.CREATED: [],
    Status.RUNNING: [Status.RUNNING],
    Status.COMPLETED: [Status.RUNNING, Status.COMPLETED],
    Status.FAILED: [Status.FAILED],
}

PASSING = {"accuracy": 0.93, "latency_ms": 120}
FAILING = {"accuracy": 0.41, "latency_ms": 120}


def make_project(owner, *, name: str | None = None, baselines=(("accuracy", ">=", "0.8"), ("latency_ms", "<=", "250"))):
    project = services.project_create(owner=owner, name=name or f"project {next(_seq)}", actor=owner)
    for metric, op, threshold in baselines:
        services.baseline_create(project=project, metric_key=metric, operator=op, threshold=threshold, actor=owner)
    return project


def make_experiment(
    project, actor, *, config: dict | None = None, status: str = Status.CREATED, name: str | None = None
):
    n = next(_seq)
    experiment = exp_services.experiment_create(
        project=project,
        name=name or f"experiment {n}",
        config=config if config is not None else {"model": "gpt-x", "temperature": n / 1000, "seed": n},
        dataset_id="ds-1",
        actor=actor,
    )
    for to in PATHS[status]:
        experiment = exp_services.experiment_transition(experiment=experiment, to=to, actor=actor)
    return experiment


def evaluating_experiment(project, actor, *, metrics=None, confidence=0.9, config=None):
    """An experiment in `evaluating` with one evaluation (passing metrics by default)."""
    experiment = make_experiment(project, actor, status=Status.COMPLETED, config=config)
    evaluation = exp_services.evaluation_submit(
        experiment=experiment, metrics=metrics or PASSING, ai_confidence=confidence, actor=actor
    )
    experiment.refresh_from_db()
    return experiment, evaluation


def quarantined_experiment(project, actor, *, config=None):
    """An experiment quarantined automatically by a failing evaluation."""
    experiment = make_experiment(project, actor, status=Status.COMPLETED, config=config)
    exp_services.evaluation_submit(experiment=experiment, metrics=FAILING, ai_confidence=0.95, actor=actor)
    experiment.refresh_from_db()
    from quarantine.models import QuarantineRecord

    return experiment, QuarantineRecord.objects.get(config_hash=experiment.config_hash)
