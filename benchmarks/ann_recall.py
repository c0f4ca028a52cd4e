"""Recall@10 of the HNSW index against exact (flat) search, on real embeddings of real medical text.

    python -P benchmarks/ann_recall.py [--kb DIR] [--ef 16 32 64 128 256]

The knowledge base holds the MedQuAD passages and the SciFact abstracts (``../shared/data``), embedded with the
default MiniLM embedder; it is built on first use in ``benchmarks/results/ann-kb`` (not committed) and reused.
Queries are the MedQuAD DEV questions and the SciFact DEV claims, embedded with the same model. For each
``efSearch`` the script reports recall@10 (share of the exact top 10 that HNSW returns) and mean query time, and
the memory the process gains when it opens each index (HNSW is memory-mapped, flat shards are read into RAM).
Writes ``benchmarks/results/ann_recall.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _queries() -> list[str]:
    out = [json.loads(line)["question"] for line in (DATA / "medquad" / "dev.jsonl").open(encoding="utf-8")]
    out += [json.loads(line)["claim"] for line in (DATA / "scifact" / "claims_dev.jsonl").open(encoding="utf-8")]
    return out


def main() -> None:
    import numpy as np

    from kb import KnowledgeBase, Settings
    from kb.vectors import FlatShards, VectorIndex

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=Path, default=RESULTS / "ann-kb")
    parser.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--m", type=int, default=32)
    args = parser.parse_args()

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

        before = _rss_mb()
        flat = FlatShards(args.kb, dim, store)
        exact = [flat.search(v.reshape(1, -1), 10, None)[0] for v in vectors[:1]]
        flat_rss = _rss_mb() - before
        started = time.perf_counter()
        exact = [flat.search(v.reshape(1, -1), 10, None)[0] for v in vectors]
        flat_ms = (time.perf_counter() - started) / len(vectors) * 1000

        started = time.perf_counter()
        builder = VectorIndex(args.kb, dim, store, kind="hnsw")
        builder.build_hnsw(m=args.m)
        build_s = time.perf_counter() - started
        hnsw_file = args.kb / "vectors" / "hnsw.faiss"

        rows = []
        for ef in args.ef:
            before = _rss_mb()
            ann = VectorIndex(args.kb, dim, store, kind="hnsw", ef_search=ef)
            ann_loaded = ann._load_hnsw()
            if ann_loaded is None:
                raise SystemExit("HNSW index did not load")
            opened_rss = _rss_mb() - before
            started = time.perf_counter()
            found = [ann.search(v, 10)[0] for v in vectors]
            ms = (time.perf_counter() - started) / len(vectors) * 1000
            recall = float(np.mean([len(set(f) & set(e)) / max(len(e), 1) for f, e in zip(found, exact, strict=True)]))
            rows.append(
                {"ef_search": ef, "recall_at_10": recall, "ms_per_query": ms, "rss_gain_on_open_mb": opened_rss}
            )
            print(f"efSearch {ef:>4}: recall@10 {recall:.4f}, {ms:.2f} ms/query", file=sys.stderr)

    result = {
        "command": "python -P benchmarks/ann_recall.py " + " ".join(sys.argv[1:]),
        "corpus": "MedQuAD corpus.jsonl + SciFact corpus.jsonl",
        "queries": len(queries),
        "chunks": chunks,
        "embedder": "all-MiniLM-L6-v2 (384-d)",
        "hnsw_m": args.m,
        "hnsw_build_s": build_s,
        "hnsw_file_mb": hnsw_file.stat().st_size / 2**20,
        "flat_ms_per_query": flat_ms,
        "flat_rss_gain_on_open_mb": flat_rss,
        "hnsw": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ann_recall.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
