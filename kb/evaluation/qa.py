"""``medkb eval qa``: the quality of medkb's answers on five development sets, each with retrieval over a corpus.

- ``pubmedqa``: the 500 PubMedQA dev questions answered yes / no / maybe (`generation.decide`) from the top passages
  of the 1,000-abstract corpus (the gold abstract is never handed over); accuracy and macro-F1.
- ``bioasq-yesno``: MIRAGE's BioASQ yes/no questions over the BioASQ snippet corpus; accuracy.
- ``medicationqa``: consumer drug questions answered in full by ``kb.ask`` over a corpus of MedicationQA's trusted
  answers; citation recall (share of answer sentences that a cited passage supports), citation precision (share of
  citations that support their sentence), abstention rate, and per kind of answer (generated or quoted) the share
  citing the question's own trusted answer. Support is judged by a *second* model (``--judge``), asked per
  (sentence, passage) pair, so that the verifier does not grade its own output.
- ``unanswerable``: PubMedQA dev questions, half of whose gold abstracts are left out of the knowledge base; the share
  of abstentions on those (target >= 0.8) against the share on the answerable half (target <= 0.2).
- ``support``: SciFact claims against the sentences of their cited abstracts (SUPPORT: supported; CONTRADICT, or no
  evidence: not supported), which calibrates `generation.verify`'s threshold and measures the judge.
- ``clinical``: clinicians' and patients' questions over a fixed corpus with deliberate distractors, each answer
  scored CORRECT, PARTIAL, WRONG or ABSTAINED (`kb.evaluation.clinical`).
- ``entailment``: the generator's own semantic checks (`generation.entailment`) on SciFact and clinical pairs, which
  calibrates their thresholds (`kb.evaluation.entailment_eval`).

Every threshold or bias is fitted on half A of the questions (`kb.evaluation.splits.half`, md5 of the id)
and reported on half B; the uncalibrated figures are reported on all questions. Seconds per question are measured
around the whole answer (retrieval included).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.base import Generator
from generation.compose import REFUSED
from generation.decide import YES_NO_MAYBE, Chooser, choose_label, decide, fit_bias, macro_f1
from generation.injection import CLOSE, OPEN, quote
from generation.subject import on_subject
from generation.verify import SUPPORT_THRESHOLD, strip_markers, support
from kb.core.data_dir import data_dir, data_set_dir
from kb.core.settings import Settings
from kb.core.types import Answer, Document
from kb.evaluation.datasets import EvalError, load_dataset, read_jsonl
from kb.evaluation.splits import half
from kb.evaluation.systems import default_kb_dir, open_kb
from kb.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

QA_DATASETS = (
    "pubmedqa",
    "bioasq-yesno",
    "medicationqa",
    "medicationqa-quote",
    "unanswerable",
    "support",
    "clinical",
    "entailment",
    "medicationqa-answers",
    "liveqa",
)

#: Passages given to the generator for a closed (yes/no) question.
CLOSED_K = 3


@dataclass(frozen=True)
class ClosedItem:
    """A question with a closed gold answer (one of the options)."""

    qid: str
    question: str
    gold: str


def pubmedqa_items(root: Path | None = None) -> list[ClosedItem]:
    path = data_set_dir("pubmedqa", root) / "dev.jsonl"
    return [ClosedItem(str(o["pmid"]), o["question"], o["final_decision"]) for o in read_jsonl(path)]


def bioasq_yesno_items(root: Path | None = None) -> list[ClosedItem]:
    """MIRAGE's BioASQ-Y/N questions; option A is yes, B no."""
    path = (root or data_dir()) / "mirage" / "benchmark_shared.json"
    if not path.exists():
        raise EvalError(f"{path}: missing; expected MIRAGE's benchmark_shared.json")
    items = json.loads(path.read_text(encoding="utf-8"))["bioasq"]
    return [
        ClosedItem(qid, item["question"], item["options"][item["answer"]].strip().lower())
        for qid, item in items.items()
    ]


def evaluate_closed(
    kb: KnowledgeBase, items: Sequence[ClosedItem], generator: Generator, options: Sequence[str], *, k: int = CLOSED_K
) -> dict[str, Any]:
    """Answer each item with `generation.decide` over ``kb``'s top ``k`` passages; accuracy and macro-F1 raw on all
    items, and with the bias fitted on half A reported on half B (beside always answering the most common option of
    half A)."""
    rows: list[tuple[ClosedItem, dict[str, float]]] = []
    started = time.perf_counter()
    for done, item in enumerate(items, start=1):
        decision = decide(item.question, kb.search(item.question, k), generator, options)
        rows.append((item, decision.probabilities))
        if done % 25 == 0:
            log.info("%d/%d answered (%.1f s/question)", done, len(items), (time.perf_counter() - started) / done)
    seconds = (time.perf_counter() - started) / max(len(items), 1)
    fit = [(p, i.gold) for i, p in rows if half(i.qid) == "A"]
    report = [(p, i.gold) for i, p in rows if half(i.qid) == "B"]
    out: dict[str, Any] = {"questions": len(rows), "seconds_per_question": round(seconds, 3)}
    out["all_raw"] = closed_scores([(p, i.gold) for i, p in rows], None, options)
    if fit and report:
        bias = fit_bias(fit, options)
        majority = statistics.mode([g for _, g in fit])
        out["bias_fitted_on_A"] = {o: round(b, 3) for o, b in bias.items()}
        out["B_calibrated"] = closed_scores(report, bias, options)
        out["B_raw"] = closed_scores(report, None, options)
        out["B_majority_of_A"] = {
            "option": majority,
            "accuracy": round_figure(sum(g == majority for _, g in report) / len(report)),
        }
    return out


def closed_scores(
    rows: Sequence[tuple[dict[str, float], str]], bias: dict[str, float] | None, options: Sequence[str]
) -> dict[str, Any]:
    predicted = [choose_label(p, bias) for p, _ in rows]
    gold = [g for _, g in rows]
    accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / max(len(rows), 1)
    return {
        "questions": len(rows),
        "accuracy": round_figure(accuracy),
        "macro_f1": round_figure(macro_f1(gold, predicted, options)),
        "predicted": {o: predicted.count(o) for o in options},
    }


# --- unanswerable ------------------------------------------------------------------------------------------------


def removed(qid: str) -> bool:
    """Whether the gold abstract of PubMedQA question ``qid`` is left out of the unanswerable knowledge base: a fixed
    half of the questions, independent of `half`."""
    return int(hashlib.md5(f"unanswerable:{qid}".encode()).hexdigest(), 16) % 2 == 0


def unanswerable_kb(directory: Path, settings: Settings) -> KnowledgeBase:
    """The PubMedQA corpus without the gold abstracts of the `removed` dev questions, built once in ``directory``."""
    dataset = load_dataset("pubmedqa")
    gone = {doc for qid, docs in dataset.qrels.items() if removed(qid) for doc in docs}
    keep = {key for key in dataset.corpus.keys() if key not in gone}
    return built_once(
        directory,
        settings,
        {"dataset": "pubmedqa-unanswerable", "embedder": settings.embedder, "documents": len(keep)},
        lambda kb: kb.ingest(dataset.corpus.items(keep, directory), reader=dataset.corpus.reader),
    )


def built_once(
    directory: Path, settings: Settings, expected: dict[str, Any], ingest: Callable[[KnowledgeBase], Any]
) -> KnowledgeBase:
    """The knowledge base in ``directory/kb``, filled by ``ingest`` unless ``directory/built.json`` already holds
    ``expected`` (what it was built from)."""
    marker = directory / "built.json"
    if marker.exists() and json.loads(marker.read_text(encoding="utf-8")) == expected:
        return KnowledgeBase.open(directory / "kb", settings)
    kb = KnowledgeBase.open_or_create(directory / "kb", settings)
    report = ingest(kb)
    if report.failures:
        log.warning("%d records failed to ingest, e.g. %s", len(report.failures), report.failures[0])
    marker.write_text(json.dumps(expected), encoding="utf-8")
    return kb


def evaluate_unanswerable(kb: KnowledgeBase, items: Sequence[ClosedItem], *, k: int) -> dict[str, Any]:
    """The evidence gate of ``kb.ask`` (abstain when the best passage's evidence score is under ``min_score``) on
    questions whose gold abstract is gone (should abstain) or present (should answer): with the knowledge base's own
    ``min_score`` on all questions, and with the threshold fitted on half A (largest abstention on unanswerable minus
    abstention on answerable) reported on half B; each also with the subject match (`generation.subject`) before
    the gate, as ``kb.ask`` applies it (no passage about the subject: abstain)."""
    rows: list[tuple[ClosedItem, float, bool]] = []
    # the best evidence score of the hits about the question's subject (0 when none is), as kb.ask gates it
    on_topic: list[tuple[ClosedItem, float, bool]] = []
    known = kb.storage.store.drugs.drug_names()
    started = time.perf_counter()
    for item in items:
        hits = kb.search(item.question, max(k, kb.settings.subject_candidates))
        rows.append((item, max((h.evidence_score for h in hits[:k]), default=0.0), removed(item.qid)))
        kept = on_subject(item.question, hits, known).hits[:k]
        on_topic.append((item, max((h.evidence_score for h in kept), default=0.0), removed(item.qid)))
    seconds = (time.perf_counter() - started) / max(len(items), 1)
    threshold = kb.settings.min_score
    out: dict[str, Any] = {
        "questions": len(rows),
        "unanswerable": sum(gone for *_, gone in rows),
        "seconds_per_question": round(seconds, 4),
        "all_at_min_score": {"min_score": threshold, **_abstention([(s, g) for _, s, g in rows], threshold)},
        "all_at_min_score_with_subject": _abstention([(s, g) for _, s, g in on_topic], threshold),
    }
    if halves := _fitted_on_a(rows):
        fitted, _, report = halves
        out["threshold_fitted_on_A"] = round(fitted, 4)
        out["B_at_fitted"] = _abstention(report, fitted)
        out["B_at_fitted_with_subject"] = _abstention([(s, g) for i, s, g in on_topic if half(i.qid) == "B"], fitted)
    return out


def _fitted_on_a(
    rows: Sequence[tuple[ClosedItem, float, bool]],
) -> tuple[float, list[tuple[float, bool]], list[tuple[float, bool]]] | None:
    """The `fit_threshold` of the (score, flag) rows of half A, with the rows of half A and of half B; None when
    either half has none."""
    fit = [(s, g) for i, s, g in rows if half(i.qid) == "A"]
    report = [(s, g) for i, s, g in rows if half(i.qid) == "B"]
    return (fit_threshold(fit), fit, report) if fit and report else None


def fit_threshold(rows: Sequence[tuple[float, bool]]) -> float:
    """The evidence threshold that maximises (abstentions on unanswerable) - (abstentions on answerable), i.e.
    Youden's J, over ``rows`` of (best evidence score, unanswerable); midway between two observed scores."""
    scores = sorted({s for s, _ in rows})
    candidates = (
        [scores[0] - 1e-6] + [(a + b) / 2 for a, b in zip(scores, scores[1:], strict=False)] + [scores[-1] + 1e-6]
    )
    best = max(candidates, key=lambda t: (_j(rows, t), -abs(t)))
    return float(best)


def _j(rows: Sequence[tuple[float, bool]], threshold: float) -> float:
    result = _abstention(rows, threshold)
    return float(result["abstain_unanswerable"] - result["abstain_answerable"])


def _abstention(rows: Sequence[tuple[float, bool]], threshold: float) -> dict[str, Any]:
    gone = [s for s, g in rows if g]
    kept = [s for s, g in rows if not g]
    return {
        "abstain_unanswerable": round_figure(sum(s < threshold for s in gone) / max(len(gone), 1)),
        "abstain_answerable": round_figure(sum(s < threshold for s in kept) / max(len(kept), 1)),
    }


# --- medicationqa: full answers, judged -------------------------------------------------------------------------


def medicationqa_documents(root: Path | None = None) -> tuple[list[Document], list[ClosedItem]]:
    """The trusted answers as documents (deduplicated by text) and the questions (``gold`` = their answer's
    source)."""
    path = (root or data_dir()) / "medicationqa" / "medicationqa.jsonl"
    documents: dict[str, Document] = {}
    questions: list[ClosedItem] = []
    for row in read_jsonl(path):
        text = " ".join(str(row.get("answer", "")).split())
        if not text or not str(row.get("question", "")).strip():
            continue
        key = f"medicationqa:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
        title = " - ".join(
            p for p in (str(row.get("focus_drug", "")).strip(), str(row.get("section_title", "")).strip()) if p
        )
        documents.setdefault(key, Document(text=text, title=title, source=key, metadata={"url": row.get("url", "")}))
        questions.append(ClosedItem(str(row["row"]), str(row["question"]).strip(), key))
    return list(documents.values()), questions


def medicationqa_kb(directory: Path, settings: Settings) -> tuple[KnowledgeBase, list[ClosedItem]]:
    documents, questions = medicationqa_documents()
    expected = {"dataset": "medicationqa", "embedder": settings.embedder, "documents": len(documents)}
    return built_once(directory, settings, expected, lambda kb: kb.ingest(documents)), questions


def evaluate_quote_threshold(kb: KnowledgeBase, items: Sequence[ClosedItem], *, k: int) -> dict[str, Any]:
    """The threshold of ``Settings.quote_score``: after the generator refuses, quote when the best passage's evidence
    score reaches it. For each MedicationQA question, the best evidence score of its top ``k`` hits with its own
    answer in the knowledge base (a quotation can answer it) and of the top ``k`` other answers, as if its own were
    gone (a quotation would answer something else): the threshold with the largest share quoted with the answer
    minus the share quoted without it, fitted on half A and reported on half B, and the shares at ``kb``'s own
    ``quote_score`` on all questions. Retrieval only; no generator."""
    rows: list[tuple[ClosedItem, float, bool]] = []
    for item in items:
        hits = kb.search(item.question, 2 * k)
        rows.append((item, max((h.evidence_score for h in hits[:k]), default=0.0), False))
        others = [h for h in hits if h.source != item.gold][:k]
        rows.append((item, max((h.evidence_score for h in others), default=0.0), True))

    def quoted(part: Sequence[tuple[float, bool]], threshold: float) -> dict[str, Any]:
        shares = _abstention(part, threshold)
        return {
            "quote_with_answer": round_figure(1 - shares["abstain_answerable"]),
            "quote_without_answer": round_figure(1 - shares["abstain_unanswerable"]),
        }

    own = kb.settings.quote_score
    out: dict[str, Any] = {
        "questions": len(items),
        "all_at_quote_score": {"quote_score": own, **quoted([(s, g) for _, s, g in rows], own)},
    }
    if halves := _fitted_on_a(rows):
        fitted, fit, report = halves
        out["threshold_fitted_on_A"] = round(fitted, 4)
        out["A_at_fitted"] = quoted(fit, fitted)
        out["B_at_fitted"] = quoted(report, fitted)
    return out


_JUDGE_SYSTEM = (
    "You check citations in medical answers. Given a passage and a statement, answer yes if the passage states or "
    "directly implies the statement, and no otherwise."
)


def judge_messages(statement: str, passage: str) -> list[dict[str, str]]:
    user = (
        f"Passage:\n{OPEN}\n{quote(passage.strip())}\n{CLOSE}\n\nStatement: {statement.strip()}\n\n"
        "Does the passage support the statement? Answer yes or no."
    )
    return [{"role": "system", "content": _JUDGE_SYSTEM}, {"role": "user", "content": user}]


Judge = Callable[[str, str], float]


def model_judge(chooser: Chooser) -> Judge:
    """A support judge from a generator: the probability it answers "yes" to `judge_messages`."""

    def judge(statement: str, passage: str) -> float:
        return chooser.choose(judge_messages(statement, passage), ["yes", "no"])["yes"]

    return judge


def evaluate_answers(
    kb: KnowledgeBase, items: Sequence[ClosedItem], judge: Judge, *, judge_threshold: float = 0.5
) -> dict[str, Any]:
    """``kb.ask`` each question; citation recall and precision of the answers by ``judge`` (support when it gives
    at least ``judge_threshold``: fit it with the ``support`` evaluation), the abstention rate and its reasons."""
    answers: list[Answer] = []
    count = citation_counts(judge, judge_threshold)
    sentences = supported_sentences = citations = supporting_citations = 0
    started = time.perf_counter()
    for done, item in enumerate(items, start=1):
        answer = kb.ask(item.question)
        answers.append(answer)
        if answer.abstained:
            continue
        counted = count(answer)
        sentences += counted[0]
        supported_sentences += counted[1]
        citations += counted[2]
        supporting_citations += counted[3]
        log.info("%d/%d answered", done, len(items))
    seconds = (time.perf_counter() - started) / max(len(items), 1)
    abstained = sum(a.abstained for a in answers)
    reasons = Counter(re.sub(r"\d+(\.\d+)?", "N", a.reason) for a in answers if a.abstained)
    return {
        "questions": len(answers),
        "judge_threshold": judge_threshold,
        "abstention_rate": round_figure(abstained / max(len(answers), 1)),
        "abstention_reasons": dict(reasons.most_common()),
        "sentences": sentences,
        "citations": citations,
        "citation_recall": round_figure(supported_sentences / sentences) if sentences else None,
        "citation_precision": round_figure(supporting_citations / citations) if citations else None,
        "extractive_fallbacks": sum(any(_QUOTES in w for w in a.warnings) for a in answers),
        "quoted_on_refusal": sum(answer_kind(a) == "quoted_on_refusal" for a in answers),
        "gold_passage_retrieved": round_figure(
            sum(any(h.source == i.gold for h in a.evidence) for a, i in zip(answers, items, strict=True))
            / max(len(answers), 1)
        ),
        "citing_own_answer": _citing_own_answer(answers, items),
        "seconds_per_question": round(seconds, 2),
    }


def citation_counts(judge: Judge, threshold: float) -> Callable[[Answer], tuple[int, int, int, int]]:
    """Per answer: (sentences, sentences some citation supports, citations, supporting citations), a citation
    supporting its sentence when ``judge`` gives it at least ``threshold``; a sentence without a citation counts as
    unsupported, one without a letter or digit is not counted."""

    def count(answer: Answer) -> tuple[int, int, int, int]:
        quotes = {c.marker: c.quote for c in answer.citations}
        sentences = supported = citations = supporting = 0
        for sentence in answer.sentences:
            if not any(ch.isalnum() for ch in sentence.text):
                continue  # states nothing
            cited = [quotes[n] for n in sentence.citations if n in quotes]
            votes = [judge(strip_markers(sentence.text), passage) >= threshold for passage in cited]
            sentences += 1
            supported += any(votes)
            citations += len(votes)
            supporting += sum(votes)
        return sentences, supported, citations, supporting

    return count


#: What every warning of an answer that quotes passages instead of generated text says (`generation.compose`,
#: `generation.grounding`).
_QUOTES = "quotes the best-matching"


def answer_kind(answer: Answer) -> str:
    """``generated``, ``quoted_on_refusal`` or ``quoted_as_fallback``: how an answer that was given came about."""
    if any(f"{REFUSED};" in w for w in answer.warnings):
        return "quoted_on_refusal"
    if any(_QUOTES in w for w in answer.warnings):
        return "quoted_as_fallback"
    return "generated"


def _citing_own_answer(answers: Sequence[Answer], items: Sequence[ClosedItem]) -> dict[str, dict[str, Any]]:
    """Per kind of answer that was given (generated, quoted on refusal, quoted as the fallback): how many, and the
    share citing the question's own gold document. A supported sentence may still answer something else; a citation
    of the gold document says it draws on the passage written to answer this question."""
    kinds: dict[str, list[bool]] = {}
    for answer, item in zip(answers, items, strict=True):
        if not answer.abstained:
            cites = any(c.source == item.gold for c in answer.citations)
            kinds.setdefault(answer_kind(answer), []).append(cites)
    return {kind: {"answers": len(v), "share": round_figure(sum(v) / len(v))} for kind, v in sorted(kinds.items())}


# --- support: the verifier and the judge on SciFact claims ------------------------------------------------------


@dataclass(frozen=True)
class SupportPair:
    qid: str
    claim: str
    passage: str
    supported: bool
    #: SciFact's label: SUPPORT, CONTRADICT, or NOINFO (a claim without evidence against its cited abstract)
    kind: str = ""


def support_pairs(root: Path | None = None) -> list[SupportPair]:
    """SciFact dev claims against each cited abstract's rationale sentences (SUPPORT -> supported, CONTRADICT ->
    not), and claims without evidence against the first three sentences of their first cited abstract (not
    supported)."""
    folder = data_set_dir("scifact", root)
    abstracts = {str(o["doc_id"]): o["abstract"] for o in read_jsonl(folder / "corpus.jsonl")}
    pairs: list[SupportPair] = []
    for claim in read_jsonl(folder / "claims_dev.jsonl"):
        qid = str(claim["id"])
        evidence = claim.get("evidence") or {}
        for doc, sets in evidence.items():
            sentences = abstracts.get(str(doc), [])
            for ev in sets:
                text = " ".join(sentences[i] for i in ev["sentences"] if i < len(sentences))
                if text:
                    pairs.append(SupportPair(qid, claim["claim"], text, ev["label"] == "SUPPORT", ev["label"]))
        if not evidence and claim.get("cited_doc_ids"):
            sentences = abstracts.get(str(claim["cited_doc_ids"][0]), [])
            if sentences:
                pairs.append(SupportPair(qid, claim["claim"], " ".join(sentences[:3]), False, "NOINFO"))
    return pairs


def evaluate_support(pairs: Sequence[SupportPair], kb: KnowledgeBase | None, judge: Judge | None) -> dict[str, Any]:
    """Precision and recall of `generation.verify.support` (at the shipped threshold on all pairs, and at the
    threshold fitted on half A for F1, reported on half B) and of ``judge`` on all pairs."""
    embedder = kb.embedder if kb is not None else None
    scored = []
    for pair in pairs:
        result = support(pair.claim, pair.passage, embedder=embedder)
        vetoed = bool(result.missing_numbers) or result.negation_conflict
        scored.append((pair, 0.0 if vetoed else result.score))
    out: dict[str, Any] = {
        "pairs": len(pairs),
        "supported_share": round_figure(sum(p.supported for p in pairs) / max(len(pairs), 1)),
        "verifier_all_at_shipped": {
            "threshold": SUPPORT_THRESHOLD,
            **precision_recall([(s >= SUPPORT_THRESHOLD, p.supported) for p, s in scored]),
        },
    }
    fit = [(s, p.supported) for p, s in scored if half(p.qid) == "A"]
    if fit:
        best = f1_threshold(fit)
        out["verifier_threshold_fitted_on_A"] = round(best, 4)
        out["verifier_B_at_fitted"] = precision_recall(
            [(s >= best, p.supported) for p, s in scored if half(p.qid) == "B"]
        )
    if judge is not None:
        started = time.perf_counter()
        judged = [(judge(p.claim, p.passage), p) for p in pairs]
        out["judge_seconds_per_pair"] = round((time.perf_counter() - started) / max(len(pairs), 1), 3)
        out["judge_all_at_0.5"] = precision_recall([(s >= 0.5, p.supported) for s, p in judged])
        fit_judge = [(s, p.supported) for s, p in judged if half(p.qid) == "A"]
        if fit_judge:
            best = f1_threshold(fit_judge)
            out["judge_threshold_fitted_on_A"] = round(best, 4)
            out["judge_B_at_fitted"] = precision_recall(
                [(s >= best, p.supported) for s, p in judged if half(p.qid) == "B"]
            )
    return out


def f1_threshold(rows: Sequence[tuple[float, bool]]) -> float:
    """The observed score that, as the least score counted as support, gives the best F1 on ``rows`` of (score,
    supported); the lowest such score on ties."""
    return max(sorted({s for s, _ in rows}), key=lambda t: precision_recall([(s >= t, y) for s, y in rows])["f1"])


def precision_recall(rows: Sequence[tuple[bool, bool]]) -> dict[str, Any]:
    """Precision, recall and F1 of predictions against labels (both booleans)."""
    tp = sum(p and y for p, y in rows)
    predicted = sum(p for p, _ in rows)
    actual = sum(y for _, y in rows)
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round_figure(precision),
        "recall": round_figure(recall),
        "f1": round_figure(f1),
        "pairs": len(rows),
    }


# --- helpers ----------------------------------------------------------------------------------------------------


def closed_kb(name: str, settings: Settings) -> KnowledgeBase:
    """The (cached) retrieval-evaluation knowledge base of data set ``name``'s whole corpus."""
    return open_kb(load_dataset(name), cache_dir(name, settings), settings, None)


def cache_dir(name: str, settings: Settings) -> Path:
    """Where the evaluation knowledge base ``name`` of ``settings``' embedder lives."""
    from kb.core.model_registry import default_cache_dir

    return default_kb_dir(default_cache_dir(), name, settings.embedder, None, None)


def round_figure(value: float) -> float:
    return round(value, 4)


__all__ = [
    "QA_DATASETS",
    "YES_NO_MAYBE",
    "ClosedItem",
    "bioasq_yesno_items",
    "evaluate_answers",
    "evaluate_closed",
    "evaluate_support",
    "evaluate_unanswerable",
    "pubmedqa_items",
]
