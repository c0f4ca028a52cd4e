"""HTML (``.html``, ``.htm``) through trafilatura: the main text without navigation, ads and footers.

Only the file's content is handed to trafilatura, never a URL, so nothing is fetched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers.base import RecordError, read_bytes
from ingest.readers.markdown import find_sections, first_h1
from kb.errors import ReaderError
from kb.types import Document

logger = logging.getLogger(__name__)


class HtmlReader:
    """Extracts a page's main text as Markdown, so its headings become sections."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        import trafilatura

        html = _decode(read_bytes(path))
        text = trafilatura.extract(html, output_format="markdown", include_comments=False, include_tables=True)
        if not text or not text.strip():
            raise ReaderError(f"{path}: no main text found in HTML")
        page = trafilatura.extract_metadata(html)
        metadata: dict[str, Any] = {}
        if page is not None:
            fields = {"url": page.url, "published": page.date, "site": page.sitename, "author": page.author}
            metadata = {key: value for key, value in fields.items() if value}
        title = (page.title if page is not None and page.title else "") or first_h1(text) or path.stem
        yield Document(text=text, source=str(path), title=title, sections=find_sections(text), metadata=metadata)


def _decode(data: bytes) -> str:
    """UTF-8 when it is; otherwise trafilatura's guess from the page's declared or detected charset."""
    from trafilatura.utils import decode_file

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return decode_file(data)
