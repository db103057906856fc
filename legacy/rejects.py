"""The rejects report: one JSON line per record that was not imported.

    {"file": "users.jsonl", "line": 4, "kind": "users", "reason": "...", "raw": "..."}

`raw` is the record's text as read, except that secrets are masked: the value of every
field named like a secret (api_key, password_hash, token, secret, ...) is replaced by
"***" — in the parsed record when it parsed (then `raw` is that record re-serialized,
and `masked` lists the fields), in the text itself when it did not. A provider key that
does not decrypt, or a plain key refused for another reason, never reaches the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from audits.services import is_secret_key
from legacy.reader import RawRecord, parse

MASK = "***"
# "<secret-named key>": "<value…" in JSON text, also when the text ends inside the value.
_SECRET_IN_TEXT = re.compile(
    r'("(?P<name>[^"\\]*(?:api_?key|apikey|passw(?:or)?d|secret|token(?!s)|private_?key|access_?key|credential|encrypted)'
    r'[^"\\]*)"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)',
    re.I,
)


def _mask_value(value, path: str, masked: list[str]):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if is_secret_key(str(key)) and item is not None:
                out[key] = MASK
                masked.append(where)
            else:
                out[key] = _mask_value(item, where, masked)
        return out
    if isinstance(value, list):
        return [_mask_value(item, f"{path}[{i}]", masked) for i, item in enumerate(value)]
    return value


def masked_raw(rec: RawRecord) -> tuple[str, list[str]]:
    """(text safe to write, names of the masked fields)."""
    data = rec.data
    if data is None and rec.error is None:
        # Records prepared by the reader process arrive without their parsed form.
        data, _ = parse(rec.text)
    if isinstance(data, dict | list):
        masked: list[str] = []
        safe = _mask_value(data, "", masked)
        if masked:
            return json.dumps(safe, ensure_ascii=False), masked
        return rec.text, []
    names: list[str] = []

    def hide(match: re.Match) -> str:
        names.append(match.group("name"))
        return f'{match.group(1)}"{MASK}"'

    return _SECRET_IN_TEXT.sub(hide, rec.text), names


class RejectsFile:
    """Appends rejects as JSON lines; created (empty) when the run starts."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, *, rec: RawRecord, kind: str, reason: str) -> None:
        raw, masked = masked_raw(rec)
        entry = {"file": rec.file, "line": rec.line, "kind": kind, "reason": reason, "raw": raw}
        if masked:
            entry["masked"] = masked
        self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.count += 1

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
