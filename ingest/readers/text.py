"""Plain text (``.txt``): the whole file is one document."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from ingest.readers.base import RecordError, first_line, read_text
from kb.types import Document

logger = logging.getLogger(__name__)


class TextReader:
    """Reads a UTF-8 text file; its title is the first non-blank line, else the file name's stem."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        text = read_text(path)
        yield Document(text=text, source=str(path), title=first_line(text) or path.stem)
