"""External merge sort of records by a key, with bounded memory (legacy audit events by ts).

Records are gathered into runs of at most `run_bytes` of text; each run is sorted in
memory and, unless it is the only one, written to a temporary file (pickled: our own
files, read back by this process only, several times faster than JSON both ways); the
runs are then merged lazily (heapq.merge). Memory holds one run plus one record per
spilled run, whatever the number of records."""

from __future__ import annotations

import heapq
import pickle
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
        path = Path(self._dir.name) / f"run-{len(self._files):05d}.pickle"
        with open(path, "wb") as fh:
            pickler = pickle.Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL)
            for key, rec in self._run:
                pickler.dump((key, rec.file, rec.line, rec.text))
                # The pickler remembers every object it wrote (memo) unless told otherwise.
                pickler.clear_memo()
        self._files.append(path)
        self._run, self._size = [], 0

    @staticmethod
    def _read_run(path: Path) -> Iterator[tuple[tuple, RawRecord]]:
        with open(path, "rb") as fh:
            unpickler = pickle.Unpickler(fh)  # noqa: S301 - our own temporary files only
            while True:
                try:
                    key, file, lineno, text = unpickler.load()
                except EOFError:
                    return
                data, error = parse(text)
                yield key, RawRecord(file, lineno, text, data=data, error=error)

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
