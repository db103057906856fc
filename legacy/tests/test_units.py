"""The pieces on their own: time formats, streaming readers, the external sort, masking."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime

import pytest

from legacy import reader, values
from legacy.reader import RawRecord
from legacy.rejects import masked_raw
from legacy.sorting import ExternalSorter

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T05:30:00-04:30", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # naive means UTC
        ("2024-05-01 10:00:00.250000", datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        (1714557600, datetime(2024, 5, 1, 10, tzinfo=UTC)),  # epoch seconds
        (1714557600.5, datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("1714557600", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600000, datetime(2024, 5, 1, 10, tzinfo=UTC)),  # epoch milliseconds
    ],
)
def test_every_time_format(value, expected):
    assert values.parse_time(value, "t", now=NOW) == expected


@pytest.mark.parametrize("value", ["soon", "", "2024-13-01", True, None, [], "1969-12-31T00:00:00Z", "2030-01-01"])
def test_not_times(value):
    with pytest.raises(values.Reject, match="'t'"):
        values.parse_time(value, "t", now=NOW)


def test_jsonl_reader_bom_crlf_blank_and_truncated(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\r\n  \n{"a": 2}\r\n[1]\n{"a": \xff}\n{"a": 3')
    records = list(reader.iter_jsonl(path, "x.jsonl", max_bytes=1000))
    assert [(r.line, r.data, r.error is None) for r in records][:2] == [(1, {"a": 1}, True), (4, {"a": 2}, True)]
    assert records[2].line == 5 and "not a JSON object" in records[2].error
    assert records[3].line == 6 and "UTF-8" in records[3].error
    assert records[4].line == 7 and records[4].error.startswith("truncated")


def test_a_valid_last_line_without_line_end_is_a_record(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}')
    assert [r.data for r in reader.iter_jsonl(path, "x.jsonl", max_bytes=1000)] == [{"a": 1}, {"a": 2}]


def test_oversized_records_are_refused_without_being_held(tmp_path):
    path = tmp_path / "x.jsonl"
    big = json.dumps({"blob": "z" * 5_000_000})
    path.write_text(big + "\n" + '{"a": 1}\n')
    tracemalloc.start()
    records = list(reader.iter_jsonl(path, "x.jsonl", max_bytes=64 * 1024))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "larger than 65536 bytes" in records[0].error and "cut" in records[0].text
    assert records[1].data == {"a": 1} and records[1].line == 2
    assert peak < 2_000_000  # never the 5 MB line


def test_reading_a_large_file_keeps_memory_flat(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps({"user": "u@example.com", "model": "m", "tokens": 123, "note": "x" * 200}) + "\n"
    with open(path, "w") as fh:
        for _ in range(100_000):  # ~25 MB
            fh.write(line)
    tracemalloc.start()
    count = sum(1 for _ in reader.iter_jsonl(path, "big.jsonl", max_bytes=1 << 20))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 100_000 and peak < 2_000_000


def test_json_array_elements_keep_their_lines(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('[\n  {"name": "a"},\n\n  {"name": "b"}, {"name": "c"},\n  {"name": \n')
    records = list(reader.iter_json_array(path, "p.json", max_bytes=10_000))
    assert [(r.line, r.data) for r in records[:3]] == [(2, {"name": "a"}), (4, {"name": "b"}), (4, {"name": "c"})]
    assert records[3].line == 5 and records[3].error.startswith("not valid JSON")


def test_external_sort_spills_merges_and_cleans_up(tmp_path):
    sorter = ExternalSorter(run_bytes=2_000, tmp_dir=str(tmp_path))
    keys = [(n * 7919) % 1000 for n in range(1000)]
    for n, key in enumerate(keys):
        sorter.add((key, "f", n), RawRecord("f", n, json.dumps({"k": key})))
    assert len(sorter._files) > 5  # it spilled
    out = list(sorter.sorted())
    assert [r.data["k"] for r in out] == sorted(keys)
    assert all(r.error is None for r in out)
    assert not any(tmp_path.iterdir())  # runs removed


def test_masking_parsed_and_unparsed_records():
    parsed = RawRecord("k.jsonl", 1, "{}", data={"user": "u", "api_key": "sk-live-1", "nested": {"token": "t0k"}})
    raw, masked = masked_raw(parsed)
    assert "sk-live-1" not in raw and "t0k" not in raw and sorted(masked) == ["api_key", "nested.token"]
    assert json.loads(raw)["user"] == "u"
    cut = RawRecord("k.jsonl", 2, '{"user": "u", "api_key": "sk-live-2')
    raw, masked = masked_raw(cut)
    assert "sk-live-2" not in raw and masked == ["api_key"]
    usage = RawRecord("u.jsonl", 3, "{}", data={"tokens_in": 5, "tokens_out": 6})
    assert masked_raw(usage) == ("{}", [])  # counts of tokens are not secrets


def test_masking_a_record_that_arrived_without_its_parsed_json():
    """Records prepared by the reader process cross without .data: parsed again to mask."""
    text = '{"entity": "user", "payload": {"password": "hunter2", "n": 1}}'
    raw, masked = masked_raw(RawRecord("audit/audit_2024-01.jsonl", 7, text))
    assert "hunter2" not in raw and masked == ["payload.password"]
    assert json.loads(raw)["payload"]["n"] == 1
