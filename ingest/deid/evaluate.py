"""Score a de-identifier against notes labelled with ``{"start", "end", "kind"}`` spans.

Matching is by character coverage. A gold identifier is *found* when at least half of its characters lie inside
predicted spans (of any kind for the lenient score, of its own kind for the typed score). A predicted span is
*correct* when at least half of its characters lie inside gold spans (any kind / its own kind). Recall is per gold
kind, precision per predicted kind, and "overall" pools all spans (micro average).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.deid.core import Deidentifier

MIN_COVERAGE = 0.5


@dataclass
class Tally:
    gold: int = 0
    found: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "gold": self.gold,
            "found": self.found,
            "recall": round(self.recall, 4),
            "predicted": self.predicted,
            "correct": self.correct,
            "precision": round(self.precision, 4),
        }


@dataclass
class Score:
    """Lenient and typed tallies per kind, plus every miss and false positive for inspection."""

    lenient: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    typed: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    misses: list[dict[str, Any]] = field(default_factory=list)
    false_positives: list[dict[str, Any]] = field(default_factory=list)
    notes: int = 0
    seconds: float = 0.0

    def overall(self, typed: bool = False) -> Tally:
        total = Tally()
        for t in (self.typed if typed else self.lenient).values():
            total.gold += t.gold
            total.found += t.found
            total.predicted += t.predicted
            total.correct += t.correct
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "ms_per_note": round(1000 * self.seconds / max(self.notes, 1), 2),
            "overall": self.overall().to_dict(),
            "overall_typed": self.overall(typed=True).to_dict(),
            "per_kind": {k: self.lenient[k].to_dict() for k in sorted(self.lenient)},
            "per_kind_typed": {k: self.typed[k].to_dict() for k in sorted(self.typed)},
            "misses": self.misses,
            "false_positives": self.false_positives,
        }


def _coverage(start: int, end: int, others: Iterable[tuple[int, int]]) -> float:
    covered = sum(max(0, min(end, e) - max(start, s)) for s, e in others)
    return covered / (end - start) if end > start else 0.0


def score(notes: Iterable[Mapping[str, Any]], deidentifier: Deidentifier | None = None) -> Score:
    """Run ``deidentifier`` on each note's ``text`` and compare with its ``spans``."""
    deid = deidentifier or Deidentifier()
    result = Score()
    for note in notes:
        text = note["text"]
        t0 = time.perf_counter()
        predicted = deid.find(text)
        result.seconds += time.perf_counter() - t0
        result.notes += 1
        gold = [(g["start"], g["end"], g["kind"]) for g in note["spans"]]
        pred = [(p.start, p.end, p.kind) for p in predicted]
        for start, end, kind in gold:
            any_cov = _coverage(start, end, [(s, e) for s, e, _ in pred])
            own_cov = _coverage(start, end, [(s, e) for s, e, k in pred if k == kind])
            for tallies, cov in ((result.lenient, any_cov), (result.typed, own_cov)):
                tallies[kind].gold += 1
                tallies[kind].found += cov >= MIN_COVERAGE
            if any_cov < MIN_COVERAGE:
                result.misses.append({"note": note.get("id"), "kind": kind, "text": text[start:end]})
        for start, end, kind in pred:
            any_cov = _coverage(start, end, [(s, e) for s, e, _ in gold])
            own_cov = _coverage(start, end, [(s, e) for s, e, k in gold if k == kind])
            for tallies, cov in ((result.lenient, any_cov), (result.typed, own_cov)):
                tallies[kind].predicted += 1
                tallies[kind].correct += cov >= MIN_COVERAGE
            if any_cov < MIN_COVERAGE:
                result.false_positives.append({"note": note.get("id"), "kind": kind, "text": text[start:end]})
    return result
