"""The whole update cycle of a named corpus against a local server: fetch a PubMed-style listing, ingest it, then
fetch and ingest a daily update file that revises one citation and deletes another."""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corpora.catalog import REGISTRY_ENV
from kb import KnowledgeBase, Settings
from kb.cli import main
from tests.fakes import FAKE_MODELS

ENTREZ = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pubmed_xml" / "biopython" / "Entrez"
pytestmark = pytest.mark.skipif(not ENTREZ.is_dir(), reason=f"shared PubMed fixtures {ENTREZ} missing")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def www(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "www"
    (root / "pubmed").mkdir(parents=True)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _publish(root: Path, name: str, xml: bytes) -> None:
    data = gzip.compress(xml)
    (root / "pubmed" / name).write_bytes(data)
    (root / "pubmed" / f"{name}.md5").write_text(f"MD5({name})= {hashlib.md5(data).hexdigest()}\n")


def _update_file() -> bytes:
    """Revises PMID 9997 (new title, later DateRevised) and deletes PMID 11748933."""
    text = (ENTREZ / "pubmed1.xml").read_text(encoding="utf-8")
    start = text.index("<PubmedArticle>", text.index('<PMID Version="1">9997<') - 2000)
    article = text[start : text.index("</PubmedArticle>", start) + len("</PubmedArticle>")]
    article = re.sub(
        r"<ArticleTitle>.*?</ArticleTitle>", "<ArticleTitle>Revised zymogen title.</ArticleTitle>", article
    )
    article = re.sub(r"<DateRevised>\s*<Year>\d{4}</Year>", "<DateRevised><Year>2030</Year>", article)
    return (
        '<?xml version="1.0"?>\n<PubmedArticleSet>\n' + article + '\n<DeleteCitation><PMID Version="1">11748933</PMID>'
        "</DeleteCitation>\n</PubmedArticleSet>\n"
    ).encode()


def test_fetch_ingest_update_cycle(
    www: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, url = www
    registry = tmp_path / "registry.toml"
    registry.write_text(
        f'[test-pubmed]\nlisting = "{url}/pubmed/"\npattern = "pubmed30n*.xml.gz"\nsidecar = "md5"\n'
        'reader = "pubmed"\nlicence = "test fixtures"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(REGISTRY_ENV, str(registry))
    _publish(root, "pubmed30n0001.xml.gz", (ENTREZ / "pubmed1.xml").read_bytes())
    _publish(root, "pubmed30n0002.xml.gz", (ENTREZ / "pubmed2.xml").read_bytes())
    dest, kb_dir = tmp_path / "dest", tmp_path / "kb"
    ingest = ["ingest", "--corpus", "test-pubmed", "--dest", str(dest), "--kb", str(kb_dir), "--no-progress"]

    assert main(["corpus", "fetch", "test-pubmed", "--dest", str(dest)]) == 0
    assert main([*ingest, *FAKE_MODELS]) == 0
    assert "documents: 4 added" in capsys.readouterr().out

    _publish(root, "pubmed30n0003.xml.gz", _update_file())
    assert main(["corpus", "fetch", "test-pubmed", "--dest", str(dest)]) == 0
    assert main(ingest) == 0
    out = capsys.readouterr().out
    assert "files: 1 read, 2 unchanged" in out
    assert "1 added (1 replacing older versions)" in out and "1 deleted" in out

    with KnowledgeBase.open(kb_dir, Settings(embedder="hashing", cross_lingual_embedder="hashing")) as kb:
        pmids = {h.metadata.get("pmid") for h in kb.search("the", k=100)}
        assert pmids == {"12091962", "9997", "11700088"}
        [(doc_id, version)] = kb.storage.store.documents.versions_for_source("pubmed:9997").items()
        assert version // 10000 == 2030
        revised = kb.storage.store.documents.get_document(doc_id)
        assert revised is not None and revised.title == "Revised zymogen title."
        assert kb.stats()["documents"] == 3
        assert kb.check() == []
