"""The evaluation harness behind ``medkb eval``, above the facade. Retrieval (``medkb eval retrieval``): named data
sets as BEIR-style ``queries / corpus / qrels`` (`datasets`), the systems compared on them (`systems`) and the IR
measures, computed by ``ir-measures`` (`metrics`); re-exported here. Answers (``medkb eval qa``): abstention,
support and closed questions (`qa`), the clinical set (`clinical`) and the entailment checks (`entailment_eval`).
Thresholds are fitted on half A of the questions and reported on half B (`splits`).

Example::

    from kb.evaluation import load_dataset, evaluate

    dataset = load_dataset("scifact", limit=20)
    scores = evaluate(dataset.qrels, {"q1": {"scifact:123": 1.0}})
"""

from __future__ import annotations

from kb.evaluation.datasets import DATASETS, EvalDataset, EvalError, load_beir, load_dataset
from kb.evaluation.metrics import MEASURES, evaluate, per_query
from kb.evaluation.systems import SYSTEMS, document_ranking, open_kb, run_system

__all__ = [
    "DATASETS",
    "MEASURES",
    "SYSTEMS",
    "EvalDataset",
    "EvalError",
    "document_ranking",
    "evaluate",
    "load_beir",
    "load_dataset",
    "open_kb",
    "per_query",
    "run_system",
]
