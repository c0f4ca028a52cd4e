"""Answers compared with reference answers (``medkb eval qa --dataset medicationqa-answers|liveqa``): is a generated
answer better than quoting the best passage?

Each system answers every question of the chosen half (B, the reporting half, by default; `kb.evaluation.splits`):

- ``top-passage``: no generator; the best retrieved passage's sentences that are closest to the question (by the
  embedder), in passage order, up to `TOP_SENTENCES`; it abstains when the best passage's evidence score is under
  ``Settings.min_score``, as medkb does;
- ``medkb-0.5b`` and ``medkb-1.5b``: ``kb.ask`` with that model and the given settings, on the runtime they name
  (``generator``: ``auto``, the default, is llama.cpp where it is installed; ``--set generator=local`` for
  transformers); ``default`` names whichever model the shipped settings resolve to.

Every answer is scored against the question's reference answer by ROUGE-L (F-measure, the ``rouge-score`` package,
stemmed) and by the cosine of the knowledge base's embedder between answer and reference; an abstention scores 0 on
both. Each figure comes with its standard error. Citation precision and recall come from a judge model, as in
``--dataset medicationqa`` (``--judge none`` leaves them out); answers are counted as generated, quoted (on a refusal
or as the fallback; every ``top-passage`` answer) or abstained; latency is the wall time of each answer.

Data: MedicationQA's questions with their answers as the references (the answers are also the knowledge base, as in
``--dataset medicationqa``), and the 104 LiveQA-Med 2017 test questions with their NIST reference answers
(``$MEDKB_DATA_DIR/liveqa_med``), answered from the MedQuAD passages (``$MEDKB_DATA_DIR/medquad``).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from lxml import etree

from generation.backends import resolve_backend
from generation.grounding import split_sentences
from generation.verify import strip_markers
from kb.core.data_dir import data_set_dir
from kb.core.errors import MedkbError
from kb.core.model_registry import default_cache_dir
from kb.core.settings import Settings
from kb.core.types import Answer
from kb.evaluation.datasets import EvalError, load_dataset
from kb.evaluation.qa import answer_kind, cache_dir, medicationqa_documents, medicationqa_kb
from kb.evaluation.splits import half
from kb.evaluation.systems import default_kb_dir, open_kb
from kb.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

DATASETS = ("medicationqa-answers", "liveqa")
#: The generators of the ``medkb-*`` systems.
GENERATORS = {"medkb-0.5b": "qwen2.5-coder-0.5b-instruct", "medkb-1.5b": "qwen2.5-coder-1.5b-instruct"}
SYSTEMS = ("top-passage", *GENERATORS)
#: Sentences ``top-passage`` quotes from the best passage.
TOP_SENTENCES = 3
_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class ReferenceItem:
    id: str
    question: str
    reference: str


@dataclass(frozen=True)
class Reply:
    """One system's answer to one question, as scored."""

    text: str
    kind: str  # generated | quoted | abstained
    seconds: float
    answer: Answer | None = None


# -- data ------------------------------------------------------------------------------------------------------------


def medicationqa_items(root: Path | None = None) -> list[ReferenceItem]:
    """MedicationQA's questions, each with its own answer as the reference."""
    documents, questions = medicationqa_documents(root)
    text = {d.source: d.text for d in documents}
    return [ReferenceItem(q.qid, q.question, text[q.gold]) for q in questions]


def liveqa_items(root: Path | None = None) -> list[ReferenceItem]:
    """The LiveQA-Med 2017 test questions (NIST's paraphrase, else the original message) with their first reference
    answer."""
    path = data_set_dir("liveqa_med", root) / "TREC-2017-LiveQA-Medical-Test-Questions-w-summaries.xml"
    try:
        tree = etree.parse(str(path), _XML)
    except (OSError, etree.XMLSyntaxError) as exc:
        raise EvalError(f"{path}: not a readable LiveQA-Med test file ({exc})") from exc
    items = []
    for question in tree.getroot().iterfind("NLM-QUESTION"):
        text = _text(question.find("NIST-PARAPHRASE")) or _text(question.find("Original-Question/MESSAGE"))
        reference = _text(question.find("ReferenceAnswers/*/ANSWER"))  # RefAnswer or ReferenceAnswer
        if text and reference:
            items.append(ReferenceItem(str(question.get("qid")), text, reference))
    if not items:
        raise EvalError(f"{path}: no question with a reference answer")
    return items


def reference_kb(name: str, settings: Settings) -> KnowledgeBase:
    """The knowledge base the data set's questions are answered from (built once, then opened with ``settings``):
    MedicationQA's answers (shared with ``--dataset medicationqa``), or MedQuAD's passages (shared with ``medkb eval
    retrieval --dataset medquad``)."""
    if name == "medicationqa-answers":
        return medicationqa_kb(cache_dir("medicationqa", settings), settings)[0]
    directory = default_kb_dir(default_cache_dir(), "medquad", settings.embedder, None, None)
    return open_kb(load_dataset("medquad"), directory, settings, None)


def _text(element: Any) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


# -- systems ---------------------------------------------------------------------------------------------------------


def top_passage(kb: KnowledgeBase, question: str, k: int) -> Reply:
    """The best passage's `TOP_SENTENCES` sentences closest to the question, in passage order; an abstention when
    nothing retrieved reaches ``min_score``."""
    started = time.perf_counter()
    hits = kb.search(question, k)
    if not hits or hits[0].evidence_score < kb.settings.min_score:
        return Reply("", "abstained", time.perf_counter() - started)
    sentences = _sentences(hits[0].text)
    vectors = kb.embedder.embed_documents(sentences)
    closeness = vectors @ kb.embedder.embed_query(question)
    keep = sorted(np.argsort(-closeness)[:TOP_SENTENCES].tolist())
    return Reply(" ".join(sentences[i] for i in keep), "quoted", time.perf_counter() - started)


def medkb_answer(kb: KnowledgeBase, question: str) -> Reply:
    started = time.perf_counter()
    answer = kb.ask(question)
    seconds = time.perf_counter() - started
    if answer.abstained:
        return Reply("", "abstained", seconds, answer)
    kind = "generated" if answer_kind(answer) == "generated" else "quoted"
    return Reply(strip_markers(answer.text), kind, seconds, answer)


def _sentences(text: str) -> list[str]:
    found = [s.strip() for s in split_sentences(text) if s.strip()]
    return found or [text]


# -- scores ----------------------------------------------------------------------------------------------------------


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure of ``answer`` against ``reference`` (stemmed); 0 for an empty answer."""
    if not answer.strip():
        return 0.0
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise MedkbError("the reference-answer evaluation needs rouge-score: pip install 'medkb[eval]'") from exc
    return float(rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(reference, answer)["rougeL"].fmeasure)


def score_replies(
    items: Sequence[ReferenceItem],
    replies: Sequence[Reply],
    embed: Callable[[list[str]], np.ndarray],
    judge: Callable[[Answer], tuple[int, ...]] | None = None,
) -> dict[str, Any]:
    """The figures of one system: ROUGE-L and the semantic score (mean and standard error, abstentions as 0), the
    shares generated / quoted / abstained, citation precision and recall by ``judge`` (None without one), and the
    p50 / p95 latency in seconds."""
    rouge = [rouge_l(r.text, i.reference) for i, r in zip(items, replies, strict=True)]
    semantic = []
    for item, reply in zip(items, replies, strict=True):
        if not reply.text.strip():
            semantic.append(0.0)
            continue
        vectors = embed([reply.text, item.reference])
        semantic.append(float(vectors[0] @ vectors[1]))
    n = max(len(replies), 1)
    out: dict[str, Any] = {
        "questions": len(replies),
        "rouge_l": _mean(rouge),
        "semantic": _mean(semantic),
        "generated": round(sum(r.kind == "generated" for r in replies) / n, 4),
        "quoted": round(sum(r.kind == "quoted" for r in replies) / n, 4),
        "abstained": round(sum(r.kind == "abstained" for r in replies) / n, 4),
        "citation_precision": None,
        "citation_recall": None,
    }
    if judge is not None:
        totals = [judge(r.answer) for r in replies if r.answer is not None and not r.answer.abstained]
        sentences, supported, citations, supporting = (sum(t[j] for t in totals) for j in range(4))
        out["citation_recall"] = round(supported / sentences, 4) if sentences else None
        out["citation_precision"] = round(supporting / citations, 4) if citations else None
    seconds = sorted(r.seconds for r in replies)
    out["p50_s"] = round(statistics.median(seconds), 2) if seconds else None
    out["p95_s"] = round(seconds[min(len(seconds) - 1, math.ceil(0.95 * len(seconds)) - 1)], 2) if seconds else None
    return out


def _mean(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"value": None, "se": None}
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return {"value": round(statistics.fmean(values), 4), "se": round(se, 4)}


# -- the run ---------------------------------------------------------------------------------------------------------


def evaluate(
    name: str,
    systems: Sequence[str],
    settings: Settings,
    *,
    split: str = "B",
    limit: int | None = None,
    k: int | None = None,
    judge: Callable[[Answer], tuple[int, ...]] | None = None,
) -> dict[str, Any]:
    """Every system of ``systems`` on the ``split`` half of data set ``name``, side by side."""
    if name not in DATASETS:
        raise EvalError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    runtime, shipped = resolve_backend(settings.generator, settings.generator_model)
    default = next((s for s, model in GENERATORS.items() if model == shipped), None)
    chosen = [default or "default" if s == "default" else s for s in systems]
    if unknown := [s for s in chosen if s not in SYSTEMS]:
        raise EvalError(f"unknown system(s) {', '.join(unknown)}; expected some of {', '.join(SYSTEMS)} or default")
    if split not in ("A", "B", "all"):
        raise EvalError(f"split {split!r}: expected A, B or all")
    items = medicationqa_items() if name == "medicationqa-answers" else liveqa_items()
    items = [i for i in items if split == "all" or half(i.id) == split][:limit]
    out: dict[str, Any] = {"dataset": name, "split": split, "default": default, "runtime": runtime, "systems": {}}
    for system in dict.fromkeys(chosen):
        own = replace(settings, generator_model=GENERATORS.get(system, settings.generator_model))
        kb = reference_kb(name, own)
        try:
            if system == "top-passage":
                replies = [top_passage(kb, i.question, k or kb.settings.top_k) for i in items]
            else:
                if k:
                    kb.settings.top_k = k
                replies = []
                for done, item in enumerate(items, start=1):
                    replies.append(medkb_answer(kb, item.question))
                    log.info("%s: %d/%d answered", system, done, len(items))
            scored = score_replies(
                items, replies, kb.embedder.embed_documents, None if system == "top-passage" else judge
            )
            out["systems"][system] = scored
        finally:
            kb.close()
    return out
