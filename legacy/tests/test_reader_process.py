"""The reader process of the big kinds: chunks arrive whole and in order, a failure
while reading reaches the importer, and the process never outlives its consumer."""

import multiprocessing
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from legacy.importer import Importer, Options, _ahead_apart, _Chunk
from legacy.kinds import KINDS
from legacy.kinds.base import Item
from legacy.reader import RawRecord


def _chunks(n, fail_at=None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"bad file at chunk {i}")
        rec = RawRecord("usage/usage_2024-01.jsonl", i + 1, f'{{"n": {i}}}', data={"n": i})
        reject = RawRecord("usage/usage_2024-01.jsonl", 1000 + i, "{broken", error="not valid JSON")
        yield _Chunk(
            items=[Item(key=f"k{i}", digest="d" * 64, rec=rec, value={"n": i}, sub=i)],
            rejects=[(reject, "not valid JSON", 0)],
            read=2,
            sub_read=i,
        )


def test_chunks_arrive_in_order_with_everything_but_the_parsed_json():
    got = list(_ahead_apart(lambda: _chunks(20)))
    assert [c.items[0].key for c in got] == [f"k{i}" for i in range(20)]
    first = got[3]
    assert (first.read, first.sub_read, first.items[0].sub, first.items[0].value) == (2, 3, 3, {"n": 3})
    rec = first.items[0].rec
    assert (rec.file, rec.line, rec.text, rec.data) == ("usage/usage_2024-01.jsonl", 4, '{"n": 3}', None)
    reject, reason, _ = first.rejects[0]
    assert (reject.line, reject.error, reason) == (1003, "not valid JSON", "not valid JSON")


def test_a_failure_while_reading_is_raised_in_the_importer():
    with pytest.raises(RuntimeError, match="ValueError: bad file at chunk 5"):
        list(_ahead_apart(lambda: _chunks(20, fail_at=5)))


def test_the_reader_stops_when_the_importer_stops_early():
    source = _ahead_apart(lambda: _chunks(10_000))
    next(source)
    source.close()  # the importer failed on a batch: the reader must not linger
    assert not [p for p in multiprocessing.active_children() if p.name == "import_legacy-reader"]


def test_the_reader_process_ends_when_the_importer_is_killed(tmp_path):
    """Even while it is still reading (sorting, not yet waiting on the queue)."""
    pid_file = tmp_path / "reader.pid"
    script = f"""
import os, time, multiprocessing
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()
from legacy.importer import _ReaderProcess

def endless():
    open({str(pid_file)!r}, "w").write(str(os.getpid()))
    while True:
        time.sleep(0.1)
        if False:
            yield None

_ReaderProcess(endless)
time.sleep(60)
"""
    importer = subprocess.Popen([sys.executable, "-c", script], cwd=settings.BASE_DIR)
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the reader process did not start"
            time.sleep(0.05)
        reader = int(pid_file.read_text())
        importer.send_signal(signal.SIGKILL)
        importer.wait(10)
        deadline = time.monotonic() + 10
        while _alive(reader):
            assert time.monotonic() < deadline, "the reader outlived the killed importer"
            time.sleep(0.05)
    finally:
        importer.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_an_ordered_kind_starts_reading_first_and_its_reader_stops_with_a_failed_import(tmp_path, monkeypatch):
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "audit_2024-01.jsonl").write_text(
        "".join(
            f'{{"id": "e{i}", "ts": "2024-01-0{1 + i % 9}T00:00:00Z", "entity": "x", "action": "y"}}\n'
            for i in range(50)
        )
    )
    started = {}

    def first_kind_fails(self, kind):
        started.update({name: reader.proc.pid for name, reader in self._early.items()})
        raise RuntimeError("the first kind failed")

    monkeypatch.setattr(Importer, "_kind", first_kind_fails)
    options = Options(
        root=tmp_path,
        kinds=list(KINDS),
        batch_size=10,
        dry_run=False,
        rejects_path=tmp_path / "rejects.jsonl",
        max_bytes=1 << 20,
        progress=False,
    )
    with pytest.raises(RuntimeError, match="the first kind failed"):
        Importer(options, actor=None).run()
    assert list(started) == ["audit"] and started["audit"]
    assert not [p for p in multiprocessing.active_children() if p.name == "import_legacy-reader"]
