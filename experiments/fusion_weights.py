"""How the fusion weights in `kb.core.settings.Settings` were chosen: a sweep of the dense weight of score fusion,
chosen on one half of the dev questions and reported on the other.

    python -m experiments.fusion_weights --dataset scifact [--dataset medquad ...] [--json]

For each data set it opens the evaluation knowledge base that ``medkb eval retrieval`` builds (the same cache
directory, built first if missing), collects each question's hybrid candidates once (`Searcher.candidates`: the
top ``Settings.candidates`` of each retriever, every candidate with its exact cosine), and fuses them with every
dense weight of `GRID` (lexical weight = 1 - dense weight; `retrieval.fusion.score_fusion`). Questions are split
into half A and half B by ``md5(query id)``, and separately into natural-language questions and statements or
keywords (`retrieval.fusion.is_question`), since the settings hold one weight for each form. A weight is chosen on
half A only; half B says whether it holds for questions not used to choose it. nDCG@10 is judged per document as in
the harness, with ir-measures. Plain reciprocal rank fusion (k=60) of the same candidates is shown for reference.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from kb.core.filters import Filters
from kb.core.model_registry import default_cache_dir
from kb.core.settings import Settings
from kb.evaluation.datasets import load_dataset
from kb.evaluation.metrics import per_query
from kb.evaluation.splits import half
from kb.evaluation.systems import default_kb_dir, open_kb
from kb.knowledge_base import KnowledgeBase
from retrieval.fusion import is_question, reciprocal_rank_fusion, score_fusion
from retrieval.searcher import HybridCandidates

log = logging.getLogger(__name__)

#: Dense weights tried (the lexical weight is one minus it).
GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def _documents(kb: KnowledgeBase, found: HybridCandidates) -> dict[int, str]:
    ids = found.ids
    return {i: hit.source for i, hit in zip(ids, kb.storage.store.documents.hits(ids, [0.0] * len(ids)), strict=True)}


def fused_document_ranking(fused: Sequence[tuple[int, float]], documents: Mapping[int, str]) -> dict[str, float]:
    """A run's ranking of documents from fused (chunk id, score) pairs: each document where its best chunk ranks."""
    keys = list(dict.fromkeys(documents[i] for i, _ in fused[:100]))
    return {key: float(len(keys) - rank) for rank, key in enumerate(keys)}


def sweep(name: str, settings: Settings) -> dict[str, Any]:
    """nDCG@10 of score fusion at every weight of `GRID` and of plain RRF, by half and query form, on ``name``."""
    dataset = load_dataset(name)
    directory = default_kb_dir(default_cache_dir(), dataset.name, settings.embedder, None, None)
    kb = open_kb(dataset, directory, settings, None)
    runs: dict[str, dict[str, dict[str, float]]] = {f"{w:.2f}": {} for w in GRID} | {"rrf": {}}
    forms: dict[str, str] = {}
    try:
        for qid, text in dataset.queries.items():
            found = kb.searcher.candidates(text, settings.candidates, Filters())
            documents = _documents(kb, found)
            candidates = found.ids
            for weight in GRID:
                fused = score_fusion(candidates, [found.cosine, found.bm25], (weight, 1.0 - weight))
                runs[f"{weight:.2f}"][qid] = fused_document_ranking(fused, documents)
            rrf = reciprocal_rank_fusion([found.dense_ids, found.lexical_ids], k=60)
            runs["rrf"][qid] = fused_document_ranking(rrf, documents)
            forms[qid] = "question" if is_question(text) else "statement"
    finally:
        kb.close()
    scores = {system: per_query(dataset.qrels, run) for system, run in runs.items()}
    table: dict[str, Any] = {}
    for form in ("question", "statement", "all"):
        for part in ("A", "B", "all"):
            ids = [q for q in scores["rrf"] if (form == "all" or forms.get(q) == form) and part in ("all", half(q))]
            if not ids:
                continue
            table[f"{form}/{part}"] = {"queries": len(ids)} | {
                system: round(sum(by_query[q]["ndcg@10"] for q in ids) / len(ids), 4)
                for system, by_query in scores.items()
            }
    chosen = {}
    for form in ("question", "statement"):
        row = table.get(f"{form}/A")
        if row:
            best = max((f"{w:.2f}" for w in GRID), key=lambda w: row[w])
            chosen[form] = {"weight": float(best), "A": row[best], "B": table[f"{form}/B"][best]}
    return {"dataset": name, "split": dataset.split, "ndcg@10": table, "best_on_A": chosen}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", action="append", required=True, choices=("scifact", "pubmedqa", "medquad", "bioasq")
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    results = [sweep(name, Settings()) for name in args.dataset]
    chosen = joint_choice(results)
    if args.json:
        print(json.dumps({"data_sets": results, "joint_best_on_A": chosen}, indent=2))
        return 0
    for result in results:
        print(f"{result['dataset']} ({result['split']}): nDCG@10 by dense weight of score fusion")
        print(f"{'queries':<20}{'n':>6}" + "".join(f"{w:>7.2f}" for w in GRID) + f"{'rrf':>7}")
        for label, row in result["ndcg@10"].items():
            cells = "".join(f"{row[f'{w:.2f}']:>7.3f}" for w in GRID)
            print(f"{label:<20}{row['queries']:>6}{cells}{row['rrf']:>7.3f}")
        for form, best in result["best_on_A"].items():
            print(f"best {form} weight on A: {best['weight']:.2f} (A {best['A']:.3f}, B {best['B']:.3f})")
        print()
    for form, best in chosen.items():
        on_b = ", ".join(f"{name} {score:.3f}" for name, score in best["B"].items())
        print(f"{form}s, all data sets: best mean weight on A {best['weight']:.2f}; on B: {on_b}")
    return 0


def joint_choice(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per query form, the weight of `GRID` with the best mean half-A nDCG@10 over the data sets that have queries
    of that form, and each data set's half-B nDCG@10 at that weight."""
    chosen: dict[str, dict[str, Any]] = {}
    for form in ("question", "statement"):
        rows = {r["dataset"]: r["ndcg@10"][f"{form}/A"] for r in results if f"{form}/A" in r["ndcg@10"]}
        if not rows:
            continue
        best = max((f"{w:.2f}" for w in GRID), key=lambda w: sum(row[w] for row in rows.values()) / len(rows))
        on_b = {r["dataset"]: r["ndcg@10"][f"{form}/B"][best] for r in results if f"{form}/B" in r["ndcg@10"]}
        chosen[form] = {"weight": float(best), "data_sets": sorted(rows), "B": on_b}
    return chosen


if __name__ == "__main__":
    raise SystemExit(main())
