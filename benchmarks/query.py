"""Query latency: p50 / p95 of ``search`` and of ``ask`` on a knowledge base of the 1,000 PubMedQA abstracts.

    python benchmarks/query.py [--kb DIR] [--searches 200] [--asks 10]

The knowledge base is built on first use (in ``benchmarks/results/pubmedqa-kb``, not committed) and reused.
Questions are the first PubMedQA dev questions. Writes benchmarks/results/query.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from kb.core.offline import use_offline_environment

use_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MEDKB_DATA_DIR", "MEDKB_DATA_DIR-not-set")) / "pubmedqa"  # the evaluation data sets
RESULTS = ROOT / "benchmarks" / "results"


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return {"p50_ms": statistics.median(samples) * 1000, "p95_ms": cuts[18] * 1000, "n": len(samples)}


def main() -> None:
    from kb import Document, KnowledgeBase

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=Path, default=RESULTS / "pubmedqa-kb")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--asks", type=int, default=10)
    args = parser.parse_args()

    if not (args.kb / "manifest.json").exists():
        rows = [json.loads(line) for line in (DATA / "corpus.jsonl").open(encoding="utf-8")]
        docs = [
            Document(
                text="\n\n".join(r["contexts"]),
                source=f"pubmedqa#{r['pmid']}",
                metadata={"pmid": r["pmid"], "published": str(r.get("year", ""))},
            )
            for r in rows
        ]
        with KnowledgeBase.create(args.kb) as kb:
            print(kb.ingest(docs).summary())
    questions = [json.loads(line)["question"] for line in (DATA / "dev.jsonl").open(encoding="utf-8")]

    with KnowledgeBase.open(args.kb) as kb:
        kb.search("warm up", k=10)
        search_s = []
        for q in questions[: args.searches]:
            start = time.perf_counter()
            kb.search(q, k=10)
            search_s.append(time.perf_counter() - start)
        kb.ask(questions[0])  # loads the generator; not timed
        ask_s, abstained = [], 0
        for q in questions[1 : args.asks + 1]:
            start = time.perf_counter()
            answer = kb.ask(q)
            ask_s.append(time.perf_counter() - start)
            abstained += answer.abstained
        stats = kb.stats()
    result = {
        "chunks": stats["chunks"],
        "search": percentiles(search_s),
        "ask": percentiles(ask_s),
        "ask_abstained": abstained,
    }
    for name in ("search", "ask"):
        r = result[name]
        print(f"{name:<7} n={r['n']:<4} p50 {r['p50_ms']:9.1f} ms   p95 {r['p95_ms']:9.1f} ms")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "query.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        # `python benchmarks/query.py` puts benchmarks/ first on sys.path, where ingest.py would shadow the
        # ``ingest`` package: run again with -P, which leaves the script's folder off sys.path.
        os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
    main()
