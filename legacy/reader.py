"""Streaming readers of the legacy files: one `RawRecord` at a time, never a whole export.

What real exports contain (FORMAT.md) is handled here, once for every kind: a UTF-8
byte-order mark, CRLF line ends, blank lines (skipped: they are not records), a
truncated last line, bytes that are not UTF-8, lines that are not JSON (or JSON that is
not an object), NaN/Infinity (not JSON, and jsonb refuses them), NUL characters
(PostgreSQL cannot store them) and records larger than the configured cap (skipped
without being held in memory). Such a record comes out with `error` set, and the
importer writes it to the rejects report.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BOM = b"\xef\xbb\xbf"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
RAW_PREVIEW = 2000  # characters of an oversized record kept for the rejects report


@dataclass
class RawRecord:
    """One record as read: where it is, its text, and its parsed JSON (or why not)."""

    file: str  # path relative to the export directory, with "/"
    line: int  # 1-based line where the record starts
    text: str
    data: Any = None
    error: str | None = None

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


Progress = Callable[[int], object]


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def parse(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, reason)."""
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except (ValueError, RecursionError) as exc:
        return None, f"not valid JSON: {exc}"
    # Only a JSON escape can put a NUL into a parsed string (a raw one is refused above).
    if "\\u0000" in text and _has_nul(value):
        return None, "contains a NUL character (\\u0000), which PostgreSQL cannot store"
    # An escaped half of a surrogate pair on its own is not a character (not UTF-8).
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, "contains an unpaired surrogate escape (\\udXXX), which is not text"
    return value, None


def _decode(body: bytes) -> tuple[str, str | None]:
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return body.decode("utf-8", "replace"), f"not valid UTF-8 (byte {exc.start + 1} of the record)"


def _record(rel: str, line: int, body: bytes, *, complete: bool, want: type | None = dict) -> RawRecord:
    text, error = _decode(body)
    if error:
        return RawRecord(rel, line, text, error=error)
    data, error = parse(text)
    if error:
        if not complete:
            error = f"truncated: the file ends inside this record ({error})"
        return RawRecord(rel, line, text, error=error)
    if want is not None and not isinstance(data, want):
        return RawRecord(rel, line, text, error=f"not a JSON object (a JSON {type(data).__name__})")
    return RawRecord(rel, line, text, data=data)


def iter_jsonl(path: Path, rel: str, *, max_bytes: int, progress: Progress | None = None) -> Iterator[RawRecord]:
    """Records of a JSON-lines file, one line at a time (memory: one line, at most max_bytes)."""
    line = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.readline(max_bytes + 1)
            if not chunk:
                return
            line += 1
            consumed = len(chunk)
            if line == 1 and chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
            if len(chunk) > max_bytes and not chunk.endswith(b"\n"):
                # Too large to hold: skip the rest of the line without keeping it.
                while True:
                    more = fh.readline(1 << 16)
                    consumed += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                if progress:
                    progress(consumed)
                preview, _ = _decode(chunk[:RAW_PREVIEW])
                yield RawRecord(
                    rel,
                    line,
                    preview + f"… [{consumed} bytes, cut]",
                    error=f"record larger than {max_bytes} bytes (--max-record-bytes)",
                )
                continue
            complete = chunk.endswith(b"\n")
            body = chunk[:-1] if complete else chunk
            if body.endswith(b"\r"):
                body = body[:-1]
            if progress:
                progress(consumed)
            if not body.strip():
                continue
            yield _record(rel, line, body, complete=complete)


def read_file(path: Path, rel: str, *, max_bytes: int, progress: Progress | None = None, want=dict) -> RawRecord:
    """A file holding one JSON document (a project, a user's settings, an analysis)."""
    size = path.stat().st_size
    if size > max_bytes:
        if progress:
            progress(1)
        with open(path, "rb") as fh:
            preview, _ = _decode(fh.read(RAW_PREVIEW))
        return RawRecord(
            rel, 1, preview + f"… [{size} bytes, cut]", error=f"file larger than {max_bytes} bytes (--max-record-bytes)"
        )
    body = path.read_bytes()
    if progress:
        progress(1)
    if body.startswith(BOM):
        body = body[len(BOM) :]
    if not body.strip():
        return RawRecord(rel, 1, "", error="empty file")
    return _record(rel, 1, body.strip(), complete=True, want=want)


def iter_json_array(path: Path, rel: str, *, max_bytes: int, progress: Progress | None = None) -> Iterator[RawRecord]:
    """Elements of a file holding one JSON array (policies.json), each with its line.

    A bad element cannot be skipped on its own (JSON has no line structure to resync
    on), so a syntax error ends the file with one record reporting it and the rest."""
    whole = read_file(path, rel, max_bytes=max_bytes, progress=progress, want=None)
    if whole.error and not whole.error.startswith(("not valid JSON", "contains a NUL")):
        yield whole
        return
    text = whole.text
    if whole.data is not None and not isinstance(whole.data, list):
        yield RawRecord(rel, 1, text, error=f"not a JSON array (a JSON {type(whole.data).__name__})")
        return
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    pos = text.find("[")
    if pos < 0 or text[:pos].strip():
        yield RawRecord(rel, 1, text, error=whole.error or "not a JSON array")
        return
    pos += 1
    line, counted = 1, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            _, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, ValueError) as exc:
            yield RawRecord(rel, line, text[pos:], error=f"not valid JSON from here on: {exc}")
            return
        yield _record(rel, line, text[pos:end].encode(), complete=True)
        pos = end


def sorted_names(directory: Path, *, prefix: str = "", suffix: str = "") -> tuple[list[str], list[str]]:
    """(file names matching prefix*suffix, sorted; other entries). Names only."""
    matching: list[str] = []
    other: list[str] = []
    if not directory.is_dir():
        return matching, other
    with os.scandir(directory) as it:
        for entry in it:
            if entry.is_file() and entry.name.startswith(prefix) and entry.name.endswith(suffix):
                matching.append(entry.name)
            else:
                other.append(entry.name)
    return sorted(matching), sorted(other)
