"""Latency of ``search`` in each mode (dense, lexical, hybrid) on an existing knowledge base.

    python benchmarks/search_modes.py [--kb benchmarks/results/ann-kb] [--queries 200] [--k 10]

Questions are the first MedQuAD DEV questions (``$MEDKB_DATA_DIR/medquad/dev.jsonl``). The default knowledge base is
the one ``benchmarks/ann_recall.py`` builds (MedQuAD + SciFact). Writes ``benchmarks/results/search_modes.json``.
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
DATA = Path(os.environ.get("MEDKB_DATA_DIR", "MEDKB_DATA_DIR-not-set")) / "medquad"  # the evaluation data sets
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    from kb import KnowledgeBase

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=Path, default=RESULTS / "ann-kb")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    with (DATA / "dev.jsonl").open(encoding="utf-8") as handle:
        questions = [json.loads(line)["question"] for line in handle][: args.queries]
    modes: dict[str, dict[str, float]] = {}
    with KnowledgeBase.open(args.kb) as kb:
        chunks = kb.stats()["chunks"]
        for mode in ("lexical", "dense", "hybrid"):
            kb.search(questions[0], k=args.k, mode=mode)  # load the model and indexes outside the timing
            times = []
            for question in questions:
                started = time.perf_counter()
                kb.search(question, k=args.k, mode=mode)
                times.append(time.perf_counter() - started)
            cuts = statistics.quantiles(times, n=20, method="inclusive")
            modes[mode] = {"p50_ms": statistics.median(times) * 1000, "p95_ms": cuts[18] * 1000}
            print(f"{mode:<8} p50 {modes[mode]['p50_ms']:.1f} ms  p95 {modes[mode]['p95_ms']:.1f} ms")
    result = {
        "command": "python benchmarks/search_modes.py " + " ".join(sys.argv[1:]),
        "kb": str(args.kb),
        "chunks": chunks,
        "queries": len(questions),
        "k": args.k,
        "modes": modes,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "search_modes.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        # `python benchmarks/x.py` puts benchmarks/ first on sys.path, where ingest.py would shadow the ``ingest``
        # package: run again with -P, which leaves the script's folder off sys.path.
        os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
    main()
