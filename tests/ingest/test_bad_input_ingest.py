"""Every kind of bad input in one directory, next to good files, through `medkb ingest`: each is one failure line
naming the file and the problem, everything else is ingested, and nothing stored before is lost."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import pytest

from kb import KnowledgeBase, Settings
from kb.cli import main
from tests.fakes import ingest_with_fakes

ROOT = Path(__file__).resolve().parents[2]
PUBMED = ROOT.parent / "shared" / "data" / "pubmed_xml" / "biopython" / "Entrez" / "pubmed2.xml"
BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [\n<!ENTITY a "aaaaaaaaaa">\n'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(8))
    + "]>\n<PubmedArticleSet>&i;</PubmedArticleSet>\n"
)
pytestmark = pytest.mark.skipif(not PUBMED.is_file(), reason=f"shared PubMed fixture {PUBMED} missing")


def _bad_inputs(d: Path, secret: Path) -> dict[str, str]:
    """Write the bad files; returns {file name: a word its failure message must contain}."""
    (d / "malformed.xml").write_text("<PubmedArticleSet><PubmedArticle><MedlineCitation>", encoding="utf-8")
    (d / "truncated.xml.gz").write_bytes(gzip.compress(PUBMED.read_bytes())[:400])
    (d / "latin1.txt").write_bytes("Patient mit \xfcbler Diagnose: \xe9\xe8\xff".encode("latin-1") + b"\xff\xfe")
    (d / "empty.md").write_bytes(b"")
    (d / "binary.txt").write_bytes(os.urandom(256) + b"\x00" * 64)
    with (d / "huge-line.jsonl").open("wb") as handle:  # a 1 GiB line, sparse on disk
        handle.write(b'{"text": "' + b"x" * 70_000)
        handle.truncate(2**30)
        handle.seek(2**30)
        handle.write(b'"}\n{"text": "the line after the huge one is kept."}\n')
    (d / "bomb.xml").write_text(BOMB, encoding="utf-8")
    (d / "xxe.xml").write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>\n<PubmedArticleSet>&x;'
        "</PubmedArticleSet>\n",
        encoding="utf-8",
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.txt", "escaped the archive")
        archive.writestr("good-member.txt", "Member note\n\nthe member about gout flares is read.")
    (d / "escape.zip").write_bytes(buffer.getvalue())
    return {
        "malformed.xml": "malformed",
        "truncated.xml.gz": "gzip",
        "latin1.txt": "GB18030",
        "empty.md": "empty",
        "binary.txt": "binary",
        "huge-line.jsonl": "longer than",
        "bomb.xml": "entit",
        "xxe.xml": "entit",
        "escape.zip": "evil.txt",
    }


def test_bad_inputs_fail_one_by_one_and_nothing_else_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb_dir = tmp_path / "kb"
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "stored.md").write_text("# Stored before\n\nthe earlier note on metformin and eGFR.\n")
    assert ingest_with_fakes(kb_dir, earlier) == 0

    d = tmp_path / "incoming"
    d.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-4471")
    expected = _bad_inputs(d, secret)
    (d / "good.md").write_text("# Good\n\nthe good note on asthma inhalers.\n")
    (d / "pubmed.xml").write_bytes(PUBMED.read_bytes())
    capsys.readouterr()

    code = main(["ingest", str(d), "--kb", str(kb_dir), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1
    failures = [line for line in err.splitlines() if line.startswith("failed: ")]
    for name, word in expected.items():
        lines = [line for line in failures if name in line]
        assert lines, f"no failure line names {name}: {failures}"
        assert any(word.lower() in line.lower() for line in lines), lines
    assert "TOPSECRET" not in out + err
    assert not (tmp_path / "evil.txt").exists() and not (d.parent / "evil.txt").exists()

    with KnowledgeBase.open(kb_dir, Settings(embedder="hashing", cross_lingual_embedder="hashing")) as kb:
        texts = " ".join(h.text for h in kb.search("the note", k=200))
        for kept in ("earlier note on metformin", "good note on asthma", "member about gout", "line after the huge"):
            assert kept in texts
        assert any(h.metadata.get("pmid") for h in kb.search("the", k=200))  # the PubMed records went in
        assert "TOPSECRET" not in texts
        assert {Path(s.split("#")[0].split("!")[0]).name for s, _ in kb.failures()} >= set(expected)
        assert kb.check() == []
