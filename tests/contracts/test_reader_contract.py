"""The readers' conformance suite: every reader `ingest.readers.reader_names` registers reads a small fixture of its
format into documents that keep the `Reader` contract, reads it the same way twice, and refuses a missing, an empty
and a binary file with one `ReaderError` naming the file. A new reader passes by adding one line to `FIXTURES`.

The fixtures are the built-in seeds of the fuzz run (`tests/ingest/fuzz_inputs.py`), so they need no data folder.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from ingest.readers import Deletion, Reader, RecordError, reader_named, reader_names
from kb.core.errors import ReaderError
from kb.core.types import Document
from tests.ingest.fuzz_inputs import TARGETS


def _seed(target: str) -> bytes:
    return TARGETS[target].inline[0]


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


#: reader name -> (file name, contents): one small file each reader turns into at least one document.
FIXTURES: dict[str, tuple[str, bytes]] = {
    "archive": ("bundle.zip", _seed("zip")),
    "csv": ("rows.csv", _seed("csv")),
    "dailymed": ("dm_spl_release.zip", _zip({"label/spl.xml": _seed("spl"), "label/image.jpg": b"\xff\xd8"})),
    "html": ("page.html", _seed("html")),
    "jats": ("article.nxml", _seed("jats")),
    "jsonl": ("records.jsonl", _seed("jsonl")),
    "markdown": ("note.md", _seed("markdown")),
    "medline": ("export.nbib", b"PMID- 31000001\nTI  - Metformin in kidney disease.\nAB  - BACKGROUND: Rare.\n"),
    "medquad": ("corpus.jsonl", _seed("medquad-jsonl")),
    "medquad-xml": ("qa.xml", _seed("medquad-xml")),
    "pdf": ("guide.pdf", _seed("pdf")),
    "pmc-oa": ("PMC1.tar.gz", _tar_gz({"PMC1/article.nxml": _seed("jats"), "PMC1/figure.jpg": b"\xff\xd8"})),
    "pubmed": ("pubmed.xml", _seed("pubmed-xml")),
    "pubmedqa": ("corpus.jsonl", _seed("pubmedqa-jsonl")),
    "scifact": ("corpus.jsonl", _seed("scifact-jsonl")),
    "spl": ("label.xml", _seed("spl")),
    "text": ("note.txt", _seed("medline-text")),
    "xml": ("pubmed.xml", _seed("pubmed-xml")),
}


def test_every_registered_reader_has_a_fixture() -> None:
    assert sorted(FIXTURES) == reader_names()


def _fixture(name: str, folder: Path) -> Path:
    file_name, data = FIXTURES[name]
    path = folder / file_name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_a_reader_turns_its_format_into_documents(name: str, tmp_path: Path) -> None:
    reader = reader_named(name)
    assert isinstance(reader, Reader)
    path = _fixture(name, tmp_path)
    items = list(reader.read(path))
    assert all(isinstance(item, Document | RecordError | Deletion) for item in items)
    documents = [item for item in items if isinstance(item, Document)]
    assert documents, f"{name} read no document from {path.name}: {items}"
    for doc in documents:
        assert doc.text.strip() and doc.source, doc
        assert isinstance(doc.metadata, dict)
        for section in doc.sections:  # each section is a span of the text
            assert 0 <= section.start <= section.end <= len(doc.text), (doc.source, section)
        version = doc.metadata.get("version")
        assert version is None or (isinstance(version, int) and not isinstance(version, bool))
    for error in (item for item in items if isinstance(item, RecordError)):
        assert error.source and error.reason
    again = [item.id for item in reader.read(path) if isinstance(item, Document)]
    assert again == [doc.id for doc in documents], "reading the same file twice gives other documents"


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("content", [None, b"", b"\x00\x01\x02\xff" * 64], ids=["missing", "empty", "binary"])
def test_a_file_it_cannot_read_is_one_error_naming_it(name: str, content: bytes | None, tmp_path: Path) -> None:
    file_name, _ = FIXTURES[name]
    path = tmp_path / file_name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReaderError) as raised:
        for item in reader_named(name).read(path):
            assert not isinstance(item, Document), f"{name} made a document of a {content!r:.20} file: {item}"
    assert path.name in str(raised.value)
