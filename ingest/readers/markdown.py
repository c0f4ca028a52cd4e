"""Markdown (``.md``, ``.markdown``): optional front matter as metadata, ATX headings as sections.

Only the simple front matter that corpora actually use is understood (``key: value`` lines between two ``---``
lines); no YAML library is needed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from ingest.readers.base import RecordError, encoding_metadata, read_text_file
from kb.core.errors import ReaderError
from kb.core.types import Document, Section

logger = logging.getLogger(__name__)

# The title is taken whole and its closing #s cut off by `_without_closing`: a lazy title followed by an optional
# closing sequence backtracks quadratically on a long line of spaces (minutes for 150 KB).
_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


class MarkdownReader:
    """Reads a Markdown file into one document whose sections are the bodies under its headings."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        raw, encoding = read_text_file(path)
        metadata, text = split_front_matter(raw)
        if not text.strip():
            raise ReaderError(f"{path}: no text after the front matter")
        title = metadata.pop("title", "") or first_h1(text) or path.stem
        metadata.update(encoding_metadata(encoding))
        yield Document(text=text, source=str(path), title=title, sections=find_sections(text), metadata=metadata)


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """``(metadata, rest)``: a leading ``---`` ... ``---`` block parsed into lowercased keys, and the text after it
    verbatim. Without a closed block at the very top, the metadata is empty and the text is returned unchanged.
    """
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].rstrip() == "---":
            return _parse_front_matter(lines[1:end]), "\n".join(lines[end + 1 :])
    return {}, text


def _parse_front_matter(lines: list[str]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.strip().partition(":")
        if not sep or not key.strip() or key.startswith("#"):
            if line.strip():
                logger.debug("front matter line ignored (not 'key: value'): %r", line)
            continue
        value = _unquote(value.strip())
        if value:
            metadata[key.strip().lower()] = value
    return metadata


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value


def _headings(text: str) -> list[tuple[int, int, int, str]]:
    """``(line_start, body_start, level, title)`` for each ATX heading outside fenced code blocks."""
    found: list[tuple[int, int, int, str]] = []
    fence: str | None = None
    pos = 0
    for line in text.split("\n"):
        start, pos = pos, pos + len(line) + 1
        bare = line.rstrip("\r")
        if fence is not None:
            if _closes(fence, bare):
                fence = None
        elif fence_match := _FENCE.match(bare):
            fence = fence_match.group(1)
        elif heading := _HEADING.fullmatch(bare):
            title = _without_closing(heading.group(2) or "")
            found.append((start, min(pos, len(text)), len(heading.group(1)), title))
    return found


def _without_closing(title: str) -> str:
    """``title`` stripped, less a closing sequence of #s after a blank (``Dosing ##``); a title of #s alone stays."""
    title = title.rstrip(" \t")
    bare = title.rstrip("#")
    return (bare if bare != title and bare[-1:] in (" ", "\t") else title).strip()


def _closes(fence: str, line: str) -> bool:
    """Whether ``line`` ends the code block ``fence`` opened: same character, at least as long, nothing after."""
    match = _FENCE.match(line)
    return (
        match is not None
        and match.group(1)[0] == fence[0]
        and len(match.group(1)) >= len(fence)
        and not line[match.end() :].strip()
    )


def first_h1(text: str) -> str:
    """The text of the first level-1 heading, or ""."""
    return next((title for _, _, level, title in _headings(text) if level == 1 and title), "")


def find_sections(text: str) -> list[Section]:
    """One section per heading, spanning the body after the heading line up to the next heading; text before the
    first heading is an untitled section. Sections holding only whitespace are left out.
    """
    headings = _headings(text)
    spans = [("", 0, headings[0][0] if headings else len(text))]
    for i, (_, body_start, _, title) in enumerate(headings):
        end = headings[i + 1][0] if i + 1 < len(headings) else len(text)
        spans.append((title, body_start, end))
    return [Section(title=title, start=start, end=end) for title, start, end in spans if text[start:end].strip()]
