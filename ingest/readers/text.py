"""Plain text (``.txt``): the whole file is one document."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from ingest.readers.base import RecordError, encoding_metadata, first_line, read_text_file
from kb.core.types import Document

logger = logging.getLogger(__name__)


class TextReader:
    """Reads a UTF-8 or GB18030 text file; its title is the first non-blank line, else the file name's stem."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        text, encoding = read_text_file(path)
        yield Document(
            text=text, source=str(path), title=first_line(text) or path.stem, metadata=encoding_metadata(encoding)
        )
