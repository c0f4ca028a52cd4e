"""How ``Settings.rerank_weight`` was chosen: a sweep of the weight of the trained reranker's score in the blend
that orders reranked hits (`retrieval.rerank.blend`), chosen on one half of the dev questions and reported on the
other.

    python -m experiments.rerank_weights --dataset scifact --every 1 [--dataset medquad --every 10] [--json]

For each data set it opens the evaluation knowledge base that ``medkb eval retrieval`` builds, which must hold a
reranker (``medkb train reranker --kb DIR``, trained on its corpus only). For every ``every``-th dev question it
runs ``hybrid`` (top 100) once and scores the top ``Settings.rerank_candidates`` with the reranker once, then orders
them by `retrieval.rerank.reorder` (what ``kb.search(..., rerank=True)`` does) at every weight of `GRID` (0:
``hybrid``; 1: the reranker alone). Halves A and B by ``md5(query id)`` as in `experiments.fusion_weights`;
nDCG@10 judged per document, as in the harness. The weight with the best mean half-A nDCG@10 over the data sets
given is the joint choice; half B says whether it holds.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from kb.core.model_registry import default_cache_dir
from kb.core.settings import Settings
from kb.evaluation.datasets import load_dataset
from kb.evaluation.metrics import per_query
from kb.evaluation.splits import half
from kb.evaluation.systems import default_kb_dir, document_ranking, open_kb, require_trained
from retrieval.rerank import passage_of, reorder

log = logging.getLogger(__name__)

#: Reranker weights tried.
GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
#: Hybrid hits per question; those below the reranked head keep their order.
DEPTH = 100


def sweep(name: str, settings: Settings, every: int = 1) -> dict[str, Any]:
    """nDCG@10 of hybrid with its head re-ordered at every weight of `GRID`, by half, on ``name``."""
    dataset = load_dataset(name)
    directory = default_kb_dir(default_cache_dir(), dataset.name, settings.embedder, None, None)
    kb = open_kb(dataset, directory, settings, None)
    runs: dict[str, dict[str, dict[str, float]]] = {f"{w:.1f}": {} for w in GRID}
    head_size = settings.rerank_candidates
    try:
        require_trained(kb, ["hybrid+rerank"])
        for i, (qid, text) in enumerate(dataset.queries.items()):
            if i % every:
                continue
            hits = kb.search(text, DEPTH, mode="hybrid")
            head, tail = hits[:head_size], hits[head_size:]
            cross = kb.reranker.score(text, [passage_of(hit) for hit in head])
            for weight in GRID:
                runs[f"{weight:.1f}"][qid] = document_ranking([*reorder(head, cross, weight), *tail])
    finally:
        kb.close()
    scores = {weight: per_query(dataset.qrels, run) for weight, run in runs.items()}
    table: dict[str, Any] = {}
    for part in ("A", "B", "all"):
        ids = [q for q in scores["0.0"] if q in runs["0.0"] and part in ("all", half(q))]
        if ids:
            table[part] = {"queries": len(ids)} | {
                weight: round(sum(by_query[q]["ndcg@10"] for q in ids) / len(ids), 4)
                for weight, by_query in scores.items()
            }
    return {"dataset": name, "split": dataset.split, "every": every, "ndcg@10": table}


def joint_choice(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The weight of `GRID` with the best mean half-A nDCG@10 over ``results``, and each data set's half-B nDCG@10
    at that weight and at 0 (``hybrid``)."""
    rows = {r["dataset"]: r["ndcg@10"]["A"] for r in results if "A" in r["ndcg@10"]}
    if not rows:
        return {}
    best = max((f"{w:.1f}" for w in GRID), key=lambda w: sum(row[w] for row in rows.values()) / len(rows))
    on_b = {r["dataset"]: {"weight": r["ndcg@10"]["B"][best], "hybrid": r["ndcg@10"]["B"]["0.0"]} for r in results}
    return {"weight": float(best), "data_sets": sorted(rows), "B": on_b}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", action="append", required=True, choices=("scifact", "pubmedqa", "medquad"))
    parser.add_argument(
        "--every",
        type=int,
        action="append",
        help="use every N-th dev question (default: all); once for every data set, or once per --dataset, in order",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    every = args.every or [1]
    if len(every) == 1:
        every = every * len(args.dataset)
    if len(every) != len(args.dataset) or min(every) < 1:
        parser.error(f"--every {every}: expected one positive integer, or one per --dataset")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    results = [sweep(name, Settings(), n) for name, n in zip(args.dataset, every, strict=True)]
    chosen = joint_choice(results)
    if args.json:
        print(json.dumps({"data_sets": results, "joint_best_on_A": chosen}, indent=2))
        return 0
    for result in results:
        print(f"{result['dataset']} ({result['split']}, every {result['every']}): nDCG@10 by reranker weight")
        print(f"{'half':<8}{'n':>6}" + "".join(f"{w:>7.1f}" for w in GRID))
        for label, row in result["ndcg@10"].items():
            print(f"{label:<8}{row['queries']:>6}" + "".join(f"{row[f'{w:.1f}']:>7.3f}" for w in GRID))
        print()
    if chosen:
        on_b = ", ".join(f"{name} {v['weight']:.3f} (hybrid {v['hybrid']:.3f})" for name, v in chosen["B"].items())
        print(f"best mean weight on A: {chosen['weight']:.1f}; on B: {on_b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
