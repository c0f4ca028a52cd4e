"""``medkb eval qa --dataset clinical``: the question set is well formed and consistent with its documents, and the
scoring gives each verdict for the reason it should; a CI-sized run with the real models."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kb.evaluation import clinical
from kb.evaluation.clinical import ClinicalQuestion, score_text
from kb.evaluation.datasets import EvalError
from kb.evaluation.entailment_eval import document_texts
from kb.evaluation.splits import half
from tests.shared_data import SHARED_DATA

DATA = SHARED_DATA
HAVE_DATA = (DATA / "medquad" / "corpus.jsonl").exists() and (DATA / "dailymed_spl").exists()


def _question(**overrides: object) -> ClinicalQuestion:
    fields: dict[str, object] = {
        "qid": "q",
        "question": "How is high blood pressure diagnosed?",
        "language": "en",
        "task": "diagnosis",
        "kind": "answerable",
        "gold": ("medquad:hbp",),
        "distractors": ("medquad:kidney",),
        "facts": ((r"140\s*/\s*90",), (r"\bseveral\b", r"\brepeat")),
        "min_facts": 1,
        "wrong": (r"\burine\b",),
    }
    fields.update(overrides)
    return ClinicalQuestion(**fields)  # type: ignore[arg-type]


def test_each_verdict_for_its_reason() -> None:
    q = _question()
    assert (
        score_text(q, "Readings of 140/90 or more on several visits [1].", ["medquad:hbp"], False).verdict == "CORRECT"
    )
    assert score_text(q, "It is diagnosed with urine and blood tests [1].", ["medquad:hbp"], False).verdict == "WRONG"
    assert score_text(q, "A cuff measures pressure [1].", ["medquad:hbp"], False).verdict == "PARTIAL"
    assert score_text(q, "A cuff measures pressure [1].", ["medquad:kidney"], False).verdict == "WRONG"
    assert score_text(q, "Not enough evidence.", [], True).verdict == "ABSTAINED"
    two = _question(min_facts=2)
    assert score_text(two, "140/90 [1].", ["medquad:kidney"], False).verdict == "PARTIAL"
    unanswerable = _question(kind="missing-topic", gold=(), facts=(), min_facts=0, wrong=())
    assert score_text(unanswerable, "Take 20 mg daily [1].", ["medquad:kidney"], False).verdict == "WRONG"


def test_summary_gives_shares_with_standard_errors() -> None:
    q, u = _question(), _question(qid="u", kind="missing-number")
    rows = [
        score_text(q, "140/90 [1].", ["medquad:hbp"], False),
        score_text(q, "urine [1].", ["medquad:hbp"], False),
        score_text(u, "", [], True),
    ]
    summary = clinical.summarise(rows)
    assert summary["answerable"]["CORRECT"] == {"count": 1, "share": 0.5, "se": 0.3536}
    assert summary["answerable"]["WRONG"]["count"] == 1
    assert summary["unanswerable"]["abstained"]["share"] == 1.0
    assert summary["by_task"]["diagnosis"]["questions"] == 2


def test_a_malformed_question_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "x", "task": "drug", "kind": "maybe"}\n', encoding="utf-8")
    with pytest.raises(EvalError, match=r"q.jsonl:1: .*kind 'maybe'"):
        clinical.load_questions(path)
    path.write_text('{"id": "a", "question": "x", "task": "drug", "kind": "answerable", "facts": [["(("]]}\n')
    with pytest.raises(EvalError, match=r"q.jsonl:1"):
        clinical.load_questions(path)


def test_the_set_covers_what_it_must() -> None:
    questions = clinical.load_questions()
    assert len(questions) >= 80
    answerable = [q for q in questions if q.answerable]
    assert {q.kind for q in questions} == set(clinical.KINDS)
    assert {q.task for q in answerable} >= {"diagnosis", "treatment", "drug"}
    assert sum(q.language == "zh" for q in questions) >= 10
    assert all(q.gold and q.facts and q.min_facts >= 1 for q in answerable)
    assert all(not q.facts for q in questions if not q.answerable)
    for part in ("A", "B"):
        chosen = [q for q in questions if half(q.qid) == part]
        assert sum(q.answerable for q in chosen) >= 20 and sum(not q.answerable for q in chosen) >= 5
    # the documents a CI-sized run indexes: those of the first questions only
    assert len(clinical.corpus_keys(questions[:4], all_labels=False)) <= 20


@pytest.mark.skipif(
    not HAVE_DATA,
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)
def test_every_document_exists_and_every_fact_is_in_a_gold_document() -> None:
    questions = clinical.load_questions()
    texts = document_texts({key for q in questions for key in q.documents}, DATA)
    for q in questions:
        missing = [key for key in q.documents if key not in texts]
        assert not missing, f"{q.qid}: {missing}"
        gold = " ".join(texts[key] for key in q.gold)
        for pattern in q.wrong:
            assert not re.search(pattern, gold, re.I), f"{q.qid}: wrong pattern {pattern!r} matches its gold text"
        if q.language == "en":
            for alternatives in q.facts:
                assert any(re.search(p, gold, re.I) for p in alternatives), f"{q.qid}: {alternatives} not in gold"


@pytest.mark.e2e
@pytest.mark.skipif(
    not HAVE_DATA,
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)
def test_cli_clinical_run_of_four_questions(tmp_path: Path) -> None:
    """The CI-sized run: the first four questions over the documents they name, with the bundled models. They
    rebuild four reported failures (high blood pressure diagnosed "with urine tests" from a kidney passage, type 1
    insulin for a type 2 question, strep throat answered from cystic fibrosis, nirmatrelvir answered from the
    sildenafil label); none may now be wrong."""
    rows = tmp_path / "rows.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "kb.cli", "eval", "qa", "--dataset", "clinical", "--limit", "4", "--json"]
        + ["--rows", str(rows)],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["dataset"] == "clinical" and report["all"]["questions"] == 4
    written = [json.loads(line) for line in rows.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == [q.qid for q in clinical.load_questions()[:4]]
    assert [r["id"] for r in written] == [
        "f-htn-diagnosis",
        "f-t2d-first-line",
        "f-strep-penicillin-allergy",
        "f-nirmatrelvir-renal",
    ]
    # right or silent: none of them wrong (a true but incomplete answer is PARTIAL), and nothing said of nirmatrelvir
    assert all(r["verdict"] != "WRONG" for r in written), [(r["id"], r["answer"]) for r in written]
    assert written[3]["verdict"] == "ABSTAINED" and "nirmatrelvir" in written[3]["reason"]
    assert report["seconds_per_question"]["max"] > 0


class _FakeKb:
    """Answers every question with one cited sentence, counting the questions asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def ask(self, question: str, **_: object) -> object:
        from kb.core.types import Answer, Citation

        self.asked.append(question)
        citation = Citation(1, "c", "d", "High Blood Pressure", "", 0, 10, "140/90", source="medquad:hbp")
        return Answer(question=question, text="Readings of 140/90 on several visits [1].", citations=[citation])


def test_rows_are_written_as_answered_and_a_rerun_asks_only_the_rest(tmp_path: Path) -> None:
    questions = [_question(qid="a"), _question(qid="b"), _question(qid="c")]
    rows = tmp_path / "rows.jsonl"
    first = _FakeKb()
    clinical.evaluate(first, questions[:2], rows)  # type: ignore[arg-type]
    assert len(first.asked) == 2 and len(rows.read_text(encoding="utf-8").splitlines()) == 2
    again = _FakeKb()
    result = clinical.evaluate(again, questions, rows)  # type: ignore[arg-type]
    assert len(again.asked) == 1  # only "c"
    assert [r["id"] for r in result["rows"]] == ["a", "b", "c"]
    assert result["all"]["answerable"]["CORRECT"]["count"] == 3


def test_settings_overrides_are_read_as_their_type() -> None:
    from kb.core.settings import Settings
    from kb.evaluation.answer_cli import with_overrides

    settings = with_overrides(Settings(), ["subject_match=false", "answer_budget_s=30", "top_k=3"])
    assert (settings.subject_match, settings.answer_budget_s, settings.top_k) == (False, 30.0, 3)
    with pytest.raises(EvalError, match="KEY=VALUE"):
        with_overrides(Settings(), ["no_such=1"])
    with pytest.raises(EvalError, match="expected a bool"):
        with_overrides(Settings(), ["entailment=maybe"])


def test_entailment_figures_fit_on_half_a_and_report_half_b() -> None:
    from kb.evaluation.entailment_eval import Pair, _figures

    ids = [str(n) for n in range(40)]
    rows = [
        (
            Pair(i, "s", "p", n % 2 == 0, "scifact-support" if n % 2 == 0 else "scifact-contradict"),
            0.8 if n % 2 == 0 else 0.2,
        )
        for n, i in enumerate(ids)
    ]
    figures = _figures(rows, 0.5, beta=0.5)
    assert figures["all_at_shipped"]["precision"] == 1.0 and figures["all_at_shipped"]["recall"] == 1.0
    assert 0.2 < figures["threshold_fitted_on_A_for_F0.5"] <= 0.8
    assert figures["B_scifact-contradict_at_fitted"]["accepted_when_not"] == 0.0
