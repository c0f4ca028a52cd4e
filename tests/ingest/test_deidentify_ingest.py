"""`ingest --deidentify`: patient identifiers never reach kb.sqlite or the vector index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase, Settings
from kb.cli import main
from tests.fakes import FAKE_MODELS

NOTE = """Discharge summary

Patient: Margaret Kowalczyk   MRN: 00482913   DOB: 03/14/1931 (age 93)
Address: 1412 Birchwood Avenue, Springfield, IL 62704. Phone (217) 555-0143, fax (217) 555-0199.
E-mail: m.kowalczyk@example.org. Portal: https://portal.example-hospital.org/patients/48213
Device: pacemaker serial SN-88413-XQ. Workstation IP 10.20.30.40.

Mrs. Kowalczyk was admitted on 02/11/2024 with community-acquired pneumonia. She was treated with
amoxicillin 1 g three times daily and improved. Warfarin 5 mg was held and restarted on discharge.
Follow up with Dr. Adebayo Okonkwo in two weeks.
"""

IDENTIFIERS = [
    "Kowalczyk",
    "Margaret",
    "00482913",
    "03/14/1931",
    "1412 Birchwood",
    "62704",
    "555-0143",
    "555-0199",
    "m.kowalczyk@example.org",
    "portal.example-hospital.org",
    "SN-88413-XQ",
    "10.20.30.40",
    "02/11/2024",
    "Okonkwo",
]


def _kb_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    d = tmp_path / "notes"
    d.mkdir()
    (d / "note-001.txt").write_text(NOTE, encoding="utf-8")
    return d


def test_identifiers_never_reach_sqlite_or_the_index(tmp_path: Path, notes: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", Settings(embedder="hashing", cross_lingual_embedder="hashing")) as kb:
        report = kb.ingest([notes], deidentify=True)
        assert report.added == 1
        [hit] = kb.search("pneumonia amoxicillin", k=1)
        doc = kb.storage.store.documents.get_document(hit.doc_id)
        assert doc is not None and doc.metadata["deidentified"] is True
        assert "[NAME]" in doc.text and "[MRN]" in doc.text and "[DATE]" in doc.text
        assert "amoxicillin 1 g" in doc.text and "Warfarin 5 mg" in doc.text  # clinical content kept
        # the stored vectors are those of the redacted text, not of the original
        rows = kb.storage.store._db.execute("SELECT rowid, text FROM chunks ORDER BY rowid").fetchall()
        ids, stored = kb.storage.store.vectors.vectors_for([r[0] for r in rows])
        texts = [t if t.startswith(doc.title) else f"{doc.title}\n{t}" for _, t in rows]
        assert np.allclose(stored, kb.embedder.embed_documents(texts), atol=1e-6)
    raw = _kb_bytes(tmp_path / "kb")
    leaked = [s for s in IDENTIFIERS if s.encode() in raw]
    assert leaked == []


def test_without_the_flag_identifiers_are_stored(tmp_path: Path, notes: Path) -> None:
    """The control: the scan above does find identifiers when de-identification is off."""
    with KnowledgeBase.create(tmp_path / "kb", Settings(embedder="hashing", cross_lingual_embedder="hashing")) as kb:
        kb.ingest([notes])
    raw = _kb_bytes(tmp_path / "kb")
    assert all(s.encode() in raw for s in ("Kowalczyk", "00482913", "10.20.30.40"))


def test_cli_flag(tmp_path: Path, notes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = tmp_path / "kb"
    code = main(
        [
            "ingest",
            str(notes),
            "--kb",
            str(kb),
            *FAKE_MODELS,
            "--deidentify",
            "--no-progress",
        ]
    )
    assert code == 0
    assert "1 added" in capsys.readouterr().out
    raw = _kb_bytes(kb)
    assert [s for s in IDENTIFIERS if s.encode() in raw] == []


def test_reingesting_with_the_flag_replaces_what_was_stored_raw(tmp_path: Path, notes: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", Settings(embedder="hashing", cross_lingual_embedder="hashing")) as kb:
        kb.ingest([notes])
        report = kb.ingest([notes], deidentify=True)
        assert (report.files_read, report.replaced) == (1, 1)
        assert kb.stats()["documents"] == 1
        assert kb.check() == []
    raw = _kb_bytes(tmp_path / "kb")
    assert [s for s in IDENTIFIERS if s.encode() in raw] == []
