"""HTML (``.html``, ``.htm``) through trafilatura: the main text without navigation, ads and footers.

Only the file's content is handed to trafilatura, never a URL, so nothing is fetched. The page is read as UTF-8 when
it is valid UTF-8, else in the charset its ``<meta>`` declares, else as GB18030 (see `ingest.readers.base`).
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers.base import (
    MAX_TEXT_FILE_BYTES,
    RecordError,
    check_text_start,
    decode_text,
    encoding_metadata,
    read_bytes,
)
from ingest.readers.markdown import find_sections, first_h1
from kb.core.errors import ReaderError
from kb.core.types import Document

logger = logging.getLogger(__name__)

_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
#: Charsets a page may declare that mean something else in practice (the WHATWG encoding standard's mapping).
_CHARSET_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252", "latin-1": "cp1252"}


class HtmlReader:
    """Extracts a page's main text as Markdown, so its headings become sections."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        import trafilatura

        html, encoding = _decode(path, read_bytes(path, limit=MAX_TEXT_FILE_BYTES))
        text = trafilatura.extract(html, output_format="markdown", include_comments=False, include_tables=True)
        if not text or not text.strip():
            raise ReaderError(f"{path}: no main text found in HTML")
        page = trafilatura.extract_metadata(html)
        metadata: dict[str, Any] = {}
        if page is not None:
            fields = {"url": page.url, "published": page.date, "site": page.sitename, "author": page.author}
            metadata = {key: value for key, value in fields.items() if value}
        metadata.update(encoding_metadata(encoding))
        title = (page.title if page is not None and page.title else "") or first_h1(text) or path.stem
        yield Document(text=text, source=str(path), title=title, sections=find_sections(text), metadata=metadata)


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    """``(html, encoding)``: valid UTF-8 wins over a wrong declaration; then the declared charset; then GB18030."""
    check_text_start(path, data)
    declared = _declared_charset(data)
    if declared is not None and declared != "utf-8":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                html = data.decode(declared)
                html.encode("utf-8")  # escape codecs (unicode_escape) can decode "\ud800" to a lone surrogate
            except (UnicodeError, LookupError):  # LookupError: a codec that is no charset (rot13, hex)
                logger.debug("%s: not valid %s as its <meta> declares", path, declared)
            else:
                logger.info("%s: decoded as %s, as its <meta> declares", path, declared)
                return html, declared
    return decode_text(path, data)


def _declared_charset(data: bytes) -> str | None:
    """The Python codec for the charset a ``<meta>`` in the first 4 KiB names, or None."""
    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    if name.startswith(("utf-16", "utf-32")):  # a byte-oriented file cannot be UTF-16; browsers read it as UTF-8
        return "utf-8"
    return _CHARSET_ALIASES.get(name, name)
