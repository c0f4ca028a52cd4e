"""Hostile and broken XML: every case ends in one `ReaderError` line naming the file, quickly and in bounded memory."""

from __future__ import annotations

import gzip
import os
import resource
import time
from pathlib import Path

import pytest

from ingest.readers import read_path
from ingest.readers.base import ReadItem
from ingest.readers.xml import XmlReader
from ingest.readers.xmlsafe import root_tag
from kb.core.errors import ReaderError
from kb.core.types import Document
from tests.shared_data import SHARED_DATA

PUBMED1 = SHARED_DATA / "pubmed_xml" / "biopython" / "Entrez" / "pubmed1.xml"
HUMIRA = SHARED_DATA / "fda_drug_labels" / "spl" / "humira.xml"

needs_fixtures = pytest.mark.skipif(
    not PUBMED1.is_file() or not HUMIRA.is_file(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)

RECORD = (
    "<PubmedArticle><MedlineCitation><PMID>{n}</PMID><Article><ArticleTitle>Title {n}</ArticleTitle>"
    "<Abstract><AbstractText>Abstract number {n}.</AbstractText></Abstract></Article></MedlineCitation>"
    "</PubmedArticle>\n"
)


def pubmed_xml(count: int, start: int = 1) -> str:
    return "".join(RECORD.format(n=n) for n in range(start, start + count))


def read_until_error(path: Path) -> tuple[list[ReadItem], ReaderError]:
    """The items read before the `ReaderError` the file must end in, and that error (checked to be one line)."""
    items: list[ReadItem] = []
    with pytest.raises(ReaderError) as caught:
        for item in XmlReader().read(path):
            items.append(item)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return items, caught.value


def test_malformed_xml_after_good_records(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text("<PubmedArticleSet>\n" + pubmed_xml(3) + "<PubmedArticle><MedlineCitation><PMID>4</PMID></Oops>\n")
    items, error = read_until_error(path)
    assert [item.source for item in items] == ["pubmed:1", "pubmed:2", "pubmed:3"]
    assert f"{path}: malformed XML at line 5: " in str(error)


def test_truncated_xml_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_text("<PubmedArticleSet>\n" + pubmed_xml(2) + "<PubmedArticle><Medline")
    items, error = read_until_error(path)
    assert len(items) == 2 and "malformed XML at line" in str(error)


@needs_fixtures
def test_truncated_gzip_of_a_fixture(tmp_path: Path) -> None:
    packed = gzip.compress(HUMIRA.read_bytes())
    path = tmp_path / "humira.xml.gz"
    path.write_bytes(packed[: len(packed) // 2])
    items, error = read_until_error(path)
    assert items == []
    assert str(error).startswith(f"{path}: truncated or corrupt gzip data (")


def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path: Path) -> None:
    packed = gzip.compress(("<PubmedArticleSet>\n" + pubmed_xml(3000) + "</PubmedArticleSet>\n").encode())
    path = tmp_path / "pubmed25n0001.xml.gz"
    path.write_bytes(packed[: len(packed) // 2])
    items, error = read_until_error(path)
    assert 0 < len(items) < 3000
    assert [item.source for item in items[:2]] == ["pubmed:1", "pubmed:2"]
    assert "truncated or corrupt gzip data" in str(error)


@pytest.mark.parametrize("content", [b"", b"  \n\t\n", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.xml"
    path.write_bytes(content)
    _, error = read_until_error(path)
    assert str(error) == f"{path}: empty file"


def test_empty_gzip(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml.gz"
    path.write_bytes(gzip.compress(b""))
    _, error = read_until_error(path)
    assert str(error) == f"{path}: empty file"


def test_binary_file_with_xml_extension(tmp_path: Path) -> None:
    path = tmp_path / "image.xml"
    path.write_bytes(b"\x89\x00" + os.urandom(4096) + b"\x00")
    _, error = read_until_error(path)
    assert "binary data, not XML" in str(error)


def test_text_that_is_not_xml(tmp_path: Path) -> None:
    path = tmp_path / "notes.nxml"
    path.write_text("PMID- 12345\nTI  - A MEDLINE text record, not XML\n")
    _, error = read_until_error(path)
    assert "not XML (expected '<' at the start" in str(error)


def _bomb(where: str) -> str:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    ]
    body = '<PubmedArticleSet a="&lol9;"/>' if where == "attribute" else "<PubmedArticleSet>&lol9;</PubmedArticleSet>"
    return '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + "\n".join(entities) + "\n]>\n" + body


@pytest.mark.parametrize("where", ["content", "attribute"])
def test_billion_laughs_is_refused_fast_and_small(tmp_path: Path, where: str) -> None:
    path = tmp_path / "lolz.xml"
    path.write_text(_bomb(where))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    items, error = read_until_error(path)
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200 * 1024  # KiB on Linux
    assert items == []
    assert "entity declarations are refused" in str(error)


def test_entities_refused_when_the_gzip_is_disguised(tmp_path: Path) -> None:
    path = tmp_path / "lolz.xml.gz"
    path.write_bytes(gzip.compress(_bomb("content").encode()))
    _, error = read_until_error(path)
    assert "entity declarations are refused" in str(error)


@pytest.mark.parametrize(
    "declaration",
    [
        '<!ENTITY xxe SYSTEM "file://{secret}">',
        '<!ENTITY % xxe SYSTEM "file://{secret}"> %xxe;',
        # past the prolog scan window: the parser's own view of the DTD refuses it
        "<!-- " + "padding " * 40_000 + ' --><!ENTITY xxe SYSTEM "file://{secret}">',
    ],
    ids=["general", "parameter", "late"],
)
def test_external_entity_is_refused_and_nothing_leaks(tmp_path: Path, declaration: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a91")
    path = tmp_path / "xxe.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [ '
        + declaration.format(secret=secret)
        + " ]>\n<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
        "<ArticleTitle>&xxe;</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>\n"
    )
    items, error = read_until_error(path)
    leaked = [item for item in items if isinstance(item, Document) and "TOP-SECRET" in repr(item)]
    assert leaked == [] and items == []
    assert "TOP-SECRET" not in str(error)
    assert "entity declarations are refused" in str(error)


def test_unknown_root_element(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_text('<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>\n')
    _, error = read_until_error(path)
    assert str(error) == (
        f"{path}: unrecognised XML root <rss>; expected PubmedArticleSet, article/pmc-articleset (JATS), "
        "document (HL7 SPL) or Document (MedQuAD)"
    )


def test_spl_root_needs_its_namespace(tmp_path: Path) -> None:
    path = tmp_path / "label.xml"
    path.write_text("<document><title>no HL7 namespace</title></document>")
    _, error = read_until_error(path)
    assert "unrecognised XML root <document>" in str(error)


@needs_fixtures
def test_pubmed_external_doctype_is_accepted_without_fetching() -> None:
    head = PUBMED1.read_text()[:300]
    assert '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle' in head and "https://dtd.nlm.nih.gov" in head
    # tests/conftest.py makes any non-loopback connection fail the test
    assert root_tag(PUBMED1) == "PubmedArticleSet"
    assert [item.source for item in read_path(PUBMED1)] == ["pubmed:12091962", "pubmed:9997"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.xml"
    with pytest.raises(ReaderError, match=r"absent\.xml: cannot read"):
        list(XmlReader().read(path))
