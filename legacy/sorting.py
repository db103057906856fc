"""External merge sort of records by a key, with bounded memory (legacy audit events by ts).

Records are gathered into runs of at most `run_bytes` of text; each run is sorted in
memory and, unless it is the only one, written to a temporary file; the runs are then
merged lazily (heapq.merge). Memory holds one run plus one record per spilled run,
whatever the number of records."""

from __future__ import annotations

import heapq
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from legacy.reader import RawRecord, parse

RUN_BYTES = 16 * 1024 * 1024


class ExternalSorter:
    def __init__(self, *, run_bytes: int = RUN_BYTES, tmp_dir: str | None = None):
        self.run_bytes = run_bytes
        self.tmp_dir = tmp_dir
        self._run: list[tuple[tuple, RawRecord]] = []
        self._size = 0
        self._files: list[Path] = []
        self._dir: tempfile.TemporaryDirectory | None = None

    def add(self, key: tuple, rec: RawRecord) -> None:
        # Only the text is kept (parsed again on the way out): a parsed record costs many
        # times its text in memory.
        self._run.append((key, RawRecord(rec.file, rec.line, rec.text)))
        self._size += len(rec.text) + 200
        if self._size >= self.run_bytes:
            self._spill()

    def _spill(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="import_legacy-sort-", dir=self.tmp_dir)
        self._run.sort(key=lambda kr: kr[0])
        path = Path(self._dir.name) / f"run-{len(self._files):05d}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for key, rec in self._run:
                fh.write(json.dumps([list(key), rec.file, rec.line, rec.text], ensure_ascii=False) + "\n")
        self._files.append(path)
        self._run, self._size = [], 0

    @staticmethod
    def _read_run(path: Path) -> Iterator[tuple[tuple, RawRecord]]:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, file, lineno, text = json.loads(line)
                data, error = parse(text)
                yield tuple(key), RawRecord(file, lineno, text, data=data, error=error)

    def sorted(self) -> Iterator[RawRecord]:
        try:
            if not self._files:
                self._run.sort(key=lambda kr: kr[0])
                run, self._run = self._run, []
                for _, rec in run:
                    rec.data, rec.error = parse(rec.text)
                    yield rec
                return
            if self._run:
                self._spill()
            merged = heapq.merge(*(self._read_run(p) for p in self._files), key=lambda kr: kr[0])
            for _, rec in merged:
                yield rec
        finally:
            self.close()

    def close(self) -> None:
        self._run = []
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
            self._files = []
