"""``medkb eval qa --dataset entailment``: the generator's semantic checks (`generation.entailment`) on labelled pairs.

- ``support`` pairs: SciFact dev claims against their rationale sentences (SUPPORT: yes; CONTRADICT or no evidence:
  no; `kb.evaluation.qa.support_pairs`), and from the clinical set, each key fact's sentence in a gold
  document against the text around it (yes) and against the closest passage of a distractor document (no: the
  failure of citing another disease's passage);
- ``answer`` pairs from the clinical set: the question against the sentence of a gold document that states a key
  fact (yes) and against the distractor sentence that shares the most words with the question (no).

Each threshold is fitted on half A (of the claim or question ids) and reported on half B, with the seconds per
check; the support check also as composition applies it, after `generation.verify`'s own checks.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.decide import Chooser
from generation.entailment import answers, supports
from generation.grounding import content_words, split_sentences
from generation.verify import support
from kb.core.data_dir import data_dir
from kb.core.protocols import Embedder
from kb.evaluation import clinical
from kb.evaluation.datasets import read_jsonl
from kb.evaluation.qa import precision_recall, support_pairs
from kb.evaluation.splits import half

log = logging.getLogger(__name__)

#: Characters of context kept on each side of a sentence taken from a long document.
WINDOW = 500


@dataclass(frozen=True)
class Pair:
    """A labelled pair: ``first`` (statement or question), ``second`` (passage or sentence)."""

    qid: str
    first: str
    second: str
    label: bool
    origin: str


def document_texts(keys: set[str], root: Path | None = None) -> dict[str, str]:
    """The text of each document key of the clinical corpus (`clinical.LABELS` for labels)."""
    from ingest.readers import reader_for

    root = root or data_dir()
    texts: dict[str, str] = {}
    for obj in read_jsonl(root / "medquad" / "corpus.jsonl"):
        if (key := f"medquad:{obj['passage_id']}") in keys:
            texts[key] = " ".join(str(obj["text"]).split())
    if any(k.startswith("pubmedqa:") for k in keys):
        for obj in read_jsonl(root / "pubmedqa" / "corpus.jsonl"):
            if (key := f"pubmedqa:{obj['pmid']}") in keys:
                texts[key] = " ".join(obj["contexts"])
    for set_id, path in clinical.LABELS.items():
        if f"dailymed:{set_id}" in keys:
            for document in reader_for(root / path).read(root / path):
                texts[f"dailymed:{set_id}"] = " ".join(str(getattr(document, "text", "")).split())
    return texts


def clinical_pairs(root: Path | None = None) -> tuple[list[Pair], list[Pair]]:
    """The (support, answer) pairs of the clinical set's English answerable questions (see the module docstring)."""
    questions = [q for q in clinical.load_questions() if q.answerable and q.language == "en" and q.distractors]
    texts = document_texts({k for q in questions for k in q.documents}, root)
    support: list[Pair] = []
    answer: list[Pair] = []
    for q in questions:
        fact_sentence = _fact_sentence(q, texts)
        if fact_sentence is None:
            continue
        sentence, context = fact_sentence
        support.append(Pair(q.qid, sentence, context, True, "clinical"))
        answer.append(Pair(q.qid, q.question, sentence, True, "clinical"))
        closest = _closest(q, sentence, [texts[k] for k in q.distractors if k in texts])
        if closest is not None:
            distractor_sentence, distractor_context = closest
            support.append(Pair(q.qid, sentence, distractor_context, False, "clinical"))
            answer.append(Pair(q.qid, q.question, distractor_sentence, False, "clinical"))
    return support, answer


def _fact_sentence(q: clinical.ClinicalQuestion, texts: dict[str, str]) -> tuple[str, str] | None:
    """The first sentence of a gold document that states a key fact, and the text around it."""
    for key in q.gold:
        text = texts.get(key, "")
        for sentence in split_sentences(text):
            if len(sentence) < 400 and any(re.search(p, sentence, re.I) for p in q.facts[0]):
                return sentence, _around(text, sentence)
    return None


def _closest(q: clinical.ClinicalQuestion, sentence: str, texts: Sequence[str]) -> tuple[str, str] | None:
    """The distractor sentence that shares the most words with the question (and the sentence), with its context;
    neither may state a key fact (a distractor sometimes says what the gold passage says)."""
    wanted = content_words(q.question) | content_words(sentence)
    facts = [p for alternatives in q.facts for p in alternatives]
    best: tuple[int, str, str] | None = None
    for text in texts:
        for candidate in split_sentences(text):
            if len(candidate) >= 400 or any(re.search(p, candidate, re.I) for p in facts):
                continue
            context = _around(text, candidate)
            if any(re.search(p, context, re.I) for p in q.facts[0]):
                continue
            shared = len(wanted & content_words(candidate))
            if best is None or shared > best[0]:
                best = (shared, candidate, context)
    return None if best is None else (best[1], best[2])


def _around(text: str, sentence: str) -> str:
    start = text.find(sentence)
    return text[max(start - WINDOW, 0) : start + len(sentence) + WINDOW]


def evaluate(
    chooser: Chooser, embedder: Embedder | None = None, *, scifact_limit: int | None = None, root: Path | None = None
) -> dict[str, Any]:
    """Both checks on their pairs (see the module docstring). The support check is reported alone (threshold for
    F1) and as composition applies it, after `generation.verify`'s word, number and negation checks with
    ``embedder`` (threshold for F0.5, since a wrong citation costs more than a missed one); each threshold fitted on
    half A and reported on half B, overall and per kind of pair."""
    from generation.entailment import ANSWER_YES, SUPPORT_YES

    clinical_support, clinical_answer = clinical_pairs(root)
    scifact = [
        Pair(p.qid, p.claim, p.passage, p.supported, f"scifact-{p.kind.lower()}")
        for p in support_pairs(root)[:scifact_limit]
    ]
    pairs = scifact + clinical_support
    checked = _checked(pairs, lambda p: supports(chooser, p.first, p.second))
    vetted = [support(p.first, p.second, embedder=embedder).supported for p in pairs]
    answered = _checked(clinical_answer, lambda p: answers(chooser, p.first, p.second))
    return {
        "support": {
            "pairs": len(pairs),
            "seconds_per_check": checked[1],
            "generator_alone": _figures(checked[0], SUPPORT_YES, beta=1.0),
            "with_the_verifier": _figures(
                [(p, s if ok else 0.0) for (p, s), ok in zip(checked[0], vetted, strict=True)], SUPPORT_YES, beta=0.5
            ),
            "scores": _scores(checked[0]),
        },
        "answer": {
            "pairs": len(clinical_answer),
            "seconds_per_check": answered[1],
            "generator_alone": _figures(answered[0], ANSWER_YES, beta=1.0),
            "scores": _scores(answered[0]),
        },
    }


def _checked(pairs: Sequence[Pair], check: Callable[[Pair], float]) -> tuple[list[tuple[Pair, float]], float]:
    """Each pair with its probability of "yes", and the seconds per check."""
    started = time.perf_counter()
    rows = []
    for done, pair in enumerate(pairs, start=1):
        rows.append((pair, check(pair)))
        if done % 50 == 0:
            log.info("%d/%d pairs checked", done, len(pairs))
    return rows, round((time.perf_counter() - started) / max(len(pairs), 1), 3)


def _accepted(rows: Sequence[tuple[Pair, float]], threshold: float) -> dict[str, Any]:
    """How many pairs of each label the check accepts at ``threshold`` (a contradiction must be rejected)."""
    out: dict[str, Any] = {"pairs": len(rows)}
    for label in (True, False):
        chosen = [s for p, s in rows if p.label is label]
        if chosen:
            key = "accepted_when_supported" if label else "accepted_when_not"
            out[key] = round(sum(s >= threshold for s in chosen) / len(chosen), 4)
    return out


def _figures(rows: Sequence[tuple[Pair, float]], shipped: float, *, beta: float) -> dict[str, Any]:
    """Precision and recall at ``shipped`` on all pairs; the threshold with the best F-beta on half A, and what it
    gives on half B, overall and per kind of pair (the share of each label accepted)."""
    origins = sorted({p.origin for p, _ in rows})
    out: dict[str, Any] = {"all_at_shipped": {"threshold": shipped, **_pr(rows, shipped)}}
    fit = [(p, s) for p, s in rows if half(p.qid) == "A"]
    report = [(p, s) for p, s in rows if half(p.qid) == "B"]
    if fit and report:
        threshold = max(sorted({s for _, s in fit}), key=lambda t: _fbeta(_pr(fit, t), beta))
        out[f"threshold_fitted_on_A_for_F{beta:g}"] = round(threshold, 4)
        out["B_at_fitted"] = _pr(report, threshold)
        for origin in origins:
            out[f"B_{origin}_at_fitted"] = _accepted([(p, s) for p, s in report if p.origin == origin], threshold)
    return out


def _pr(rows: Sequence[tuple[Pair, float]], threshold: float) -> dict[str, Any]:
    return precision_recall([(s >= threshold, p.label) for p, s in rows])


def _fbeta(figures: dict[str, Any], beta: float) -> float:
    p, r = figures["precision"], figures["recall"]
    return float((1 + beta**2) * p * r / (beta**2 * p + r)) if p + r else 0.0


def _scores(rows: Sequence[tuple[Pair, float]]) -> list[dict[str, Any]]:
    return [{"qid": p.qid, "origin": p.origin, "label": p.label, "p_yes": round(s, 4)} for p, s in rows]
