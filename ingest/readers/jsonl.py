"""JSON Lines (``.jsonl``): one document per line, e.g. a PubMed export.

Each line is an object with a non-empty ``text`` and optionally ``id``, ``title``, ``url``, ``pmid``, ``doi``,
``published``, ``source`` and any other keys, which are all kept as metadata. A bad line is yielded as a
`RecordError` and the lines after it are still read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers.base import UTF8_BOM, RecordError
from kb.errors import ReaderError
from kb.types import Document

logger = logging.getLogger(__name__)

#: Keys whose values are stored as strings, so "12345" and 12345 name the same article.
_STRING_KEYS = ("id", "pmid", "doi")


class JsonlReader:
    """Streams a JSON Lines file line by line, so large exports are never loaded whole."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ReaderError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        seen_ids: dict[str, int] = {}
        blank = True
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                if lineno == 1:
                    raw = raw.removeprefix(UTF8_BOM)
                if not raw.strip():
                    continue
                blank = False
                record = _parse_line(path, lineno, raw, seen_ids)
                if isinstance(record, RecordError):
                    logger.debug("%s: %s", record.source, record.reason)
                yield record
        if blank:
            raise ReaderError(f"{path}: empty file")


def _parse_line(path: Path, lineno: int, raw: bytes, seen_ids: dict[str, int]) -> Document | RecordError:
    def bad(reason: str) -> RecordError:
        return RecordError(source=f"{path}#L{lineno}", reason=reason)

    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return bad(f"not valid UTF-8 (byte {exc.start} of the line)")
    except json.JSONDecodeError as exc:
        return bad(f"invalid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return bad(f"expected a JSON object, got {type(obj).__name__}")
    text = obj.get("text")
    if text is None:
        return bad("missing 'text'")
    if not isinstance(text, str):
        return bad(f"'text' must be a string, got {type(text).__name__}")
    if not text.strip():
        return bad("'text' is empty")
    title = obj.get("title") or ""
    if not isinstance(title, str):
        return bad(f"'title' must be a string, got {type(title).__name__}")
    record_id = obj.get("id")
    if record_id == "":
        record_id = None
    if record_id is not None and (isinstance(record_id, bool) or not isinstance(record_id, (str, int))):
        return bad(f"'id' must be a string or an integer, got {type(record_id).__name__}")
    key = str(record_id) if record_id is not None else f"L{lineno}"
    if key in seen_ids:
        return bad(f"duplicate id {key!r} (first on line {seen_ids[key]})")
    seen_ids[key] = lineno
    return Document(text=text, source=f"{path}#{key}", title=title.strip(), metadata=_metadata(obj))


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in obj.items() if k not in ("text", "title") and v is not None and v != ""}
    for key in _STRING_KEYS:
        if key in metadata:
            metadata[key] = str(metadata[key])
    return metadata
