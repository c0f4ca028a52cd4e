"""The conformance suite every vector backend passes: FAISS, Chroma, and PostgreSQL + pgvector (a real server,
started here on a Unix socket from the ``pgserver`` package).

Each test drives a knowledge base through the facade, as users do, and checks what the backend holds and returns:
add, upsert (a changed document replaces its older version), delete by document, filtered search that returns k
results whenever k chunks pass, count, persistence across reopen, and repair after a missed batch. Search results
are compared with an exact search over the vectors stored in SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.chunking import Chunker
from kb import Document, KnowledgeBase, Settings
from kb.core.batch import Batch, NewDocument
from kb.core.errors import MedkbError
from kb.core.filters import Filters
from kb.core.protocols import VectorBackend
from kb.storage.pgvector_index import PgvectorIndex
from tests.fakes import FAKE_MODELS

BACKENDS = ("faiss", "chroma", "pgvector")
TOPICS = ["metformin", "warfarin", "asthma", "amoxicillin", "statin", "insulin", "heparin", "sepsis"]


@pytest.fixture(scope="module")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield str(server.get_uri())
    server.cleanup()


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest) -> Settings:
    dsn = request.getfixturevalue("pg_dsn") if request.param == "pgvector" else ""
    return Settings(embedder="hashing", cross_lingual_embedder="", vector_store=request.param, dsn=dsn)


def _docs(n: int, *, year: int = 2020, prefix: str = "doc") -> list[Document]:
    return [
        Document(
            text=f"{TOPICS[i % len(TOPICS)]} note {i}: dose {i} mg, trial {prefix} {i}, outcome {i * 7 % 11}.",
            source=f"{prefix}-{i}",
            title=f"{TOPICS[i % len(TOPICS)]} {prefix} {i}",
            metadata={
                "published": str(year + i % 4),
                "group": "even" if i % 2 == 0 else "odd",
                "rare": "yes" if i % 25 == 7 else "no",
            },
        )
        for i in range(n)
    ]


def _exact(kb: KnowledgeBase, query: str, k: int, allowed: np.ndarray | None = None) -> list[int]:
    """The top-k row ids by brute force over the vectors in kb.sqlite."""
    store = kb.storage.store
    ids = store.vectors.rowids() if allowed is None else allowed
    found, vectors = store.vectors.vectors_for(ids.tolist())
    scores = vectors @ kb.embedder.embed_query(query)
    order = np.lexsort((found, -np.round(scores, 5)))[:k]
    return found[order].tolist()


def _dense_ids(kb: KnowledgeBase, query: str, k: int, filters: dict[str, str] | None = None) -> list[int]:
    ids, _ = kb.storage.dense(kb.embedder.embed_query(query), k, Filters.from_mapping(filters))
    return ids.tolist()


def _same_ranking(got: list[int], want: list[int], kb: KnowledgeBase, query: str) -> None:
    """Equal up to ties: the scores at each rank agree."""
    assert len(got) == len(want)
    store = kb.storage.store
    q = kb.embedder.embed_query(query)
    score = {
        int(i): float(v @ q) for i, v in zip(*store.vectors.vectors_for(sorted(set(got) | set(want))), strict=True)
    }
    assert [round(score[i], 4) for i in got] == [round(score[i], 4) for i in want]


def test_it_is_a_vector_backend(tmp_path: Path, settings: Settings) -> None:
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        assert isinstance(kb.storage.index, VectorBackend)
        assert kb.storage.index.name == settings.vector_store
        assert kb.stats()["vector_store"] == settings.vector_store


def test_add_search_and_count(tmp_path: Path, settings: Settings) -> None:
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        report = kb.ingest(_docs(40))
        assert kb.stats()["vectors"] == report.chunks == kb.stats()["chunks"]
        for query in ("warfarin note 9 dose 9 mg", "sepsis outcome", "asthma trial doc 2"):
            got = _dense_ids(kb, query, 10)
            _same_ranking(got, _exact(kb, query, 10), kb, query)
        hit = kb.search(_docs(40)[13].text, k=1, mode="dense")[0]
        assert hit.source == "doc-13"
        assert kb.check() == []


def test_upsert_replaces_the_older_version(tmp_path: Path, settings: Settings) -> None:
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        kb.ingest(_docs(10))
        old = set(kb.storage.store.vectors.rowids().tolist())
        changed = Document(text="heparin overdose is reversed with protamine sulfate.", source="doc-3", title="Heparin")
        report = kb.ingest([changed])
        assert (report.added, report.replaced) == (1, 1)
        assert kb.stats()["vectors"] == kb.stats()["chunks"]
        found = _dense_ids(kb, "heparin overdose protamine", 100)
        gone = old - set(kb.storage.store.vectors.rowids().tolist())
        assert gone and not gone & set(found)
        assert kb.search("heparin overdose protamine", k=1, mode="dense")[0].source == "doc-3"
        assert kb.check() == []


def test_delete_by_document(tmp_path: Path, settings: Settings) -> None:
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        kb.ingest(_docs(12))
        before = kb.stats()["vectors"]
        victims = [h.doc_id for h in kb.search("amoxicillin note", k=20, mode="dense") if "amoxicillin" in h.title]
        assert victims
        removed = kb.delete(victims)
        assert removed > 0
        assert kb.stats()["vectors"] == before - removed == kb.stats()["chunks"]
        assert not {h.doc_id for h in kb.search("amoxicillin note", k=20, mode="dense")} & set(victims)
        assert kb.delete(["no-such-document"]) == 0
        assert kb.check() == []


@pytest.mark.parametrize("exact_limit", [20000, 3])
def test_filtered_search_returns_k_whenever_k_pass(
    tmp_path: Path, settings: Settings, exact_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # exact_limit=3 sends pgvector's filtered searches through its over-fetching HNSW path
    monkeypatch.setattr(PgvectorIndex, "exact_limit", exact_limit)
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        kb.ingest(_docs(200))
        store = kb.storage.store
        filter_sets = (
            {"group": "odd"},
            {"published_from": "2023"},
            {"group": "even", "published_to": "2020"},
            {"rare": "yes"},
        )
        for filters in filter_sets:
            allowed = store.filters.matching_ids(Filters.from_mapping(filters))
            query = "metformin dose outcome"
            got = _dense_ids(kb, query, 10, filters)
            assert len(got) == min(10, allowed.size)
            assert set(got) <= set(allowed.tolist())
            _same_ranking(got, _exact(kb, query, 10, allowed), kb, query)
        assert _dense_ids(kb, "metformin", 5, {"group": "nobody"}) == []


def test_persistence_across_reopen(tmp_path: Path, settings: Settings) -> None:
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        kb.ingest(_docs(25))
        count = kb.stats()["vectors"]
        first = _dense_ids(kb, "insulin trial", 7)
    # session settings that do not name a store (as most callers pass) open the one the knowledge base has
    with KnowledgeBase.open(tmp_path / "kb", Settings(embedder="hashing", cross_lingual_embedder="")) as kb:
        assert kb.storage.index.name == kb.settings.vector_store == settings.vector_store
        assert kb.stats()["vectors"] == count
        assert _dense_ids(kb, "insulin trial", 7) == first
        assert kb.check() == []


def test_a_missed_batch_is_repaired_on_open(tmp_path: Path, settings: Settings) -> None:
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        kb.ingest(_docs(6))
        # a crash after the SQLite commit, before the backend heard of the batch
        extra = _docs(3, prefix="late")
        chunker = Chunker(kb.embedder.count_tokens, 200, 32)
        batch = []
        for doc in extra:
            chunks = chunker.chunk(doc)
            batch.append(NewDocument(doc, chunks, kb.embedder.embed_documents([c.text for c in chunks])))
        kb.storage.store.write_batch(Batch(documents=batch))
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.search(extra[1].text, k=1, mode="dense")[0].source == "late-1"
        assert kb.check() == []
        assert kb.stats()["vectors"] == kb.stats()["chunks"]


def test_reindex_moves_to_another_backend(tmp_path: Path, settings: Settings) -> None:
    start = Settings(embedder="hashing", cross_lingual_embedder="")
    with KnowledgeBase.create(tmp_path / "kb", start) as kb:
        kb.ingest(_docs(15))
        before = _dense_ids(kb, "statin outcome", 5)
        assert kb.reindex(vector_store=settings.vector_store, dsn=settings.dsn or None) == kb.stats()["chunks"]
        _same_ranking(_dense_ids(kb, "statin outcome", 5), before, kb, "statin outcome")
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.storage.index.name == settings.vector_store
        _same_ranking(_dense_ids(kb, "statin outcome", 5), before, kb, "statin outcome")


def test_unknown_store_is_refused() -> None:
    with pytest.raises(MedkbError, match="vector_store='qdrant': expected one of faiss, chroma, pgvector"):
        Settings(vector_store="qdrant")


def test_unreachable_postgres_names_the_server(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    dsn = "postgresql://medkb:secret@/nodb?host=/nonexistent"
    bad = Settings(embedder="hashing", cross_lingual_embedder="", vector_store="pgvector", dsn=dsn)
    with pytest.raises(MedkbError, match="cannot connect to PostgreSQL at postgresql://medkb@/nodb") as err:
        KnowledgeBase.create(tmp_path / "kb", bad)
    assert "secret" not in str(err.value)


def test_cli_store_flags_with_an_embedded_postgres(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pgserver")
    import json

    from kb.cli import main

    kb = tmp_path / "kb"
    args = [
        "ingest",
        str(docs_dir),
        "--kb",
        str(kb),
        *FAKE_MODELS,
        "--store",
        "pgvector",
        "--no-progress",
    ]
    assert main(args) == 0
    assert (kb / "pgdata").is_dir()  # no --dsn: an embedded server in the knowledge base directory
    capsys.readouterr()
    assert main(["stats", "--kb", str(kb), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["vector_store"] == "pgvector" and stats["vectors"] == stats["chunks"] > 0
    assert main(["search", "penicillin allergy", "--kb", str(kb), "--json", "--mode", "dense", "--k", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["title"] == "Amoxicillin allergy"
    assert main(["reindex", "--kb", str(kb), "--store", "chroma", "--no-progress"]) == 0
    assert "rebuilt chroma vector index" in capsys.readouterr().out
    assert main(["search", "penicillin allergy", "--kb", str(kb), "--json", "--mode", "dense", "--k", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["title"] == "Amoxicillin allergy"
    assert main(["check", "--kb", str(kb)]) == 0
