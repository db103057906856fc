"""Where each kind's records live in the export (FORMAT.md "Layout"), as readers.

A missing file or directory is an export of a system that never used it: no records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from legacy import reader
from legacy.reader import Progress, RawRecord


@dataclass(frozen=True)
class JsonLines:
    """One JSON-lines file (users.jsonl), or every <prefix>*<suffix> file of a directory
    (usage/usage_<YYYY-MM>.jsonl) in name order."""

    path: str
    prefix: str = ""
    suffix: str = ".jsonl"
    unit: str = "B"

    def names(self, root: Path) -> tuple[list[str], list[str]]:
        target = root / self.path
        if self.prefix or target.is_dir():
            found, other = reader.sorted_names(target, prefix=self.prefix, suffix=self.suffix)
            return [f"{self.path}/{n}" for n in found], [f"{self.path}/{n}" for n in other]
        return ([self.path] if target.is_file() else []), []

    def total(self, root: Path) -> int:
        return sum((root / rel).stat().st_size for rel in self.names(root)[0])

    def read(self, root: Path, *, max_bytes: int, progress: Progress | None = None) -> Iterator[RawRecord]:
        for rel in self.names(root)[0]:
            yield from reader.iter_jsonl(root / rel, rel, max_bytes=max_bytes, progress=progress)


@dataclass(frozen=True)
class JsonArray:
    """One file holding a JSON array of records (policies.json)."""

    path: str
    unit: str = "file"

    def names(self, root: Path) -> tuple[list[str], list[str]]:
        return ([self.path] if (root / self.path).is_file() else []), []

    def total(self, root: Path) -> int:
        return len(self.names(root)[0])

    def read(self, root: Path, *, max_bytes: int, progress: Progress | None = None) -> Iterator[RawRecord]:
        for rel in self.names(root)[0]:
            yield from reader.iter_json_array(root / rel, rel, max_bytes=max_bytes, progress=progress)


@dataclass(frozen=True)
class JsonFiles:
    """A directory of one-record JSON files (projects/<slug>.json), in name order."""

    path: str
    prefix: str = ""
    suffix: str = ".json"
    unit: str = "file"

    def names(self, root: Path) -> tuple[list[str], list[str]]:
        found, other = reader.sorted_names(root / self.path, prefix=self.prefix, suffix=self.suffix)
        return [f"{self.path}/{n}" for n in found], [f"{self.path}/{n}" for n in other]

    def total(self, root: Path) -> int:
        return len(self.names(root)[0])

    def read(self, root: Path, *, max_bytes: int, progress: Progress | None = None) -> Iterator[RawRecord]:
        for rel in self.names(root)[0]:
            yield reader.read_file(root / rel, rel, max_bytes=max_bytes, progress=progress)
