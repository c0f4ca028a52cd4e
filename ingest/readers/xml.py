"""XML files (``.xml``, ``.xml.gz``, ``.nxml``): the root element says which reader reads them.

``PubmedArticleSet`` goes to `PubmedReader`, ``article``/``pmc-articleset`` to `JatsReader`, an HL7 v3
``document`` to `SplReader` and a MedQuAD ``Document`` to `MedquadXmlReader`. Parsing is streaming and safe for
every one of them (see `ingest.readers.xmlsafe`).

Example::

    for item in XmlReader().read(Path("pubmed25n0001.xml.gz")):
        ...
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from ingest.readers.base import Reader, ReadItem
from ingest.readers.jats import JatsReader
from ingest.readers.medquad import MedquadXmlReader
from ingest.readers.pubmed import PubmedReader
from ingest.readers.spl import SplReader
from ingest.readers.xmlsafe import EXPECTED_ROOTS, root_tag
from kb.core.errors import ReaderError

logger = logging.getLogger(__name__)

#: The reader for each root element (Clark notation).
READERS_BY_ROOT: dict[str, type[Reader]] = {
    "PubmedArticleSet": PubmedReader,
    "article": JatsReader,
    "pmc-articleset": JatsReader,
    "{urn:hl7-org:v3}document": SplReader,
    "Document": MedquadXmlReader,
}


class XmlReader:
    """Sniffs the root element of an XML file and hands the file to the reader for that format."""

    def read(self, path: Path) -> Iterator[ReadItem]:
        root = root_tag(path)
        reader_class = READERS_BY_ROOT.get(root)
        if reader_class is None:
            raise ReaderError(f"{path}: unrecognised XML root <{root}>; expected {EXPECTED_ROOTS}")
        logger.debug("%s: root <%s>, read by %s", path, root, reader_class.__name__)
        yield from reader_class().read(path)
