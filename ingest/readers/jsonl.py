"""JSON Lines (``.jsonl``): one document per line, e.g. a PubMed export.

Each line is an object with a non-empty ``text`` and optionally ``id``, ``title``, ``url``, ``pmid``, ``doi``,
``published``, ``source`` and any other keys, which are all kept as metadata. A bad line, or one longer than
``MAX_RECORD_BYTES`` (skipped without being held in memory), is yielded as a `RecordError` and the lines after it
are still read.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers.base import RecordError, iter_lines, open_lines
from kb.core.errors import ReaderError
from kb.core.types import Document

logger = logging.getLogger(__name__)

#: Keys whose values are stored as strings, so "12345" and 12345 name the same article.
_STRING_KEYS = ("id", "pmid", "doi")
#: A ``\uD800``-``\uDFFF`` escape: only lines holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JsonlReader:
    """Streams a JSON Lines file line by line, so large exports are never loaded whole."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        seen_ids: dict[str, int] = {}
        for item in iter_json_objects(path):
            if isinstance(item, RecordError):
                yield item
                continue
            lineno, obj = item
            record = _to_document(path, lineno, obj, seen_ids)
            if isinstance(record, RecordError):
                logger.debug("%s: %s", record.source, record.reason)
            yield record


def iter_json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]] | RecordError]:
    """``(line number, object)`` for each non-blank line of a JSON Lines file, or a `RecordError` for a line that
    is too long, not UTF-8, not JSON or not an object. `ReaderError` if the file is unreadable, binary or blank.
    """
    blank = True
    with open_lines(path) as handle:
        for item in iter_lines(path, handle):
            if isinstance(item, RecordError):
                blank = False
                logger.debug("%s: %s", item.source, item.reason)
                yield item
                continue
            lineno, raw = item
            if not raw.strip():
                continue
            blank = False
            parsed = _parse_line(raw)
            if isinstance(parsed, str):
                error = RecordError(source=f"{path}#L{lineno}", reason=parsed)
                logger.debug("%s: %s", error.source, error.reason)
                yield error
            else:
                yield lineno, parsed
    if blank:
        raise ReaderError(f"{path}: empty file")


def _parse_line(raw: bytes) -> dict[str, Any] | str:
    """The line's JSON object, or why it is not one."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start} of the line)"
    except json.JSONDecodeError as exc:  # some messages end in "at" ("Unterminated string starting at")
        return f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
    except ValueError:  # json turns an integer of more digits than Python converts into a plain ValueError
        return f"invalid JSON (a number longer than {sys.get_int_max_str_digits()} digits)"
    except RecursionError:
        return "invalid JSON (arrays or objects nested too deeply to parse)"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    if _SURROGATE_ESCAPE.search(raw) and (lone := _lone_surrogate(obj)):
        return f"invalid JSON (a string holds the lone surrogate \\u{ord(lone):04x}; expected valid Unicode text)"
    return obj


def _lone_surrogate(obj: Any) -> str | None:
    """The first unpaired UTF-16 surrogate in ``obj``'s strings (keys included), or None: JSON's ``\\ud800``
    escapes decode to them, and they cannot be stored as UTF-8. Iterative, as ``obj`` may nest deeply."""
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if lone := next((char for char in value if "\ud800" <= char <= "\udfff"), None):
                return lone
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def _to_document(path: Path, lineno: int, obj: dict[str, Any], seen_ids: dict[str, int]) -> Document | RecordError:
    def bad(reason: str) -> RecordError:
        return RecordError(source=f"{path}#L{lineno}", reason=reason)

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
