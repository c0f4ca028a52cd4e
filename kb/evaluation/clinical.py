"""``medkb eval qa --dataset clinical``: full answers to clinical questions, each scored CORRECT, PARTIAL, WRONG or
ABSTAINED.

The questions (``kb/evaluation/clinical/questions.jsonl``) are phrased as clinicians and patients ask them
and run over a fixed corpus: the MedQuAD passages, PubMed abstracts (PubMedQA's corpus) and DailyMed labels that
the questions name as gold or as deliberate distractors (type 1 against type 2 diabetes, one disease's tests in
another's passage, ...), read from ``$MEDKB_DATA_DIR``. Each question carries:

- ``gold``: the documents that answer it (``medquad:<passage id>``, ``pubmedqa:<pmid>``, ``dailymed:<setId>``);
- ``facts``: key facts, each a list of regular expressions (alternatives), and ``min_facts``, how many a CORRECT
  answer states;
- ``wrong``: patterns that mark an answer WRONG (what the distractors say);
- ``kind``: ``answerable``, or unanswerable from this corpus: ``missing-topic`` (nothing about the subject) or
  ``missing-number`` (the subject is there, the number asked for is not).

An abstention is ABSTAINED. An answer to an unanswerable question is WRONG. Otherwise an answer is WRONG when a
``wrong`` pattern matches or when it states no key fact and cites no gold document, CORRECT when it states at least
``min_facts`` facts, and PARTIAL otherwise. Figures are given for each half of the questions (`half`, md5 of the
id; thresholds are chosen on half A and reported on half B), per task and per language, each share with its
standard error.

With ``limit``, only the first questions are asked and only the documents they name are indexed (a CI-sized run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kb.core.data_dir import data_dir
from kb.core.settings import Settings
from kb.core.types import Answer, PatientContext
from kb.evaluation.datasets import EvalError, load_dataset, read_jsonl
from kb.evaluation.qa import built_once
from kb.evaluation.splits import half
from kb.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

#: The question set, kept in the repository.
QUESTIONS = Path(__file__).with_name("clinical") / "questions.jsonl"

#: The DailyMed labels of the corpus (paths under the data directory), by setId; every full run indexes them all.
LABELS: dict[str, str] = {
    "5015a380-a229-4eff-8e31-528065c6ed64": "dailymed_spl/allergy-relief-diphenhydramine-5015a380.xml",
    "301ef8f1-6b5f-234b-e063-6294a90ad2d3": "dailymed_spl/atorvastatin-301ef8f1.xml",
    "2be8635b-5733-1ed4-e054-00144ff88e88": "dailymed_spl/carvedilol-2be8635b.xml",
    "69baf948-25fc-41d6-8980-23634634953b": "dailymed_spl/dandruff-shampoo-pyrithione-zinc-69baf948.xml",
    "e9481622-7cc6-418a-acb6-c5450daae9b0": "dailymed_spl/eliquis-apixaban-e9481622-v30.xml",
    "8e57bcf5-2960-4c41-8bf2-83cb1ee50168": "dailymed_spl/geri-mox-antacid-8e57bcf5.xml",
    "3b7a7f87-72f4-42cb-bc1b-55eefcf8d7dc": "dailymed_spl/grass-pollen-allergenic-extract-3b7a7f87.xml",
    "05c1ce43-131d-4663-b0b7-9dbac20bfea4": "dailymed_spl/hawaiian-tropic-sunscreen-05c1ce43.xml",
    "1a02fa34-b5ae-7183-e063-6294a90a3ae4": "dailymed_spl/ibuprofen-1a02fa34.xml",
    "ebf0f833-c1c0-487c-8f29-01fa8c61b6cb": "dailymed_spl/kloxxado-naloxone-ebf0f833.xml",
    "1758ef9b-4fac-4066-e063-6394a90a8cc3": "dailymed_spl/menthol-patch-1758ef9b.xml",
    "ABD6ECF0-DC8E-41DE-89F2-1E36ED9D6535": "dailymed_spl/renese-polythiazide-abd6ecf0.xml",
    "1b5e2860-6855-4a65-8bbc-e064172a1adf": "dailymed_spl/rogaine-minoxidil-1b5e2860.xml",
    "98b7e6bf-2668-4a61-a874-194eb674b15c": "dailymed_spl/veklury-remdesivir-98b7e6bf.xml",
    "0b0be196-0c62-461c-94f4-9a35339b4501": "fda_drug_labels/spl/64f8040f-938d-4236-8e22-c838c9b5f8da.xml",
    "00f66f25-3469-4c16-9baf-fba21e9628bd": "fda_drug_labels/spl/cough.xml",
    "608d4f0d-b19f-46d3-749a-7159aa5f933d": "fda_drug_labels/spl/humira.xml",
    "c6e131fe-e7df-4876-83f7-9156fc4e8228": "fda_drug_labels/spl/lipitor-orig.xml",
    "0027b8a3-73bf-4005-a7e3-b035f451a861": "fda_drug_labels/spl/no-title.xml",
}

Verdict = Literal["CORRECT", "PARTIAL", "WRONG", "ABSTAINED"]
VERDICTS: tuple[Verdict, ...] = ("CORRECT", "PARTIAL", "WRONG", "ABSTAINED")
KINDS = ("answerable", "missing-topic", "missing-number")


@dataclass(frozen=True)
class ClinicalQuestion:
    """One question of the set (see the module docstring)."""

    qid: str
    question: str
    language: str
    task: str
    kind: str
    gold: tuple[str, ...]
    distractors: tuple[str, ...]
    facts: tuple[tuple[str, ...], ...]
    min_facts: int
    wrong: tuple[str, ...]
    patient: PatientContext | None = None

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"

    @property
    def documents(self) -> tuple[str, ...]:
        return self.gold + self.distractors


@dataclass
class Scored:
    """How one answer was scored, and why."""

    question: ClinicalQuestion
    verdict: Verdict
    facts_matched: int
    cites_gold: bool
    wrong_matched: list[str] = field(default_factory=list)
    seconds: float = 0.0
    text: str = ""
    cited: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def row(self) -> dict[str, Any]:
        q = self.question
        return {
            "id": q.qid,
            "half": half(q.qid),
            "task": q.task,
            "language": q.language,
            "kind": q.kind,
            "verdict": self.verdict,
            "facts_matched": self.facts_matched,
            "cites_gold": self.cites_gold,
            "wrong_matched": self.wrong_matched,
            "seconds": round(self.seconds, 2),
            "answer": self.text,
            "cited": self.cited,
            "reason": self.reason,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def load_questions(path: Path = QUESTIONS) -> list[ClinicalQuestion]:
    """The questions of ``path`` in file order; an `EvalError` naming the line for a malformed one."""
    questions: list[ClinicalQuestion] = []
    seen: set[str] = set()
    for lineno, obj in enumerate(read_jsonl(path), start=1):
        try:
            question = _question(obj)
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise EvalError(f"{path}:{lineno}: not a clinical question ({exc})") from exc
        if question.qid in seen:
            raise EvalError(f"{path}:{lineno}: id {question.qid!r} is used twice")
        seen.add(question.qid)
        questions.append(question)
    if not questions:
        raise EvalError(f"{path}: no questions")
    return questions


def _question(obj: dict[str, Any]) -> ClinicalQuestion:
    kind = str(obj["kind"])
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    facts = tuple(tuple(str(p) for p in alternatives) for alternatives in obj.get("facts", []))
    wrong = tuple(str(p) for p in obj.get("wrong", []))
    for pattern in [p for alternatives in facts for p in alternatives] + list(wrong):
        re.compile(pattern)
    patient = obj.get("patient")
    return ClinicalQuestion(
        qid=str(obj["id"]),
        question=str(obj["question"]).strip(),
        language=str(obj.get("language", "en")),
        task=str(obj["task"]),
        kind=kind,
        gold=tuple(str(d) for d in obj.get("gold", [])),
        distractors=tuple(str(d) for d in obj.get("distractors", [])),
        facts=facts,
        min_facts=int(obj.get("min_facts", 1 if facts else 0)),
        wrong=wrong,
        patient=PatientContext(**patient) if patient else None,
    )


# --- scoring -------------------------------------------------------------------------------------------------------


def score(question: ClinicalQuestion, answer: Answer, seconds: float = 0.0) -> Scored:
    """The verdict on ``answer`` (see the module docstring)."""
    scored = score_text(question, answer.text, [c.source for c in answer.citations], answer.abstained, seconds)
    scored.timings, scored.reason = dict(answer.timings), answer.reason
    return scored


def score_text(
    question: ClinicalQuestion, text: str, cited: Sequence[str], abstained: bool, seconds: float = 0.0
) -> Scored:
    """The verdict on an answer given as its text, the sources it cites and whether it abstained (so that a
    stored run can be scored again)."""
    if abstained:
        return Scored(question, "ABSTAINED", 0, False, seconds=seconds, text=text)
    matched = sum(any(re.search(p, text, re.I) for p in alternatives) for alternatives in question.facts)
    wrong = [p for p in question.wrong if re.search(p, text, re.I)]
    cites_gold = any(source in question.gold for source in cited)
    verdict: Verdict
    if not question.answerable or wrong or (matched == 0 and not cites_gold):
        verdict = "WRONG"
    elif matched >= max(question.min_facts, 1):
        verdict = "CORRECT"
    else:
        verdict = "PARTIAL"
    return Scored(question, verdict, matched, cites_gold, wrong, seconds, text, list(dict.fromkeys(cited)))


def summarise(scored: Sequence[Scored]) -> dict[str, Any]:
    """Shares of each verdict on the answerable questions, abstentions on the unanswerable ones, per task and per
    language; each share with its standard error (binomial, sqrt(p(1-p)/n))."""
    answerable = [s for s in scored if s.question.answerable]
    unanswerable = [s for s in scored if not s.question.answerable]
    out: dict[str, Any] = {
        "questions": len(scored),
        "answerable": _verdicts(answerable),
        "unanswerable": {
            "questions": len(unanswerable),
            "abstained": _share(sum(s.verdict == "ABSTAINED" for s in unanswerable), len(unanswerable)),
        },
        "by_task": {
            task: _verdicts([s for s in answerable if s.question.task == task])
            for task in sorted({s.question.task for s in answerable})
        },
        "by_language": {
            language: {
                "answerable": _verdicts([s for s in answerable if s.question.language == language]),
                "unanswerable_abstained": _share(
                    sum(s.verdict == "ABSTAINED" for s in unanswerable if s.question.language == language),
                    sum(s.question.language == language for s in unanswerable),
                ),
            }
            for language in sorted({s.question.language for s in scored})
        },
    }
    return out


def _verdicts(rows: Sequence[Scored]) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": len(rows)}
    for verdict in VERDICTS:
        out[verdict] = _share(sum(s.verdict == verdict for s in rows), len(rows))
    return out


def _share(count: int, total: int) -> dict[str, Any]:
    if not total:
        return {"count": 0, "share": None, "se": None}
    p = count / total
    return {"count": count, "share": round(p, 4), "se": round(math.sqrt(p * (1 - p) / total), 4)}


# --- the corpus and the run ----------------------------------------------------------------------------------------


def corpus_keys(questions: Sequence[ClinicalQuestion], *, all_labels: bool) -> list[str]:
    """The documents to index: those ``questions`` name, and every label of `LABELS` when ``all_labels``."""
    keys = dict.fromkeys(key for q in questions for key in q.documents)
    if all_labels:
        keys |= dict.fromkeys(f"dailymed:{set_id}" for set_id in LABELS)
    return sorted(keys)


def clinical_kb(directory: Path, settings: Settings, keys: Sequence[str], root: Path | None = None) -> KnowledgeBase:
    """The knowledge base of the documents ``keys`` in ``directory/kb``, built once per set of keys."""
    root = root or data_dir()
    by_prefix: dict[str, set[str]] = {}
    for key in keys:
        prefix = key.partition(":")[0]
        by_prefix.setdefault(prefix, set()).add(key)
        if prefix not in ("medquad", "pubmedqa", "dailymed"):
            raise EvalError(f"document {key!r}: expected a medquad:, pubmedqa: or dailymed: key")
    labels = []
    for key in sorted(by_prefix.get("dailymed", set())):
        set_id = key.partition(":")[2]
        if set_id not in LABELS:
            raise EvalError(f"document {key!r}: not a label of the clinical corpus ({', '.join(LABELS)})")
        labels.append(root / LABELS[set_id])
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
    expected = {"dataset": "clinical", "embedder": settings.embedder, "documents": digest}

    def ingest(kb: KnowledgeBase) -> Any:
        report = None
        for name in ("medquad", "pubmedqa"):
            wanted = by_prefix.get(name, set())
            if wanted:
                corpus = load_dataset(name, root=root).corpus
                found = set(corpus.keys()) & wanted
                if missing := sorted(wanted - found):
                    raise EvalError(f"{len(missing)} {name} document(s) not in the corpus, e.g. {missing[0]!r}")
                report = kb.ingest(corpus.items(wanted, directory / digest / name), reader=corpus.reader)
        if labels:
            report = kb.ingest(labels)
        return report

    return built_once(directory / digest, settings, expected, ingest)


def evaluate(kb: KnowledgeBase, questions: Sequence[ClinicalQuestion], rows: Path | None = None) -> dict[str, Any]:
    """Ask every question with ``kb.ask`` and score the answers: figures on all questions and on each half, and
    one row per question. With ``rows``, each row is appended to that JSON Lines file as it is scored, and the
    questions whose rows it already holds are scored from them instead of asked again."""
    stored = {r["id"]: r for r in read_jsonl(rows)} if rows is not None and rows.exists() else {}
    scored: list[Scored] = []
    for done, question in enumerate(questions, start=1):
        if (row := stored.get(question.qid)) is not None:
            result = score_text(question, row["answer"], row["cited"], row["verdict"] == "ABSTAINED", row["seconds"])
            result.timings, result.reason = row.get("timings", {}), row.get("reason", "")
            scored.append(result)
            continue
        started = time.perf_counter()
        answer = kb.ask(question.question, patient=question.patient)
        result = score(question, answer, time.perf_counter() - started)
        scored.append(result)
        if rows is not None:
            with rows.open("a", encoding="utf-8") as out:
                out.write(json.dumps(result.row(), ensure_ascii=False) + "\n")
        log.info("%d/%d %s: %s (%.1f s)", done, len(questions), question.qid, result.verdict, result.seconds)
    return {
        "seconds_per_question": _spread([s.seconds for s in scored]),
        "seconds_in_semantic_checks": _spread([s.timings.get("entail_s", 0.0) for s in scored]),
        "all": summarise(scored),
        "A": summarise([s for s in scored if half(s.question.qid) == "A"]),
        "B": summarise([s for s in scored if half(s.question.qid) == "B"]),
        "rows": [s.row() for s in scored],
    }


def subject_figures(kb: KnowledgeBase, questions: Sequence[ClinicalQuestion]) -> dict[str, Any]:
    """Retrieval only, per half: how often a gold document is among the top ``top_k`` passages without the subject
    match and among those it keeps (answerable questions), and how often it keeps none (unanswerable ones)."""
    from generation.subject import on_subject

    k = kb.settings.top_k
    known = kb.storage.store.drugs.drug_names()
    out: dict[str, Any] = {}
    for part in ("A", "B"):
        plain = kept = emptied = answerable = unanswerable = 0
        for q in (q for q in questions if half(q.qid) == part):
            hits = kb.search(q.question, max(k, kb.settings.subject_candidates))
            found = on_subject(q.question, hits, known).hits[:k]
            if q.answerable:
                answerable += 1
                plain += any(h.source in q.gold for h in hits[:k])
                kept += any(h.source in q.gold for h in found)
            else:
                unanswerable += 1
                emptied += not found
        out[part] = {
            "gold_in_top_k": _share(plain, answerable),
            "gold_in_top_k_on_subject": _share(kept, answerable),
            "unanswerable_with_nothing_on_subject": _share(emptied, unanswerable),
        }
    return out


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "mean": round(statistics.fmean(values), 2) if values else None,
        "sd": round(statistics.stdev(values), 2) if len(values) > 1 else None,
        "max": round(max(values), 2) if values else None,
    }


def run(settings: Settings, cache: Path, *, limit: int | None = None, rows: Path | None = None) -> dict[str, Any]:
    """The whole evaluation: the first ``limit`` questions (all by default) over their corpus; ``rows`` as in
    `evaluate`."""
    questions = load_questions()
    chosen = questions[:limit]
    kb = clinical_kb(cache, settings, corpus_keys(chosen, all_labels=limit is None))
    try:
        return {
            "corpus_documents": kb.stats().get("documents"),
            "subject_match": subject_figures(kb, chosen),
            **evaluate(kb, chosen, rows),
        }
    finally:
        kb.close()
