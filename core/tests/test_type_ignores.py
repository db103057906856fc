"""Every `# type: ignore` names its error code and says why on the same line
(`# type: ignore[code]  # why`), so a silenced check is never a mystery. mypy itself
refuses an ignore without a code (ignore-without-code); the reason is checked here."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SKIPPED = {".venv", ".git", ".mypy_cache", ".pgdata", ".pgdata-replica", ".ha", "backups"}
IGNORE = re.compile(r"#\s*type:\s*ignore")
EXPLAINED = re.compile(r"#\s*type:\s*ignore\[[a-z0-9-]+(,\s*[a-z0-9-]+)*\]\s+#\s*\S.{4,}")


def _sources():
    for path in ROOT.rglob("*.py"):
        if SKIPPED & set(path.relative_to(ROOT).parts) or path.resolve() == Path(__file__).resolve():
            continue  # this module's own examples break the rule on purpose
        yield path


def unexplained_ignores(lines: list[str]) -> list[int]:
    return [n for n, line in enumerate(lines, 1) if IGNORE.search(line) and not EXPLAINED.search(line)]


def test_the_rule_itself():
    assert unexplained_ignores(["x = f()  # type: ignore[arg-type]  # the stubs miss the int overload"]) == []
    assert unexplained_ignores(["x = f()  # type: ignore"]) == [1]
    assert unexplained_ignores(["x = f()  # type: ignore[arg-type]"]) == [1]
    assert unexplained_ignores(["x = f()  # type: ignore  # because"]) == [1]


def test_every_type_ignore_has_a_code_and_a_reason():
    bad = []
    for path in _sources():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        bad += [f"{path.relative_to(ROOT)}:{n}" for n in unexplained_ignores(lines)]
    assert bad == [], "`# type: ignore[code]  # why` expected at " + ", ".join(bad)
