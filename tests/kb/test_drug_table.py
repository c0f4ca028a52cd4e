"""The drug table on the real DailyMed fixtures: rows, spans, replacement, deletion and the schema 4 -> 5 upgrade."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.readers.spl import SplReader
from kb import Document, KnowledgeBase, Settings
from kb.core.drugs import DrugLabel, drug_label_from_document
from kb.storage.store import SCHEMA_VERSION
from tests.shared_data import SHARED_DATA

SPL = SHARED_DATA / "fda_drug_labels" / "spl"
FAST = Settings(embedder="hashing", cross_lingual_embedder="")

pytestmark = pytest.mark.skipif(
    not SPL.is_dir(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)


def _kb(path: Path) -> KnowledgeBase:
    return KnowledgeBase.create(path, FAST)


def _copy(names: list[str], folder: Path) -> Path:
    folder.mkdir()
    for name in names:
        shutil.copy(SPL / name, folder / name)
    return folder


def _assert_spans_exact(kb: KnowledgeBase, label: DrugLabel) -> None:
    doc = kb.storage.store.documents.get_document(label.doc_id)
    assert doc is not None and doc.source == label.source and doc.title == label.title
    for name, section in label.sections.items():
        assert section.name == name and section.text
        assert doc.text[section.start : section.end] == section.text


@pytest.fixture(scope="module")
def labels_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    kb = _kb(tmp_path_factory.mktemp("drugs") / "kb")
    kb.ingest([SPL])
    kb.ingest([Document(text="Metformin lowers glucose.", source="mem#1", title="Metformin")])
    yield kb
    kb.close()


def test_every_label_gets_a_row_found_by_any_of_its_names(labels_kb: KnowledgeBase) -> None:
    store = labels_kb.storage.store
    names = store.drugs.drug_names()
    assert {"lipitor", "atorvastatin", "atorvastatin calcium trihydrate", "humira", "adalimumab"} <= names
    assert {"viagra", "sildenafil", "sildenafil citrate", "haloperidol", "diphenhydramine"} <= names
    assert "metformin" not in names and "methoxsalen" not in names  # not a label; an indexing SPL (no text)
    assert names == {n.lower() for n in names}
    lipitor = store.drugs.drug_labels_for(["LIPITOR"])
    assert len(lipitor) == 2  # the original and the repackaged label
    assert {label.doc_id for label in store.drugs.drug_labels_for(["Atorvastatin Calcium", "lipitor"])} == {
        label.doc_id for label in lipitor
    }
    assert store.drugs.drug_labels_for(["metformin", "nothing"]) == []
    every = store.drugs.drug_labels_for(names)
    assert len(every) == 6
    for label in every:
        _assert_spans_exact(labels_kb, label)


def test_a_row_holds_names_ingredients_and_the_safety_sections(labels_kb: KnowledgeBase) -> None:
    store = labels_kb.storage.store
    [humira] = store.drugs.drug_labels_for(["humira"])
    assert humira.source == "dailymed:608d4f0d-b19f-46d3-749a-7159aa5f933d"
    assert [n.lower() for n in humira.names] == ["humira", "adalimumab"]
    assert [i.lower() for i in humira.ingredients] == ["adalimumab"]
    assert humira.classes == ()  # the fixtures carry no pharmacologic class; see the synthetic label below
    assert humira.sections["Boxed Warning"].text.startswith("WARNING: SERIOUS INFECTIONS AND MALIGNANCY\n")
    assert humira.sections["Contraindications"].text == "4 CONTRAINDICATIONS\nNone."
    orig = next(label for label in store.drugs.drug_labels_for(["lipitor"]) if "c6e131fe" in label.source)
    assert orig.ingredients == ("ATORVASTATIN CALCIUM TRIHYDRATE", "ATORVASTATIN")
    interactions = orig.sections["Drug Interactions"]
    assert interactions.text.startswith("7 DRUG INTERACTIONS\n")
    assert "7.3 Cyclosporine" in interactions.text and "7.4 Gemfibrozil" in interactions.text
    assert orig.sections["Contraindications"].text.startswith("4 CONTRAINDICATIONS\n")
    [haloperidol] = store.drugs.drug_labels_for(["haloperidol"])
    assert "Drug Interactions" not in haloperidol.sections  # an old-format label: interactions sit in Precautions
    assert {"Boxed Warning", "Contraindications", "Warnings"} <= set(haloperidol.sections)


def test_a_label_that_carries_pharmacologic_classes(tmp_path: Path) -> None:
    path = tmp_path / "amox.xml"
    path.write_text(
        '<document xmlns="urn:hl7-org:v3"><id root="doc-2"/><code code="34391-3" displayName="HUMAN PRESCRIPTION'
        ' DRUG LABEL"/><title>AMOXIL (amoxicillin) capsules</title><effectiveTime value="20240102"/>'
        '<setId root="set-amox"/><versionNumber value="2"/><component><structuredBody>'
        "<component><section><subject><manufacturedProduct><manufacturedProduct><name>Amoxil</name>"
        "<asEntityWithGeneric><genericMedicine><name>amoxicillin</name></genericMedicine></asEntityWithGeneric>"
        '<ingredient classCode="ACTIM"><ingredientSubstance><name>AMOXICILLIN TRIHYDRATE</name><activeMoiety>'
        "<activeMoiety><name>AMOXICILLIN</name></activeMoiety></activeMoiety></ingredientSubstance></ingredient>"
        '<asSpecializedKind><generalizedMaterialKind><code code="N0000175497" codeSystem="2.16.840.1.113883.6.345"'
        ' displayName="Penicillin-class Antibacterial [EPC]"/></generalizedMaterialKind></asSpecializedKind>'
        '<asSpecializedKind><generalizedMaterialKind><code code="N0000175497" codeSystem="2.16.840.1.113883.6.345"'
        ' displayName="Penicillin-class Antibacterial [EPC]"/></generalizedMaterialKind></asSpecializedKind>'
        '<asSpecializedKind><generalizedMaterialKind><code code="N0000007918" displayName="Penicillins'
        ' [CS]"/></generalizedMaterialKind></asSpecializedKind>'
        "</manufacturedProduct></manufacturedProduct></subject></section></component>"
        '<component><section><code code="34070-3"/><title>4 CONTRAINDICATIONS</title><text><paragraph>History of'
        " a serious hypersensitivity reaction to amoxicillin or to other beta-lactams.</paragraph></text>"
        "</section></component></structuredBody></component></document>",
        encoding="utf-8",
    )
    [doc] = list(SplReader().read(path))
    assert isinstance(doc, Document)
    meta = doc.metadata
    assert meta["pharmacologic_classes"] == ["Penicillin-class Antibacterial"]
    assert (meta["generic_names"], meta["active_moieties"]) == (["amoxicillin"], ["AMOXICILLIN"])
    label = drug_label_from_document(doc)
    assert label is not None and label.classes == ("Penicillin-class Antibacterial",)
    assert {"amoxil", "amoxicillin", "amoxicillin trihydrate"} <= label.lookup_names()
    assert drug_label_from_document(Document(text="x", source="notes.md", metadata=meta))  # by source_name
    assert drug_label_from_document(Document(text="x", source="notes.md")) is None
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([path])
        [stored] = kb.storage.store.drugs.drug_labels_for(["amoxicillin"])
        assert stored == label
        _assert_spans_exact(kb, stored)


def test_a_new_label_version_replaces_the_row(tmp_path: Path) -> None:
    folder = _copy(["lipitor-repack.xml"], tmp_path / "labels")
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([folder])
        [old] = kb.storage.store.drugs.drug_labels_for(["lipitor"])
        xml = (folder / "lipitor-repack.xml").read_text(encoding="utf-8")
        xml = xml.replace('<versionNumber value="8"/>', '<versionNumber value="9"/>')
        xml = xml.replace("monitored appropriately", "monitored closely")
        (folder / "lipitor-repack.xml").write_text(xml, encoding="utf-8")
        report = kb.ingest([folder])
        assert report.replaced == 1
        [new] = kb.storage.store.drugs.drug_labels_for(["lipitor"])
        assert new.doc_id != old.doc_id and new.source == old.source
        assert "monitored closely" in new.sections["Drug Interactions"].text
        _assert_spans_exact(kb, new)
        assert _rows(tmp_path / "kb") == (1, len(new.lookup_names()))


def test_deleting_a_label_deletes_its_row(tmp_path: Path) -> None:
    folder = _copy(["lipitor-repack.xml", "humira.xml"], tmp_path / "labels")
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([folder])
        assert len(kb.storage.store.drugs.drug_labels_for(["lipitor", "humira"])) == 2
        (folder / "humira.xml").unlink()
        assert kb.ingest([folder], sync=True).deleted == 1
        assert kb.storage.store.drugs.drug_labels_for(["humira", "adalimumab"]) == []
        assert "humira" not in kb.storage.store.drugs.drug_names()
        [lipitor] = kb.storage.store.drugs.drug_labels_for(["lipitor"])
        assert _rows(tmp_path / "kb") == (1, len(lipitor.lookup_names()))


def test_a_schema_4_knowledge_base_is_upgraded_and_backfilled(tmp_path: Path) -> None:
    folder = _copy(["lipitor-orig.xml", "no-title.xml"], tmp_path / "labels")
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([folder])
        before = kb.storage.store.drugs.drug_labels_for(["lipitor", "haloperidol"])
        names = kb.storage.store.drugs.drug_names()
    db = sqlite3.connect(tmp_path / "kb" / "kb.sqlite")
    db.executescript(
        "DROP TABLE drug_names; DROP TABLE drug_labels; UPDATE meta SET value = '4' WHERE key = 'schema_version';"
    )
    db.close()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        store = kb.storage.store
        assert store.schema_version() == SCHEMA_VERSION
        assert store.drugs.drug_labels_for(["lipitor", "haloperidol"]) == before
        assert store.drugs.drug_names() == names
        assert kb.check() == []


def _rows(kb_dir: Path) -> tuple[int, int]:
    """(drug rows, drug names) in the knowledge base's SQLite file."""
    db = sqlite3.connect(kb_dir / "kb.sqlite")
    try:
        return db.execute("SELECT (SELECT count(*) FROM drug_labels), (SELECT count(*) FROM drug_names)").fetchone()
    finally:
        db.close()
