"""``medkb eval qa``: data loading, the fitted thresholds, and the metrics, with fakes (no generator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.cli import _parser
from kb.evaluation import qa
from tests.shared_data import SHARED_DATA


def test_fit_threshold_separates_unanswerable_from_answerable() -> None:
    rows = [(0.2, True), (0.3, True), (0.35, True), (0.6, False), (0.7, False), (0.32, False)]
    threshold = qa.fit_threshold(rows)
    assert 0.35 < threshold < 0.6
    assert qa._abstention(rows, threshold) == {"abstain_unanswerable": 1.0, "abstain_answerable": 0.3333}


def test_precision_and_recall() -> None:
    rows = [(True, True), (True, False), (False, True), (True, True)]
    assert qa.precision_recall(rows) == {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "pairs": 4}
    assert qa.precision_recall([])["precision"] == 0.0


def test_removed_is_a_fixed_half_independent_of_the_calibration_half() -> None:
    from kb.evaluation.splits import half

    ids = [str(n) for n in range(2000)]
    gone = [i for i in ids if qa.removed(i)]
    assert 900 < len(gone) < 1100
    assert 400 < sum(half(i) == "A" for i in gone) < 600


def test_evaluate_support_scores_the_verifier_and_the_judge() -> None:
    pairs = [
        qa.SupportPair("1", "Aspirin lowers stroke risk.", "Aspirin lowers the risk of stroke in adults.", True),
        qa.SupportPair("2", "Aspirin raises stroke risk.", "Statins lower cholesterol.", False),
        qa.SupportPair("3", "Metformin is given at 500 mg.", "Metformin is started at 850 mg.", False),
    ]
    always_yes = qa.evaluate_support(pairs, None, lambda statement, passage: 1.0)
    assert always_yes["judge_all_at_0.5"]["recall"] == 1.0 and always_yes["judge_all_at_0.5"][
        "precision"
    ] == pytest.approx(0.3333)
    assert always_yes["verifier_all_at_shipped"]["recall"] == 1.0
    assert always_yes["verifier_all_at_shipped"]["precision"] == 1.0  # 500 mg is vetoed, statins share no words


@pytest.mark.skipif(
    not (SHARED_DATA / "scifact" / "claims_dev.jsonl").exists(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)
def test_support_pairs_from_scifact() -> None:
    pairs = qa.support_pairs(SHARED_DATA)
    assert len(pairs) > 500
    assert {p.supported for p in pairs} == {True, False}
    assert all(p.claim and p.passage for p in pairs)


@pytest.mark.skipif(
    not (SHARED_DATA / "mirage").exists(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)
def test_closed_items_load() -> None:
    bioasq = qa.bioasq_yesno_items(SHARED_DATA)
    assert len(bioasq) == 618 and {i.gold for i in bioasq} == {"yes", "no"}
    pubmedqa = qa.pubmedqa_items(SHARED_DATA)
    assert len(pubmedqa) == 500 and {i.gold for i in pubmedqa} == {"yes", "no", "maybe"}


@pytest.mark.skipif(
    not (SHARED_DATA / "medicationqa").exists(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)
def test_medicationqa_documents_are_deduplicated_answers() -> None:
    documents, questions = qa.medicationqa_documents(SHARED_DATA)
    assert len(questions) == 690 and len(documents) <= 690
    sources = {d.source for d in documents}
    assert all(q.gold in sources for q in questions)


def test_the_cli_parses_eval_qa() -> None:
    args = _parser().parse_args(["eval", "qa", "--dataset", "pubmedqa", "--limit", "5", "--json"])
    assert (args.dataset, args.limit, args.json, args.judge) == ("pubmedqa", 5, True, "qwen2.5-coder-1.5b-instruct")
    with pytest.raises(SystemExit):
        _parser().parse_args(["eval", "qa", "--dataset", "nope"])


def test_evaluate_answers_counts_what_the_judge_accepts(tmp_path: Path) -> None:
    from generation.base import EchoGenerator
    from kb import KnowledgeBase, Settings
    from kb.core.types import Document

    settings = Settings(embedder="hashing", cross_lingual_embedder="", min_score=0.0)
    kb = KnowledgeBase.create(tmp_path / "kb", settings, generator=EchoGenerator())
    kb.ingest(
        [Document(text="Warfarin interacts with ibuprofen. Bleeding risk rises.", title="Warfarin", source="m:1")]
    )
    items = [qa.ClosedItem("1", "Does warfarin interact with ibuprofen?", "m:1")]
    accepted = qa.evaluate_answers(kb, items, lambda statement, passage: 0.9)
    assert accepted["abstention_rate"] == 0.0 and accepted["gold_passage_retrieved"] == 1.0
    assert accepted["sentences"] >= 1 and accepted["citation_recall"] == accepted["citation_precision"] == 1.0
    assert accepted["citing_own_answer"] == {"generated": {"answers": 1, "share": 1.0}}
    elsewhere = qa.evaluate_answers(kb, [qa.ClosedItem("1", items[0].question, "m:2")], lambda s, p: 0.9)
    assert elsewhere["citing_own_answer"] == {"generated": {"answers": 1, "share": 0.0}}
    rejected = qa.evaluate_answers(kb, items, lambda statement, passage: 0.9, judge_threshold=0.95)
    assert rejected["citation_recall"] == rejected["citation_precision"] == 0.0
    kb.close()


def test_evaluate_quote_threshold_scores_each_question_with_and_without_its_answer(tmp_path: Path) -> None:
    from kb import KnowledgeBase, Settings
    from kb.core.types import Document

    settings = Settings(embedder="hashing", cross_lingual_embedder="", quote_score=0.5)
    kb = KnowledgeBase.create(tmp_path / "kb", settings)
    texts = {
        "m:1": "Warfarin interacts with ibuprofen: bleeding risk rises.",
        "m:2": "Metformin is taken with meals to reduce stomach upset.",
        "m:3": "Amoxicillin is a penicillin antibiotic; ask about allergy first.",
        "m:4": "Lisinopril can cause a dry cough in some patients.",
    }
    kb.ingest([Document(text=t, title="", source=s) for s, t in texts.items()])
    items = [qa.ClosedItem(str(n), t, s) for n, (s, t) in enumerate(texts.items())]  # each asks its own answer
    found = qa.evaluate_quote_threshold(kb, items, k=2)
    kb.close()
    assert found["questions"] == 4 and found["all_at_quote_score"]["quote_score"] == 0.5
    # its own answer matches each question exactly; the other answers share no word with it
    assert found["all_at_quote_score"]["quote_with_answer"] == 1.0
    assert found["all_at_quote_score"]["quote_without_answer"] == 0.0
    assert found["B_at_fitted"] == {"quote_with_answer": 1.0, "quote_without_answer": 0.0}  # ids 0, 2 A; 1, 3 B
