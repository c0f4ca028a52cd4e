"""Recall@10 of the HNSW index against exact (flat) search, on real embeddings of real medical text.

    python benchmarks/ann_recall.py [--kb DIR] [--ef 16 32 64 128 256]

The knowledge base holds the MedQuAD passages and the SciFact abstracts (``$MEDKB_DATA_DIR``), embedded with the
default MiniLM embedder; it is built on first use in ``benchmarks/results/ann-kb`` (not committed) and reused.
Queries are the MedQuAD DEV questions and the SciFact DEV claims, embedded with the same model. For each
``efSearch`` the script reports recall@10 (share of the exact top 10 that HNSW returns) and mean query time, and
the memory a fresh process gains by opening each index and answering 500 queries: HNSW's vectors are
memory-mapped (they show as ``RssFile``: page cache, shared and reclaimable), flat shards are read into the
process's own memory (``RssAnon``).
Writes ``benchmarks/results/ann_recall.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from kb.core.offline import use_offline_environment

use_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MEDKB_DATA_DIR", "MEDKB_DATA_DIR-not-set"))  # the evaluation data sets
RESULTS = ROOT / "benchmarks" / "results"


def _rss_mb(kind: str = "VmRSS") -> float:
    """Resident memory in MiB: ``VmRSS`` (all), ``RssAnon`` (the process's own) or ``RssFile`` (mapped files,
    shared with the page cache and reclaimable)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(kind + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _queries() -> list[str]:
    out = [json.loads(line)["question"] for line in (DATA / "medquad" / "dev.jsonl").open(encoding="utf-8")]
    out += [json.loads(line)["claim"] for line in (DATA / "scifact" / "claims_dev.jsonl").open(encoding="utf-8")]
    return out


def child_memory(kb_dir: Path, kind: str, n_queries: int) -> dict[str, float]:
    """In a fresh process: memory gained by opening one index type and answering ``n_queries`` queries."""
    import numpy as np

    from kb import KnowledgeBase
    from kb.storage.faiss_index import VectorIndex

    with KnowledgeBase.open(kb_dir) as kb:
        queries = np.stack([kb.embedder.embed_query(q) for q in _queries()[:n_queries]]).astype(np.float32)
        before = {k: _rss_mb(k) for k in ("VmRSS", "RssAnon", "RssFile")}
        index = VectorIndex(kb_dir, kb.embedder.dim, kb.storage.store, kind=kind, ef_search=128)
        for q in queries:
            index.search(q, 10)
        return {f"{k}_gain_mb": _rss_mb(k) - v for k, v in before.items()}


def main() -> None:
    import subprocess

    import numpy as np

    from kb import KnowledgeBase, Settings
    from kb.storage.faiss_index import FlatShards, VectorIndex

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=Path, default=RESULTS / "ann-kb")
    parser.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--child-memory", choices=["flat", "hnsw"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        print(json.dumps(child_memory(args.kb, args.child_memory, 500)))
        return

    if not (args.kb / "manifest.json").exists():
        started = time.perf_counter()
        with KnowledgeBase.create(args.kb, Settings()) as kb:
            kb.ingest([DATA / "medquad" / "corpus.jsonl"], reader="medquad")
            kb.ingest([DATA / "scifact" / "corpus.jsonl"], reader="scifact")
        print(f"built {args.kb} in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    with KnowledgeBase.open(args.kb) as kb:
        store, dim = kb.storage.store, kb.embedder.dim
        queries = _queries()
        vectors = np.stack([kb.embedder.embed_query(q) for q in queries]).astype(np.float32)
        chunks = store.counts()["chunks"]

        flat = FlatShards(args.kb, dim, store)
        flat.search(vectors[0].reshape(1, -1), 10, None)
        started = time.perf_counter()
        exact = [flat.search(v.reshape(1, -1), 10, None)[0] for v in vectors]
        flat_ms = (time.perf_counter() - started) / len(vectors) * 1000

        started = time.perf_counter()
        VectorIndex(args.kb, dim, store, kind="hnsw").build_hnsw(m=args.m)
        build_s = time.perf_counter() - started

        rows = []
        for ef in args.ef:
            ann = VectorIndex(args.kb, dim, store, kind="hnsw", ef_search=ef)
            ann.search(vectors[0], 10)
            started = time.perf_counter()
            found = [ann.search(v, 10)[0] for v in vectors]
            ms = (time.perf_counter() - started) / len(vectors) * 1000
            recall = float(np.mean([len(set(f) & set(e)) / max(len(e), 1) for f, e in zip(found, exact, strict=True)]))
            rows.append({"ef_search": ef, "recall_at_10": recall, "ms_per_query": ms})
            print(f"efSearch {ef:>4}: recall@10 {recall:.4f}, {ms:.2f} ms/query", file=sys.stderr)

    memory = {}
    for kind in ("flat", "hnsw"):
        cmd = [sys.executable, "-P", __file__, "--kb", str(args.kb), "--child-memory", kind]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        memory[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    result = {
        "command": "python benchmarks/ann_recall.py " + " ".join(sys.argv[1:]),
        "corpus": "MedQuAD corpus.jsonl + SciFact corpus.jsonl",
        "queries": len(queries),
        "chunks": chunks,
        "embedder": "all-MiniLM-L6-v2 (384-d)",
        "hnsw_m": args.m,
        "hnsw_build_s": build_s,
        "hnsw_file_mb": (args.kb / "vectors" / "hnsw.faiss").stat().st_size / 2**20,
        "flat_ms_per_query": flat_ms,
        "hnsw": rows,
        "memory_in_a_fresh_process_500_queries": memory,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ann_recall.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        # `python benchmarks/x.py` puts benchmarks/ first on sys.path, where ingest.py would shadow the ``ingest``
        # package: run again with -P, which leaves the script's folder off sys.path.
        os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
    main()
