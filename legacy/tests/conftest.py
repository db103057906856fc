"""Fixtures of the legacy import tests: generated exports (the shared generator, vendored in
data/make_sample.py) and a helper to run the import."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

GENERATOR = Path(__file__).parent / "data" / "make_sample.py"
SAMPLE_USERS = 60
SAMPLE_SEED = 7


@dataclass(frozen=True)
class Export:
    path: Path
    key: str
    expect: dict
    users: int
    seed: int


def generate(out: Path, *, users: int, seed: int, bad: bool = True) -> Export:
    expect_file = out.parent / f"{out.name}.expect.json"
    command = [sys.executable, str(GENERATOR), str(out), "--users", str(users), "--seed", str(seed)]
    command += ["--expect", str(expect_file)] + ([] if bad else ["--no-bad"])
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    key = result.stdout.strip().split("=", 1)[1]
    return Export(out, key, json.loads(expect_file.read_text()), users, seed)


@pytest.fixture(scope="session")
def sample_export(tmp_path_factory) -> Export:
    """The generator's export of 60 users (seed 7), with its bad records; read-only."""
    return generate(tmp_path_factory.mktemp("legacy") / "export", users=SAMPLE_USERS, seed=SAMPLE_SEED)


@pytest.fixture
def run_import(tmp_path):
    """run_import(export_or_dir, **options) → the import's Report (rejects in tmp_path)."""
    from legacy.services import legacy_import

    counter = {"n": 0}

    def run(export, **options):
        counter["n"] += 1
        root = export.path if isinstance(export, Export) else Path(export)
        options.setdefault("legacy_key", export.key if isinstance(export, Export) else None)
        options.setdefault("rejects_path", tmp_path / f"run{counter['n']}.rejects.jsonl")
        return legacy_import(root=root, **options)

    return run


def read_rejects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
