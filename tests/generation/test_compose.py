from __future__ import annotations

import pytest

from generation.base import EchoGenerator
from generation.compose import compose_answer, resolve_citations
from generation.prompts import build_messages, classify_task
from kb.core.types import Hit


def _hits(n: int, score: float = 0.8) -> list[Hit]:
    return [
        Hit(
            chunk_id=f"c{i}",
            doc_id=f"d{i}",
            text=f"Passage {i} says fact {i}.",
            score=score - i * 0.01,
            title=f"Title {i}",
            section="Results",
            start=10 * i,
            end=10 * i + 20,
            metadata={"pmid": str(100 + i)},
        )
        for i in range(1, n + 1)
    ]


def test_invented_markers_are_dropped_and_the_rest_renumbered() -> None:
    hits = _hits(3)
    text, citations = resolve_citations("Fact three [3]. Fact one [1, 9]. Made up [7]. Again [3][3].", hits)
    assert text == "Fact three [1]. Fact one [2]. Made up. Again [1]."
    assert [(c.marker, c.chunk_id, c.pmid) for c in citations] == [(1, "c3", "103"), (2, "c1", "101")]
    assert citations[0].quote == hits[2].text and citations[0].start == 30


def test_ranges_expand() -> None:
    text, citations = resolve_citations("All of them [1-3].", _hits(3))
    assert text == "All of them [1][2][3]."
    assert len(citations) == 3


def test_every_marker_in_the_answer_resolves() -> None:
    answer = compose_answer("What fact?", _hits(4), EchoGenerator(extra=" And [12] [0]."), min_score=0.3)
    assert not answer.abstained
    import re

    markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.marker for c in answer.citations} == {1, 2}
    assert "[12]" not in answer.text and "[0]" not in answer.text


def test_weak_evidence_abstains_without_calling_the_generator() -> None:
    gen = EchoGenerator()
    answer = compose_answer("What fact?", _hits(2, score=0.1), gen, min_score=0.3)
    assert answer.abstained and "threshold" in answer.reason
    assert "not enough evidence" in answer.text and "Title 1" in answer.text
    assert gen.calls == []
    assert compose_answer("q", [], gen, min_score=0.3).abstained


class _Fixed:
    name = "fixed"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def generate(self, messages, *, max_tokens=256, temperature=0.0):  # type: ignore[no-untyped-def]
        return self.reply


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("INSUFFICIENT EVIDENCE.", "insufficient"),
        ("Metformin is great [8].", "rests on"),
        ("No markers.", "rests on"),
        ("The passages do not contain the answer.", "insufficient"),
    ],
)
def test_uncited_or_refused_answers_abstain(reply: str, reason: str) -> None:
    answer = compose_answer("q", _hits(2), _Fixed(reply), min_score=0.3)
    assert answer.abstained and reason in answer.reason
    assert answer.citations == []
    assert answer.to_dict()["notice"].startswith("medkb output")


@pytest.mark.parametrize(
    ("question", "task"),
    [
        ("What are the contraindications of metformin?", "drug"),
        ("How is type 2 diabetes diagnosed?", "diagnosis"),
        ("What is the first-line treatment of hypertension?", "treatment"),
        ("二甲双胍的禁忌症是什么？", "drug"),
        ("2型糖尿病如何诊断？", "diagnosis"),
        ("Who discovered insulin?", "general"),
    ],
)
def test_classify_task(question: str, task: str) -> None:
    assert classify_task(question) == task


def test_prompt_numbers_every_passage() -> None:
    messages = build_messages("q?", _hits(3), "drug")
    assert messages[0]["role"] == "system" and "contraindications" in messages[0]["content"]
    assert all(f"[{i}] Title {i} - Results" in messages[1]["content"] for i in (1, 2, 3))


def test_a_refusal_added_after_an_answer_drops_only_that_sentence() -> None:
    hits = [Hit("c1", "d1", "Metformin is contraindicated when eGFR is below 30 mL/min/1.73 m2.", 0.8)]
    claim = "Metformin is contraindicated when eGFR is below 30 mL/min/1.73 m2 [1]."
    answer = compose_answer(
        "When is metformin contraindicated?", hits, _Fixed(claim + " The passages do not mention doses."), min_score=0.3
    )
    assert not answer.abstained and answer.text == claim


def _metformin_hits(score: float) -> list[Hit]:
    texts = [
        "Metformin is contraindicated when the eGFR is below 30 mL/min/1.73 m2. It may cause lactic acidosis.",
        "Insulin is started when oral agents fail.",
    ]
    return [
        Hit(chunk_id=f"c{i}", doc_id=f"d{i}", text=t, score=score, title=f"Label {i}", scores={"dense": score - i / 10})
        for i, t in enumerate(texts)
    ]


def test_a_refusal_over_close_evidence_quotes_it_instead_of_abstaining() -> None:
    question = "When is metformin contraindicated?"
    refusal = _Fixed("The passages do not contain the answer.")
    answer = compose_answer(question, _metformin_hits(0.8), refusal, min_score=0.3, quote_score=0.64)
    assert not answer.abstained
    assert "eGFR is below 30" in answer.text and answer.citations[0].chunk_id == "c0"
    assert any("found the passages insufficient; " in w and "quotes" in w for w in answer.warnings)
    assert all(s.citations for s in answer.sentences)
    # evidence under the quoting threshold, or quoting off (the default): the refusal stands
    for hits, quote_score in ((_metformin_hits(0.6), 0.64), (_metformin_hits(0.8), 1.0)):
        kept = compose_answer(question, hits, refusal, min_score=0.3, quote_score=quote_score)
        assert kept.abstained and "insufficient" in kept.reason
    # nothing in the passages shares a word with the question: nothing to quote, so it abstains
    other = compose_answer(
        "Which vaccine prevents shingles?", _metformin_hits(0.8), refusal, min_score=0.3, quote_score=0.64
    )
    assert other.abstained and "insufficient" in other.reason
