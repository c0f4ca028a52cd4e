"""The vector backends side by side on one knowledge base: FAISS exact (the default, and the baseline), FAISS HNSW,
Chroma, and PostgreSQL + pgvector.

    python benchmarks/backends.py [--kb benchmarks/results/search-kb/kb] [--chunks 20000 112000] [--queries 200]

For each size, a fixed pseudo-random sample of ``N`` chunks of the knowledge base (by default the ~112,000-chunk one
that ``benchmarks/search.py`` builds from MedQuAD, SciFact, PubMedQA and BioASQ text) is copied into a scratch
knowledge base, and each backend is loaded from its ``kb.sqlite`` through ``KnowledgeBase.reindex``, the path
``medkb reindex --store/--index`` takes. pgvector runs on the embedded server (``pgserver``: PostgreSQL 16, pgvector
0.6.2, Unix socket). Then the first ``--queries`` MedQuAD dev questions, embedded once, are searched one at a time
through ``Storage.dense`` (k=10): unfiltered, with a broad filter (MedQuAD passages, about half the chunks) and with a
selective one (CDC passages). Reported per backend: load time and vectors/s, p50 and p95 latency, recall@10 against
exact search, and the size of the vectors on disk (FAISS files, the Chroma directory, pgvector's table and index),
with ratios against FAISS exact. Writes ``benchmarks/results/backends.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kb.core.offline import use_offline_environment

use_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MEDKB_DATA_DIR", "MEDKB_DATA_DIR-not-set"))  # the evaluation data sets
RESULTS = ROOT / "benchmarks" / "results"
#: (label, vector store, FAISS index type): FAISS exact (the default and the baseline), FAISS HNSW, Chroma, pgvector.
BACKENDS = (
    ("faiss", "faiss", "flat"),
    ("faiss-hnsw", "faiss", "hnsw"),
    ("chroma", "chroma", "flat"),
    ("pgvector", "pgvector", "flat"),
)
FILTERS: dict[str, dict[str, str] | None] = {
    "none": None,
    "broad (source medquad:)": {"source": "medquad:"},
    "selective (source_name=CDC)": {"source_name": "CDC"},
}
K = 10

log = logging.getLogger("benchmarks.backends")


def _subset(source: Path, dest: Path, chunks: int) -> int:
    """A copy of the knowledge base in ``source`` holding only its first ``chunks`` chunks (and their documents)."""
    dest.mkdir(parents=True)
    shutil.copy(source / "manifest.json", dest / "manifest.json")
    shutil.copy(source / "kb.sqlite", dest / "kb.sqlite")
    db = sqlite3.connect(dest / "kb.sqlite")
    total = int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
    if chunks < total:  # a fixed pseudo-random sample, so that every source is represented
        db.execute(
            "DELETE FROM chunks WHERE rowid NOT IN (SELECT rowid FROM chunks ORDER BY (rowid * 7919) % 100003 LIMIT ?)",
            (chunks,),
        )
        db.execute("DELETE FROM documents WHERE id NOT IN (SELECT doc_id FROM chunks)")
        db.commit()
        db.execute("VACUUM")
    n = int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
    db.close()
    return n


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _measure(kb: Any, queries: Any, exact: dict[str, list[list[int]]]) -> dict[str, Any]:
    from kb.core.filters import Filters

    out: dict[str, Any] = {}
    for name, spec in FILTERS.items():
        filters = Filters.from_mapping(spec)
        kb.storage.dense(queries[0], K, filters)  # warm-up: loads shards, opens the collection
        times, recall = [], []
        for i, q in enumerate(queries):
            started = time.perf_counter()
            ids, _ = kb.storage.dense(q, K, filters)
            times.append(time.perf_counter() - started)
            want = exact[name][i]
            if want:
                recall.append(len(set(ids.tolist()) & set(want)) / len(want))
        times.sort()
        out[name] = {
            "p50_ms": round(1000 * statistics.median(times), 2),
            "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 2),
            "recall@10": round(statistics.mean(recall), 4) if recall else None,
        }
    return out


def run(kb_dir: Path, sizes: list[int], n_queries: int) -> dict[str, Any]:
    from kb.core.filters import Filters
    from kb.knowledge_base import KnowledgeBase

    with (DATA / "medquad" / "dev.jsonl").open(encoding="utf-8") as lines:
        texts = [json.loads(line)["question"] for line in lines][:n_queries]
    report: dict[str, Any] = {
        "command": "python benchmarks/backends.py " + " ".join(sys.argv[1:]),
        "kb": str(kb_dir),
        "k": K,
        "queries": len(texts),
        "cpu_count": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="medkb-backends-") as tmp:
        for size in sizes:
            work = Path(tmp) / f"kb-{size}"
            chunks = _subset(kb_dir, work, size)
            log.info("%d chunks in %s", chunks, work)
            row: dict[str, Any] = {"chunks": chunks, "backends": {}}
            with KnowledgeBase.open(work) as kb:
                queries = [kb.embedder.embed_query(t) for t in texts]
                kb.reindex()  # the FAISS flat shards, exact: also the ground truth
                exact = {
                    name: [kb.storage.dense(q, K, Filters.from_mapping(spec))[0].tolist() for q in queries]
                    for name, spec in FILTERS.items()
                }
                for label, backend, index_type in BACKENDS:
                    started = time.perf_counter()
                    n = kb.reindex(index_type, vector_store=backend)
                    load_s = time.perf_counter() - started
                    stats = _measure(kb, queries, exact)
                    status = kb.storage.index.status()
                    disk = _size(work / "vectors") if backend == "faiss" else int(status["vector_bytes"])
                    row["backends"][label] = {
                        "load_s": round(load_s, 1),
                        "vectors_per_s": round(n / load_s),
                        "disk_mb": round(disk / 2**20, 1),
                        "search": stats,
                    }
                    log.info("%s: %s", label, row["backends"][label])
            base = row["backends"]["faiss"]
            row["ratios_vs_faiss"] = {
                backend: {
                    "load_s": round(r["load_s"] / max(base["load_s"], 1e-9), 2),
                    **{
                        f"p95 {name}": round(r["search"][name]["p95_ms"] / max(base["search"][name]["p95_ms"], 1e-9), 2)
                        for name in FILTERS
                    },
                }
                for backend, r in row["backends"].items()
            }
            report["sizes"][str(chunks)] = row
    report["load_average_after"] = os.getloadavg()[0]
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, default=RESULTS / "search-kb" / "kb")
    parser.add_argument("--chunks", type=int, nargs="+", default=[20000, 112000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS / "backends.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    if not (args.kb / "kb.sqlite").is_file():
        parser.error(f"{args.kb}: no knowledge base; build it with `python benchmarks/search.py --build-only`")
    report = run(args.kb, args.chunks, args.queries)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        # benchmarks/ingest.py would shadow the ``ingest`` package: run again with -P (script folder off sys.path)
        os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
    sys.exit(main())
