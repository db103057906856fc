"""The project's import graph: no circles between modules, and no import tucked inside a
function to dodge one. Read from the source (ast), so it costs no database and no
import side effects."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PACKAGES = ("config", "core", "accounts", "audits", "projects", "experiments", "quarantine", "providers")
PACKAGES += ("production", "legacy", "console")

# Imports inside functions that stay, each with why it cannot be at module level.
DEFERRED = {
    # Django builds the User model class before any service can import it; its manager's
    # create_user (createsuperuser) must reach the one write path for users at call time.
    ("accounts.models", "accounts.services"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if {"tests", "migrations"} & set(path.relative_to(ROOT).parts):
                continue
            found[_module_name(path)] = path
    return found


def _targets(node, module: str, is_package: bool, modules: dict) -> list[str]:
    """The project modules an import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    return [name for name in names if name in modules]


def _loaded(target: str, importer: str, modules: dict) -> list[str]:
    """`target` and the packages Python runs first to reach it, minus the importer's own
    ancestors (already loading when the importer runs)."""
    parts = target.split(".")
    own = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 1)}
    chain = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return [name for name in chain if name in modules and name not in own and name != importer]


def _graph():
    modules = _sources()
    top: dict[str, set[str]] = {name: set() for name in modules}
    deferred: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            at_top = node in tree.body or any(
                node in getattr(stmt, "body", ()) for stmt in tree.body if isinstance(stmt, ast.If | ast.Try)
            )
            for target in _targets(node, name, is_package, modules):
                (top if at_top else deferred)[name].update(_loaded(target, name, modules))
    return top, deferred


def _reaches(graph, start: str, goal: str) -> list[str] | None:
    """A path start → … → goal in the graph, or None."""
    seen, stack = {start}, [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == goal:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_module_level_imports_form_no_circle():
    top, _ = _graph()
    circles = []
    for module, targets in top.items():
        for target in targets:
            back = _reaches(top, target, module)
            if back:
                circles.append(" → ".join([module, *back]))
    assert not circles, "\n".join(sorted(circles))


def test_no_import_inside_a_function_only_dodges_a_circle():
    """An import inside a function whose module-level twin would close a circle is a
    circle in disguise: the dependency should point the other way, or the shared piece
    move lower."""
    top, deferred = _graph()
    dodges = []
    for module, targets in deferred.items():
        for target in targets:
            if (module, target) in DEFERRED:
                continue
            back = _reaches(top, target, module)
            if back:
                dodges.append(f"{module} imports {target} inside a function: " + " → ".join(back))
    assert not dodges, "\n".join(sorted(dodges))


def test_the_graph_sees_the_imports_it_checks():
    """The checks above read real edges (a broken reader would pass them vacuously)."""
    top, _ = _graph()
    assert "quarantine.services.blacklist" in top["experiments.services.lifecycle"]
    assert "accounts.services.users" in top["accounts.services"]
    assert _reaches(top, "experiments.services", "audits.services")
