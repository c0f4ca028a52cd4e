"""The reference-answer evaluation: ROUGE-L and the semantic score of each system's answers, the shares generated,
quoted and abstained, latency; the data sets' questions and references; the systems by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generation.backends import resolve_backend
from kb.core.errors import MedkbError
from kb.core.settings import Settings
from kb.evaluation import reference_answers as ra
from tests.shared_data import NEEDS_DATA, SHARED_DATA


def _embed(texts: list[str]) -> np.ndarray:
    """Unit vectors from letter counts: close texts are close."""
    out = np.zeros((len(texts), 26), np.float32)
    for row, text in enumerate(texts):
        for ch in text.lower():
            if "a" <= ch <= "z":
                out[row, ord(ch) - 97] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_scores_count_abstentions_as_nothing_and_give_their_error() -> None:
    items = [
        ra.ReferenceItem("1", "q1", "Metformin is contraindicated in severe renal impairment."),
        ra.ReferenceItem("2", "q2", "Take ibuprofen with food."),
        ra.ReferenceItem("3", "q3", "Warfarin needs INR monitoring."),
    ]
    replies = [
        ra.Reply("Metformin is contraindicated in severe renal impairment.", "generated", 1.0),
        ra.Reply("Ibuprofen is an NSAID.", "quoted", 2.0),
        ra.Reply("", "abstained", 0.5),
    ]
    scored = ra.score_replies(items, replies, _embed)
    assert scored["rouge_l"]["value"] == pytest.approx(
        (1.0 + ra.rouge_l("Ibuprofen is an NSAID.", items[1].reference)) / 3, abs=1e-4
    )
    assert 0 < scored["rouge_l"]["se"] < 1 and scored["semantic"]["value"] < 1
    assert (scored["generated"], scored["quoted"], scored["abstained"]) == (0.3333, 0.3333, 0.3333)
    assert (scored["p50_s"], scored["p95_s"]) == (1.0, 2.0)
    assert scored["citation_precision"] is None  # no judge
    assert ra.rouge_l("", "anything") == 0.0


def test_unknown_systems_and_splits_are_refused_by_name() -> None:
    with pytest.raises(MedkbError, match="unknown system.*medkb-7b"):
        ra.evaluate("liveqa", ["medkb-7b"], Settings())
    with pytest.raises(MedkbError, match="unknown data set"):
        ra.evaluate("trivia", ["top-passage"], Settings())


@pytest.mark.skipif(not (SHARED_DATA / "liveqa_med").is_dir(), reason=NEEDS_DATA)
def test_liveqa_questions_come_with_their_nist_reference_answers() -> None:
    items = ra.liveqa_items(SHARED_DATA)
    assert len(items) == 104 and len({i.id for i in items}) == 104
    first = items[0]
    assert first.id == "TQ1" and "Noonan syndrome" in first.question and first.reference.startswith("Noonan's syndrome")


@pytest.mark.skipif(not (SHARED_DATA / "medicationqa").is_dir(), reason=NEEDS_DATA)
def test_top_passage_quotes_the_closest_sentences_of_the_best_passage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDKB_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path))
    settings = Settings(embedder="hashing", cross_lingual_embedder="", min_score=0.0)
    result = ra.evaluate("medicationqa-answers", ["top-passage"], settings, limit=3)
    scored = result["systems"]["top-passage"]
    shipped = {model: system for system, model in ra.GENERATORS.items()}[resolve_backend("auto")[1]]
    assert result["split"] == "B" and result["default"] == shipped and scored["questions"] == 3
    assert scored["quoted"] == 1.0 and 0 <= scored["rouge_l"]["value"] <= 1
