"""IR measures over BEIR-style dicts, computed by ``ir-measures`` (trec_eval underneath), not by hand.

``qrels`` is ``{query id: {document key: relevance}}`` and a run is ``{query id: {document key: score}}``, higher
scores ranking first. Every query with a relevant document counts: one the run left out (or that retrieved nothing)
scores 0, where trec_eval alone would drop it from the mean.

>>> round(evaluate({"q": {"a": 1}}, {"q": {"b": 2.0, "a": 1.0}})["mrr@10"], 3)
0.5
"""

from __future__ import annotations

from collections.abc import Mapping

import ir_measures
from ir_measures import RR, R, nDCG

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

#: Reported name -> ir-measures measure.
MEASURES = {"ndcg@10": nDCG @ 10, "recall@10": R @ 10, "recall@100": R @ 100, "mrr@10": RR @ 10}


def per_query(qrels: Qrels, run: Run) -> dict[str, dict[str, float]]:
    """``{query id: {measure name: value}}`` for every query of ``qrels`` with a relevant document."""
    judged = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items() if any(r > 0 for r in docs.values())}
    names = {measure: name for name, measure in MEASURES.items()}
    out = {q: dict.fromkeys(MEASURES, 0.0) for q in judged}
    retrieved = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judged and docs}
    if retrieved:
        for metric in ir_measures.iter_calc(list(MEASURES.values()), judged, retrieved):
            out[metric.query_id][names[metric.measure]] = float(metric.value)
    return out


def evaluate(qrels: Qrels, run: Run) -> dict[str, float]:
    """Each measure's mean over the queries of ``qrels`` that have a relevant document (0.0 for every measure if
    there is none)."""
    scores = per_query(qrels, run)
    if not scores:
        return dict.fromkeys(MEASURES, 0.0)
    return {name: sum(q[name] for q in scores.values()) / len(scores) for name in MEASURES}
