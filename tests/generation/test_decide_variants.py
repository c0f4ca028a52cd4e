"""The PubMedQA variant measurement's scoring: AUC and calibrated accuracy by half, the hidden-state probe, and
its refusal of bad options (the generator itself runs only in the full measurement, not here)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.decide_variants import main, probe, score, shots
from kb.evaluation.qa import ClosedItem, half

QIDS = [str(n) for n in range(40)]
GRID = tuple(float(x) for x in range(-4, 5))  # coarser than the default, for speed


def _probabilities(yes: float) -> dict[str, float]:
    return {"yes": yes, "no": 1.0 - yes - 0.05, "maybe": 0.05}


def test_score_separates_a_model_that_reads_the_evidence_from_one_that_leans() -> None:
    gold = ["yes" if n % 3 else "no" for n in range(40)]
    reads = score([(_probabilities(0.8 if g == "yes" else 0.15), g, q) for g, q in zip(gold, QIDS, strict=True)], GRID)
    leans = score([(_probabilities(0.2), g, q) for g, q in zip(gold, QIDS, strict=True)], GRID)
    assert reads["auc_yes_vs_no"] == 1.0
    assert reads["calibrated_A_to_B"]["accuracy"] == 1.0
    assert reads["calibrated_B_to_A"]["questions"] == sum(half(q) == "A" for q in QIDS)
    assert leans["auc_yes_vs_no"] == 0.5
    assert leans["raw_accuracy"] == pytest.approx(gold.count("no") / 40, abs=1e-3)
    # calibration can only move a constant prediction to another constant: no better than the majority
    for direction in ("calibrated_A_to_B", "calibrated_B_to_A"):
        assert leans[direction]["accuracy"] <= leans[direction]["majority_accuracy"]


def test_score_of_yes_no_questions_uses_the_two_options_only() -> None:
    gold = ["yes" if n % 3 else "no" for n in range(40)]
    rows = [
        ({"yes": 0.7, "no": 0.3} if g == "yes" else {"yes": 0.4, "no": 0.6}, g, q)
        for g, q in zip(gold, QIDS, strict=True)
    ]
    found = score(rows, GRID, options=("yes", "no"))
    assert found["raw_accuracy"] == 1.0
    assert set(found["calibrated_A_to_B"]["predicted"]) == {"yes", "no"}


def test_probe_reads_a_separable_signal_and_skips_a_one_option_half() -> None:
    rng = np.random.default_rng(0)
    gold = ["yes" if n % 2 else "no" for n in range(40)]
    states = rng.normal(size=(40, 8))
    states[:, 0] += np.array([4.0 if g == "yes" else -4.0 for g in gold])
    found = probe(states, gold, QIDS)
    assert found["C=1.0 A_to_B"] >= 0.9 and found["C=1.0 B_to_A"] >= 0.9  # chance is 0.5
    one_option = ["yes" if half(q) == "A" else g for q, g in zip(QIDS, gold, strict=True)]
    assert probe(states, one_option, QIDS)["C=1.0 A_to_B"] is None


def test_few_shot_examples_come_from_the_other_half_one_per_option() -> None:
    items = [ClosedItem(q, f"Question {q}?", ("yes", "no", "maybe")[n % 3]) for n, q in enumerate(QIDS)]
    # abstract length grows with the id, so the shortest of each half and option is its smallest id
    corpus = {q: ([f"Finding {q}. " * (n + 1)], ["RESULTS"]) for n, q in enumerate(QIDS)}
    examples = shots(items, corpus)
    for own, other in (("A", "B"), ("B", "A")):
        shown = sorted(
            (i for i in items if f"Question {i.qid}?" in examples[own]),
            key=lambda i: examples[own].index(f"Question {i.qid}?"),
        )
        assert [i.gold for i in shown] == ["yes", "no", "maybe"]
        assert all(half(i.qid) == other for i in shown)
        for i in shown:
            same = [j for j in items if half(j.qid) == other and j.gold == i.gold]
            assert int(i.qid) == min(int(j.qid) for j in same)
            assert f"Question {i.qid}?\nAnswer (yes, no or maybe): {i.gold}" in examples[own]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--variants", "shipped,bogus"], "expected a comma-separated list"),
        (["--limit", "2"], "at least 4"),
        (["--dataset", "bioasq-yesno", "--variants", "whole"], "shipped, question-first for bioasq-yesno"),
        (["--dataset", "bioasq-yesno", "--variants", "rationale"], "shipped, question-first for bioasq-yesno"),
    ],
)
def test_bad_options_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
