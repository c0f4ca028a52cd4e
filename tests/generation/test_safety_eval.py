"""``medkb eval safety`` end to end on the shipped scenarios over the FDA labels under $MEDKB_DATA_DIR (the CI-sized
run is the whole set: it takes seconds), and its refusal of a malformed scenario file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.cli import main
from kb.core.errors import MedkbError
from kb.evaluation.safety_eval import KINDS, load_scenarios
from tests.shared_data import NEEDS_DATA, SHARED_DATA

HAS_LABELS = (SHARED_DATA / "dailymed_spl").is_dir() and (SHARED_DATA / "fda_drug_labels" / "spl").is_dir()


def test_the_shipped_scenarios_are_a_split_set_over_every_kind() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 60 and len({s.id for s in scenarios}) == len(scenarios)
    for half in ("A", "B"):
        kinds = {k for s in scenarios if s.half == half for k in s.expect}
        assert kinds == set(KINDS), half
        assert any(not s.expect for s in scenarios if s.half == half)  # scenarios where nothing is expected too


def test_a_malformed_scenario_names_its_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "scenarios.jsonl"
    good = {"id": "x", "half": "A", "drug": "ibuprofen", "patient": {"pregnant": True}, "expect": ["pregnancy"]}
    bad.write_text(json.dumps(good) + "\n" + json.dumps(good | {"expect": ["rash"]}) + "\n", encoding="utf-8")
    with pytest.raises(MedkbError, match=rf"{bad.name}:2: not a safety scenario"):
        load_scenarios(bad)


@pytest.mark.skipif(not HAS_LABELS, reason=NEEDS_DATA)
def test_eval_safety_runs_every_scenario(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDKB_DATA_DIR", str(SHARED_DATA))
    assert main(["eval", "safety", "--split", "all", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["scenarios"] == len(load_scenarios())
    for kind in KINDS:
        row = result["kinds"][kind]
        assert row["expected"] > 0 and 0.0 <= row["recall"]["value"] <= 1.0
    # Drugs without a label are always said to be unchecked, field by field: never silence.
    nc = result["not_checked"]
    assert nc["notices"] >= 3 and nc["recall"]["value"] == 1.0
    for case in ("preg-lipitor", "cond-haloperidol-dementia", "int-ibuprofen-warfarin"):  # the silent cases
        assert case not in result["misses"]
