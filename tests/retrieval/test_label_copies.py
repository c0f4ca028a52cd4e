"""One hit per product text: a repackaged label's copy of a passage folds into the first hit's ``copies``."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import KnowledgeBase, Settings
from kb.core.types import Citation, Hit
from retrieval.label_copies import collapse_copies
from tests.shared_data import NEEDS_DATA, SHARED_DATA

LIPITORS = [SHARED_DATA / "fda_drug_labels" / "spl" / name for name in ("lipitor-orig.xml", "lipitor-repack.xml")]
TEXT = "LIPITOR is contraindicated in women who are pregnant or may become pregnant."


def _label_hit(doc: str, text: str = TEXT, section: str = "Contraindications", moiety: str = "ATORVASTATIN") -> Hit:
    metadata = {"source_name": "DailyMed", "active_moieties": [moiety]}
    return Hit(f"c-{doc}", doc, text, 1.0, f"{doc} label", section, source=f"dailymed:{doc}", metadata=metadata)


def test_copies_of_one_label_text_become_one_hit_that_lists_them() -> None:
    hits = [
        _label_hit("orig"),
        _label_hit("repack", TEXT.replace("LIPITOR", "Lipitor")),
        _label_hit("other-section", section="Warnings and Precautions"),
        _label_hit("other-drug", moiety="SIMVASTATIN"),
        _label_hit("other-text", "LIPITOR may cause myopathy and rhabdomyolysis in rare cases."),
        Hit("c-paper", "paper", TEXT, 0.5, "A paper", "Contraindications", source="pubmed:1"),
    ]
    kept = collapse_copies(hits)
    assert [h.doc_id for h in kept] == ["orig", "other-section", "other-drug", "other-text", "paper"]
    assert kept[0].copies == [{"doc_id": "repack", "title": "repack label", "source": "dailymed:repack"}]
    assert Citation.from_hit(1, kept[0]).to_dict()["copies"] == kept[0].copies
    assert "copies" not in Citation.from_hit(2, kept[1]).to_dict()


@pytest.mark.skipif(not all(p.is_file() for p in LIPITORS), reason=NEEDS_DATA)
def test_the_original_and_the_repackaged_lipitor_are_cited_once(tmp_path: Path) -> None:
    settings = Settings(embedder="hashing", cross_lingual_embedder="")
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        kb.ingest(LIPITORS)
        hits = kb.search("LIPITOR contraindications pregnancy", k=6, mode="lexical")
        contraindications = [h for h in hits if h.section == "Contraindications"]
        assert len(contraindications) == 1 and len(contraindications[0].copies) == 1
        assert {contraindications[0].doc_id, contraindications[0].copies[0]["doc_id"]} == {
            doc.doc_id for doc in kb.storage.store.drugs.drug_labels_for(["lipitor"])
        }
