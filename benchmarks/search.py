"""Search latency (k=10) on a knowledge base of over 100,000 chunks: hybrid, dense and lexical, and hybrid with
filters of every selectivity; target: hybrid p95 under 100 ms on 2 cores.

    python benchmarks/search.py [--kb-dir benchmarks/results/search-kb] [--queries 300 200] [--build-only]
                                [--index flat|hnsw]

The knowledge base holds real text only, ingested through the normal path (``KnowledgeBase.ingest_corpus`` for
the MedQuAD, SciFact and PubMedQA corpora of ``$MEDKB_DATA_DIR``, ``KnowledgeBase.ingest`` for the BioASQ gold
snippets as the evaluation harness reads them), embedded with the default MiniLM embedder. At the default chunk size
(200 tokens) that text makes about 80,000 chunks, so this knowledge base is chunked at 96 tokens with 16 of overlap
(about 112,000 chunks). It is built on first use in ``benchmarks/results/search-kb/kb`` (not committed; 20-40
minutes on 2 cores) and reused while ``built.json`` beside it matches what this script would build.

Queries are the first 300 MedQuAD DEV questions and the first 200 SciFact DEV claims. After a warm-up, every query
is timed (wall clock, one at a time) through ``kb.search(query, 10, filters, mode=...)``. A component breakdown
of hybrid search (embedding, filter ids, dense, lexical, fusion and hit rows) and a look at the slowest lexical
queries say where the time goes. Writes ``benchmarks/results/search.json``, or ``search-hnsw.json`` for an HNSW
index (``--index hnsw`` re-indexes the knowledge base first; ``--index flat`` goes back).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kb.core.offline import use_offline_environment

use_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MEDKB_DATA_DIR", "MEDKB_DATA_DIR-not-set"))  # the evaluation data sets
RESULTS = ROOT / "benchmarks" / "results"

CHUNK_TOKENS = 96
CHUNK_OVERLAP = 16
CORPORA = ("medquad", "scifact", "pubmedqa")  # named in corpora/registry.toml; BioASQ snippets come on top
K = 10
TARGET_MS = 100.0

#: Filters from broad to very selective; the share of chunks each matches is measured and reported.
FILTERS: dict[str, dict[str, str]] = {
    "source prefix medquad: (MedQuAD, about half)": {"source": "medquad:"},
    "metadata source_name=GHR (minority)": {"source_name": "GHR"},
    "published 2010-2014 (PubMedQA years)": {"published_from": "2010", "published_to": "2014"},
    "metadata source_name=CDC (selective)": {"source_name": "CDC"},
    "published 2017 (very selective)": {"published_from": "2017", "published_to": "2017"},
}

log = logging.getLogger("benchmarks.search")


def _passes(filters: dict[str, str]) -> Callable[[Any], bool]:
    """Whether a hit's document passes ``filters``, judged from the hit alone (to check what search returns)."""

    def check(hit: Any) -> bool:
        meta = hit.metadata
        for key, value in filters.items():
            if key == "source":
                if not (meta.get("source") == value or str(hit.source).startswith(value)):
                    return False
            elif key in ("published_from", "published_to"):
                year = str(meta.get("published", ""))[: len(value)]
                if not year or (year < value if key == "published_from" else year > value):
                    return False
            elif str(meta.get(key)) != value:
                return False
        return True

    return check


def _queries(medquad: int, scifact: int) -> list[str]:
    with (DATA / "medquad" / "dev.jsonl").open(encoding="utf-8") as lines:
        out = [json.loads(line)["question"] for line in lines][:medquad]
    with (DATA / "scifact" / "claims_dev.jsonl").open(encoding="utf-8") as lines:
        out += [json.loads(line)["claim"] for line in lines][:scifact]
    return out


def _expected() -> dict[str, Any]:
    """What a reusable knowledge base was built from: settings and the size of every input file."""
    from corpora.catalog import get_corpus

    files = [get_corpus(name).resolve_path() for name in CORPORA]
    files += sorted((DATA / "bioasq").glob("Task*BGoldenEnriched/*.json"))
    settings = _settings()
    return {
        "corpora": [*CORPORA, "bioasq snippets"],
        "embedder": settings.embedder,
        "chunk_tokens": CHUNK_TOKENS,
        "chunk_overlap": CHUNK_OVERLAP,
        "cross_lingual_embedder": settings.cross_lingual_embedder,
        "index_hash": settings.index_hash(),
        "files": {str(f.relative_to(DATA)): f.stat().st_size for f in files},
    }


def _settings() -> Any:
    """The default settings but for the chunk size, and without the cross-lingual index: it serves Chinese
    questions only (English questions over English chunks never touch it) and would embed every chunk a second
    time with a far larger encoder."""
    from kb import Settings

    return Settings(chunk_tokens=CHUNK_TOKENS, chunk_overlap=CHUNK_OVERLAP, cross_lingual_embedder="")


def open_kb(directory: Path) -> tuple[Any, dict[str, Any]]:
    """The benchmark's knowledge base in ``directory/kb``, built (or completed: ingestion resumes) unless
    ``directory/built.json`` says it already was; returns it with the build record."""
    from kb import KnowledgeBase
    from kb.evaluation.datasets import load_dataset

    expected, settings = _expected(), _settings()
    marker = directory / "built.json"
    if marker.exists():
        built = json.loads(marker.read_text(encoding="utf-8"))
        if built.get("expected") == expected:
            log.info("reusing %s", directory / "kb")
            return KnowledgeBase.open(directory / "kb", settings), built["build"]
    kb = KnowledgeBase.open_or_create(directory / "kb", settings)
    try:
        before = kb.stats()["chunks"]
        started = time.perf_counter()
        reports = {}
        for name in CORPORA:
            log.info("ingesting %s", name)
            reports[name] = kb.ingest_corpus(name).summary()
        log.info("ingesting BioASQ snippets")
        reports["bioasq"] = kb.ingest(load_dataset("bioasq").corpus.documents).summary()
        build = {
            "seconds": time.perf_counter() - started,
            "resumed_with_chunks": before,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "cpus": os.cpu_count(),
            "reports": reports,
        }
        marker.write_text(json.dumps({"expected": expected, "build": build}, indent=2) + "\n", encoding="utf-8")
        return kb, build
    except BaseException:
        kb.close()
        raise


def _summary(times: list[float]) -> dict[str, float]:
    import numpy as np

    ms = np.asarray(times) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
    }


def time_search(
    kb: Any, queries: list[str], mode: str, filters: dict[str, str] | None, *, cold: bool = False
) -> dict[str, Any]:
    """Per-query wall time of ``kb.search``; how often fewer than ``K`` hits came back and how many hits broke the
    filter. ``cold``: the store's cache of filter results is cleared before every query (a filter seen for the
    first time); otherwise the same filter repeats, as in a session that keeps its filters."""
    check = _passes(filters) if filters else None
    for query in queries[:20]:
        kb.search(query, K, filters, mode=mode)
    times, short, broken = [], 0, 0
    for query in queries:
        if cold:
            kb.storage.store.filters.clear_cache()
        started = time.perf_counter()
        hits = kb.search(query, K, filters, mode=mode)
        times.append(time.perf_counter() - started)
        short += len(hits) < K
        broken += sum(not check(h) for h in hits) if check else 0
    return _summary(times) | {"fewer_than_k": short, "hits_outside_filter": broken}


#: The calls hybrid search makes that may cost time, by (owner, method) and the name they are reported under.
_STEPS = (
    ("embedder", "embed_query", "embed_query"),
    ("store", "matching_ids", "filter_ids_sql"),
    ("index", "search", "dense_faiss"),
    ("store", "lexical_search", "lexical_fts5_sql"),
    ("store", "vectors_for", "candidate_vectors"),
    ("store", "hits", "hit_rows"),
)


@contextmanager
def _timed_steps(kb: Any) -> Iterator[dict[str, float]]:
    """While open, the seconds spent in each of `_STEPS` (reset by the caller), measured by wrapping the methods
    of these objects only (instance attributes, removed on exit)."""
    owners = {"embedder": kb.embedder, "store": kb.storage.store, "index": kb.storage.index}
    spent: dict[str, float] = {}

    def wrap(method: Callable[..., Any], name: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return timed

    for owner, attr, name in _STEPS:
        setattr(owners[owner], attr, wrap(getattr(owners[owner], attr), name))
    try:
        yield spent
    finally:
        for owner, attr, _ in _STEPS:
            delattr(owners[owner], attr)


def breakdown(kb: Any, queries: list[str], filters: dict[str, str] | None) -> dict[str, Any]:
    """Where hybrid search spends its time: per query, the time inside each of `_STEPS` and the rest (query
    parsing, fusion, Python), through the real ``kb.search``."""
    for query in queries[:20]:
        kb.search(query, K, filters, mode="hybrid")
    steps: dict[str, list[float]] = {name: [] for *_, name in _STEPS} | {"rest": [], "total": []}
    with _timed_steps(kb) as spent:
        for query in queries:
            spent.clear()
            started = time.perf_counter()
            kb.search(query, K, filters, mode="hybrid")
            total = time.perf_counter() - started
            for *_, name in _STEPS:
                steps[name].append(spent.get(name, 0.0))
            steps["rest"].append(total - sum(spent.values()))
            steps["total"].append(total)
    mean_total = sum(steps["total"])
    return {name: _summary(t) | {"share_of_time": sum(t) / mean_total} for name, t in steps.items()}


def lexical_anatomy(db_path: Path, queries: list[str], slowest: int = 5) -> dict[str, Any]:
    """Where lexical search spends its time: the shipped SQL (FTS5 ``MATCH``, joined to chunks and documents for
    the filter, sorted by ``bm25()``) against the same FTS5 query without the joins, and ordered by FTS5's own
    ``rank`` (bm25 by default), on a read-only connection; and, for the slowest queries, their terms and matches."""
    from kb.core.filters import Filters
    from kb.core.lexical import match_expression

    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    where, params = Filters().to_sql()
    variants = {
        "shipped": (
            "SELECT chunks_fts.rowid, -bm25(chunks_fts) FROM chunks_fts"
            " JOIN chunks c ON c.rowid = chunks_fts.rowid JOIN documents d ON d.id = c.doc_id"
            f" WHERE chunks_fts MATCH ? AND {where} ORDER BY bm25(chunks_fts) LIMIT ?"
        ),
        "no_join_order_by_bm25": (
            "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?"
        ),
        "no_join_order_by_rank": "SELECT rowid, -rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
    }
    count = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"

    def timed(sql: str, args: list[Any]) -> float:
        started = time.perf_counter()
        db.execute(sql, args).fetchall()
        return time.perf_counter() - started

    expressions = [(q, e) for q in queries if (e := match_expression(q))]
    for _, expression in expressions[:20]:
        for sql in variants.values():
            timed(sql, [expression, *(params if sql is variants["shipped"] else []), 100])
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _, expression in expressions:
        for name, sql in variants.items():
            times[name].append(timed(sql, [expression, *(params if name == "shipped" else []), 100]))
    order = sorted(range(len(expressions)), key=lambda i: -times["shipped"][i])[:slowest]
    worst = []
    for i in order:
        query, expression = expressions[i]
        matches = db.execute(count, [expression]).fetchone()[0]
        worst.append(
            {"query": query, "terms": expression.count(" OR ") + 1, "matching_rows": matches}
            | {f"{name}_ms": times[name][i] * 1000 for name in variants}
        )
    plans = {
        name: [r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, ["x", *(params if name == "shipped" else []), 1])]
        for name, sql in variants.items()
    }
    terms = [e.count(" OR ") + 1 for _, e in expressions]
    db.close()
    return {
        "limit": 100,
        "sql": variants,
        "query_plans": plans,
        "variants": {name: _summary(t) for name, t in times.items()},
        "terms_mean": sum(terms) / max(len(terms), 1),
        "slowest": worst,
    }


def filter_anatomy(kb: Any, repeats: int = 20) -> dict[str, Any]:
    """What resolving each filter to chunk ids (``Store.filters.matching_ids``, run once per filtered dense search)
    costs, the SQL plan it gets, and the same ids found documents-first (the filter evaluated once per document,
    then the chunks of the passing documents looked up by index), on a read-only connection."""
    from kb.core.filters import Filters

    db = sqlite3.connect(f"file:{kb.directory / 'kb.sqlite'}?mode=ro", uri=True)
    out = {}
    for name, spec in FILTERS.items():
        filters = Filters.from_mapping(spec)
        where, params = filters.to_sql()
        shipped = f"SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE {where}"  # before
        doc_first = f"SELECT rowid FROM chunks WHERE doc_id IN (SELECT d.id FROM documents d WHERE {where})"
        times: dict[str, list[float]] = {"matching_ids_uncached": [], "join_sql": [], "documents_first_sql": []}
        for _ in range(repeats):
            kb.storage.store.filters.clear_cache()
            started = time.perf_counter()
            ids = kb.storage.store.filters.matching_ids(filters)
            times["matching_ids_uncached"].append(time.perf_counter() - started)
            started = time.perf_counter()
            other = [r[0] for r in db.execute(doc_first, params)]
            times["documents_first_sql"].append(time.perf_counter() - started)
            started = time.perf_counter()
            db.execute(shipped, params).fetchall()
            times["join_sql"].append(time.perf_counter() - started)
        out[name] = {
            "sql": shipped,
            "query_plan": [r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + shipped, params)],
            "documents_first_sql": doc_first,
            "documents_first_plan": [r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + doc_first, params)],
            "same_ids": sorted(ids.tolist()) == sorted(other),
        } | {step: _summary(t) for step, t in times.items()}
    db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb-dir", type=Path, default=RESULTS / "search-kb")
    parser.add_argument("--queries", type=int, nargs=2, default=[300, 200], metavar=("MEDQUAD", "SCIFACT"))
    parser.add_argument("--build-only", action="store_true", help="build (or check) the knowledge base and stop")
    parser.add_argument(
        "--index",
        choices=("flat", "hnsw"),
        default=None,
        help="vector index to time; the knowledge base is re-indexed to it first when it has another (default: keep)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)

    from kb.core.filters import Filters

    args.kb_dir.mkdir(parents=True, exist_ok=True)
    kb, build = open_kb(args.kb_dir)
    with kb:
        stats = kb.stats()
        log.info("knowledge base: %d documents, %d chunks", stats["documents"], stats["chunks"])
        if args.build_only:
            return
        if args.index and args.index != stats.get("index_type"):
            log.info("re-indexing to %s", args.index)
            kb.reindex(index_type=args.index)
            stats = kb.stats()
        queries = _queries(*args.queries)
        load_before = os.getloadavg()
        modes = {}
        for mode in ("hybrid", "dense", "lexical"):
            modes[mode] = time_search(kb, queries, mode, None)
            log.info("%-8s %s", mode, modes[mode])
        filtered = {}
        for name, spec in FILTERS.items():
            matching = int(kb.storage.store.filters.matching_ids(Filters.from_mapping(spec)).size)
            row: dict[str, Any] = {"filters": spec, "matching_chunks": matching, "share": matching / stats["chunks"]}
            filtered[name] = row | time_search(kb, queries, "hybrid", spec)
            filtered[name]["cold"] = time_search(kb, queries, "hybrid", spec, cold=True)
            log.info("hybrid + %s: %s", name, filtered[name])
        parts = {"none": breakdown(kb, queries, None)}
        for name in (next(iter(FILTERS)), list(FILTERS)[-1]):
            parts[name] = breakdown(kb, queries, FILTERS[name])
        anatomy = lexical_anatomy(kb.directory / "kb.sqlite", queries)
        filter_ids = filter_anatomy(kb)
        load_after = os.getloadavg()

    worst_p95 = max(
        [modes["hybrid"]["p95_ms"]]
        + [r["cold"]["p95_ms"] for r in filtered.values()]
        + [r["p95_ms"] for r in filtered.values()]
    )
    result = {
        "command": "python benchmarks/search.py " + " ".join(sys.argv[1:]),
        "kb": str(args.kb_dir / "kb"),
        "corpus": "MedQuAD + SciFact + PubMedQA corpora (registry), BioASQ gold snippets (deduplicated)",
        "chunking": f"{CHUNK_TOKENS} tokens, {CHUNK_OVERLAP} overlap (not the default 200/32: real text reaches "
        "100,000 chunks only at a smaller chunk size)",
        "documents": stats["documents"],
        "chunks": stats["chunks"],
        "index_type": stats.get("index_type"),
        "embedder": stats["embedder"],
        "build": build,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average_before_after": [load_before, load_after],
        "queries": {"medquad_dev": args.queries[0], "scifact_dev": args.queries[1]},
        "k": K,
        "warmup_queries": 20,
        "modes": modes,
        "hybrid_with_filters": filtered,
        "target_p95_ms": TARGET_MS,
        "hybrid_p95_over_target": modes["hybrid"]["p95_ms"] / TARGET_MS,
        "worst_hybrid_p95_over_target": worst_p95 / TARGET_MS,
        "hybrid_breakdown": parts,
        "lexical_anatomy": anatomy,
        "filter_ids_anatomy": filter_ids,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "search.json" if stats.get("index_type") == "flat" else f"search-{stats.get('index_type')}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    print(f"{stats['chunks']} chunks, {stats['documents']} documents, {os.cpu_count()} CPUs, k={K}")
    print(f"{'search':<66} {'p50 ms':>7} {'p95 ms':>7} {'mean ms':>7}  <k")
    rows = [(mode, r) for mode, r in modes.items()]
    rows += [(f"hybrid + {name} [{r['share']:.2%}]", r) for name, r in filtered.items()]
    rows += [(f"hybrid + {name}, filter new [{r['share']:.2%}]", r["cold"]) for name, r in filtered.items()]
    for label, r in rows:
        print(f"{label:<66} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['mean_ms']:>7.1f}  {r['fewer_than_k']}")
    print(f"hybrid p95 / {TARGET_MS:.0f} ms target: {result['hybrid_p95_over_target']:.2f}")


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        # `python benchmarks/x.py` puts benchmarks/ first on sys.path, where ingest.py would shadow the ``ingest``
        # package: run again with -P, which leaves the script's folder off sys.path.
        os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
    main()
