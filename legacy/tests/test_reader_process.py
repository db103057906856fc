"""The reader process of the big kinds: chunks arrive whole and in order, a failure
while reading reaches the importer, and the process never outlives its consumer."""

import pytest

from legacy.importer import _ahead_apart, _Chunk
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
    import multiprocessing

    source = _ahead_apart(lambda: _chunks(10_000))
    next(source)
    source.close()  # the importer failed on a batch: the reader must not linger
    assert not [p for p in multiprocessing.active_children() if p.name == "import_legacy-reader"]
