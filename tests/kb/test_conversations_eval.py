"""``medkb eval conversations``: the bundled set is well formed, and recall@k is counted per system."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kb.core.types import Hit
from kb.evaluation.conversations import CONVERSATIONS, Conversation, evaluate, load_conversations
from kb.evaluation.datasets import EvalError
from retrieval.followup import standalone_question


def test_the_bundled_set_has_forty_or_more_two_turn_conversations_in_both_languages() -> None:
    conversations = load_conversations()
    assert len(conversations) >= 40
    assert {c.language for c in conversations} == {"en", "zh"}
    assert len({c.id for c in conversations}) == len(conversations)
    assert all(g.startswith("medquad:") for c in conversations for g in c.gold)
    assert {c.half for c in conversations} == {"A", "B"}


def test_a_malformed_conversation_is_refused_with_its_id(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "c-x", "language": "en", "turns": ["one only"], "gold": ["k"], "kind": "k"}))
    with pytest.raises(EvalError, match="c-x.*two questions"):
        load_conversations(bad)


class FakeKB:
    """Finds the gold passage only when the query names gout."""

    def search(self, query: str, k: int) -> list[Hit]:
        source = "medquad:gout#treatment" if "gout" in query else "medquad:other"
        return [Hit(chunk_id="c", doc_id="d", text="t", score=1.0, source=source)]

    def standalone_question(self, question: str, history: list[str]) -> str:
        return standalone_question(question, history)


def test_recall_is_counted_for_each_way_of_searching_the_follow_up() -> None:
    conversation = Conversation("c-gout", "en", "What is gout?", "How is it treated?",
                                frozenset({"medquad:gout#treatment"}), "same-subject")
    result: dict[str, Any] = evaluate(FakeKB(), [conversation])  # type: ignore[arg-type]
    assert result["all"]["follow-up"]["recall"] == 0.0
    assert result["all"]["concatenated"]["recall"] == 1.0
    assert result["all"]["rewritten"]["recall"] == 1.0
    assert result["rows"][0]["rewritten_question"] == "How is gout treated?"
    assert CONVERSATIONS.exists()
