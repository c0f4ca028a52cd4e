"""The retrieval systems compared by ``medkb eval retrieval``, and the knowledge base they search.

Each system retrieves `DEPTH` chunks per query; a document ranks where its best chunk ranks (chunks are deduplicated
by their document's key, ``hit.source``). ``rrf`` is plain reciprocal rank fusion (k=60) of the top-100 dense and
top-100 lexical chunk ids, done here rather than by the knowledge base, so that ``hybrid`` (medkb's fusion as the
settings configure it) can be compared against the textbook method. ``langchain`` is LangChain's EnsembleRetriever
of BM25Retriever + FAISS, equal weights, over the same chunks and stored vectors (see `langchain_baseline`; it needs
the ``eval`` extra).

Two systems need models trained on the evaluated knowledge base's own corpus (``medkb train``; never on the
questions) and are run only when named: ``hybrid+rerank`` is ``hybrid`` with its top ``Settings.rerank_candidates``
re-ordered by a blend of the fused score and the trained cross-encoder's (``Settings.rerank_weight``);
``tuned-dense`` is dense search with the trained embedder, over a second knowledge base built from the same corpus
with that embedder (`tuned_kb`), cached beside the first one under a hash of the model's weights, so a retrained
model is never searched with stale vectors; ``tuned-hybrid`` is ``hybrid`` over that knowledge base (the same fusion
and weights, the trained embedder in place of the bundled one).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from kb.core.manifest import EMBEDDING_TEXT_VERSION
from kb.core.model_registry import file_sha256
from kb.core.settings import Settings
from kb.core.types import Hit
from kb.evaluation.datasets import EvalDataset, EvalError
from kb.evaluation.langchain_baseline import langchain_search
from kb.knowledge_base import KnowledgeBase
from retrieval.fusion import reciprocal_rank_fusion

log = logging.getLogger(__name__)

#: System name -> ``KnowledgeBase.search`` mode (``rrf`` is fused here, ``langchain`` built by LangChain).
SYSTEMS = {
    "bm25": "lexical",
    "dense": "dense",
    "hybrid": "hybrid",
    "rrf": None,
    "langchain": None,
    "hybrid+rerank": None,
    "tuned-dense": "dense",
    "tuned-hybrid": "hybrid",
}
#: Systems that need a model trained on the evaluated knowledge base: system -> model kind (``medkb train KIND``).
TRAINED_SYSTEMS = {"hybrid+rerank": "reranker", "tuned-dense": "embedder", "tuned-hybrid": "embedder"}
#: Systems that search the knowledge base built with the trained embedder (`tuned_kb`).
TUNED_SYSTEMS = ("tuned-dense", "tuned-hybrid")
DEPTH = 100
RRF_K = 60
_BUILT = "built.json"
_BUILDING = "building.json"


def document_ranking(hits: Iterable[Hit]) -> dict[str, float]:
    """``{document key: score}`` in the hits' order, each document once at its best chunk's rank; scores fall by
    one per rank from the number of documents, so any evaluator keeps exactly this order."""
    keys = list(dict.fromkeys(hit.source for hit in hits))
    return {key: float(len(keys) - i) for i, key in enumerate(keys)}


def search(kb: KnowledgeBase, system: str, query: str, depth: int = DEPTH) -> list[Hit]:
    """The top ``depth`` chunks for ``query`` by ``system`` (a name from `SYSTEMS`)."""
    if system not in SYSTEMS:
        raise EvalError(f"unknown system {system!r}; expected one of {', '.join(SYSTEMS)}")
    if not query.strip():
        return []
    mode = SYSTEMS[system]
    if mode is not None:
        return kb.search(query, depth, mode=mode)
    if system == "langchain":
        return langchain_search(kb, query, depth)
    if system == "hybrid+rerank":
        return kb.search(query, depth, mode="hybrid", rerank=True)
    dense_ids, _ = kb.storage.dense(kb.embedder.embed_query(query), depth)
    lexical_ids, _ = kb.storage.lexical(query, depth)
    fused = reciprocal_rank_fusion([dense_ids.tolist(), lexical_ids.tolist()], k=RRF_K)[:depth]
    return kb.storage.store.documents.hits([i for i, _ in fused], [score for _, score in fused], "rrf")


def run_system(
    kb: KnowledgeBase, system: str, queries: Mapping[str, str], depth: int = DEPTH
) -> tuple[dict[str, dict[str, float]], float]:
    """A run ``{query id: {document key: score}}`` of ``system`` over ``queries``, and the seconds it took (after
    one untimed query, so that loading the model or the indexes is not charged to the first system run)."""
    for text in list(queries.values())[:1]:
        search(kb, system, text, depth)
    run = {}
    started = time.perf_counter()
    for qid, text in queries.items():
        run[qid] = document_ranking(search(kb, system, text, depth))
    return run, time.perf_counter() - started


def default_kb_dir(
    cache: Path, dataset: str, embedder: str, limit: int | None, corpus_limit: int | None, fingerprint: str = ""
) -> Path:
    """``<cache>/eval/<dataset>[-<fingerprint>]/<embedder>/<full | q<limit>-c<corpus_limit>>``: one knowledge base
    per corpus. Give the corpus's ``fingerprint`` where the name does not fix the content (a BEIR ``--data``
    directory): two directories then never share a knowledge base."""
    corpus = "full" if corpus_limit is None else f"q{limit if limit is not None else 'all'}-c{corpus_limit}"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder).strip("_")[-80:] or "embedder"
    name = f"{dataset}-{fingerprint[:12]}" if fingerprint else dataset
    return cache / "eval" / name / slug / corpus


def open_kb(dataset: EvalDataset, directory: Path, settings: Settings, corpus_limit: int | None) -> KnowledgeBase:
    """The knowledge base of ``dataset``'s corpus (restricted by ``corpus_limit``, see `EvalDataset.keep`) in
    ``directory/kb``, built through the normal ingestion path unless ``directory/built.json`` says it already was,
    from the same corpus content (its fingerprint); one built from other documents is built again."""
    keep = dataset.keep(corpus_limit)
    expected: dict[str, Any] = {
        "dataset": dataset.name,
        "corpus": dataset.corpus.fingerprint(),
        "embedder": settings.embedder,
        "corpus_limit": corpus_limit,
        "documents": None if keep is None else len(keep),
        "embedding_text": EMBEDDING_TEXT_VERSION,
    }
    if keep is not None:
        expected["queries"] = sorted(dataset.qrels)
    marker = directory / _BUILT
    built = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None
    if built is not None and built != expected:
        other = "from other documents" if built.get("corpus") != expected["corpus"] else "otherwise"
        log.warning("%s was built %s (%s); building it again", directory / "kb", other, json.dumps(built)[:300])
        shutil.rmtree(directory / "kb", ignore_errors=True)
        marker.unlink()
    building = directory / _BUILDING
    started = json.loads(building.read_text(encoding="utf-8")) if building.exists() else None
    if built is None and (directory / "kb").exists() and started != expected:
        log.warning("%s: an unfinished build of other documents or settings; building it again", directory / "kb")
        shutil.rmtree(directory / "kb", ignore_errors=True)
    kb = KnowledgeBase.open_or_create(directory / "kb", settings)
    try:
        if built == expected:  # read above; one built otherwise was deleted there
            log.info("reusing %s", directory / "kb")
            if kb.cross_embedder is not None and kb.storage.store.xvectors.count_missing():
                log.info("adding cross-lingual vectors to %s", directory / "kb")
                kb.backfill_cross_lingual()
            return kb
        log.info("building %s from %s", directory / "kb", dataset.name)
        building.write_text(json.dumps(expected), encoding="utf-8")  # an interrupted build resumes only as this one
        items = dataset.corpus.items(keep, directory)
        report = kb.ingest(items, reader=dataset.corpus.reader)
        if report.failures:
            log.warning("%d records failed to ingest, e.g. %s", len(report.failures), report.failures[0])
        marker.write_text(json.dumps(expected), encoding="utf-8")
        building.unlink(missing_ok=True)
        return kb
    except BaseException:
        kb.close()
        raise


def require_trained(kb: KnowledgeBase, systems: Iterable[str]) -> None:
    """Raise EvalError naming the ``medkb train`` command for each system in ``systems`` whose model the knowledge
    base lacks."""
    missing = [
        f"{system} needs `medkb train {kind} --kb {kb.directory}`"
        for system in systems
        if (kind := TRAINED_SYSTEMS.get(system)) and kb.manifest.trained_path(kb.directory, kind) is None
    ]
    if missing:
        raise EvalError("no trained model for " + "; ".join(missing) + " (it trains on the corpus, not the questions)")


def tuned_kb(kb: KnowledgeBase, dataset: EvalDataset, directory: Path, corpus_limit: int | None) -> KnowledgeBase:
    """The knowledge base of the same corpus embedded by ``kb``'s trained embedder, in
    ``directory/tuned-<weights hash>/kb`` (built once, through the normal ingestion path)."""
    path = kb.manifest.trained_path(kb.directory, "embedder")
    if path is None:
        require_trained(kb, ["tuned-dense"])
    assert path is not None
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise EvalError(f"{path}: no model.safetensors; train it again with `medkb train embedder --kb {kb.directory}`")
    tag = file_sha256(weights)[:12]
    settings = replace(kb.settings, embedder=str(path.resolve()), cross_lingual_embedder="")
    return open_kb(dataset, directory / f"tuned-{tag}", settings, corpus_limit)
