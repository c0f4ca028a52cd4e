"""``medkb eval safety``: the drug-safety warnings against patient scenarios over real FDA labels.

The scenarios (``kb/evaluation/safety/scenarios.jsonl``, written for medkb) each name a drug, a patient (pregnancy, a
condition, an age, a medication or an allergy) and what a careful reader of the drug's label (``label``, under
``$MEDKB_DATA_DIR``) expects: the kinds of warning (``expect``, empty when the label raises nothing) and the patient
fields that cannot be checked (``not_checked``: no label in the knowledge base, or no label section that speaks to
the field). Each carries its half: A for tuning the checks' patterns, B for reporting (fixed by the sha256 of the
id when the set was written). The labels come from ``dailymed_spl`` and ``fda_drug_labels/spl`` under
``$MEDKB_DATA_DIR``, ingested into a temporary knowledge base (the checks read its drug table, not its vectors).

A warning counts for its kind (``cross-reactivity`` as ``allergy``, an interaction found in Contraindications as
``interaction``) when the scenario expects that kind; recall and precision are per kind, with binomial standard
errors. "Not checked" notices are correct when the scenario lists the field as not checked.

The scenarios are a test of medkb's checks, not clinical advice.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from generation.safety import check_drugs, lookup_names
from kb.core.data_dir import data_set_dir
from kb.core.errors import MedkbError
from kb.core.settings import Settings
from kb.core.types import NOT_CHECKED, DrugWarning, PatientContext
from kb.knowledge_base import KnowledgeBase

KINDS = ("allergy", "interaction", "pregnancy", "lactation", "condition", "age")
_CANONICAL = {"cross-reactivity": "allergy", "contraindication": "interaction"}
#: The label folders under $MEDKB_DATA_DIR the scenarios are written over.
LABEL_SETS = ("dailymed_spl", "fda_drug_labels/spl")


@dataclass(frozen=True)
class Scenario:
    id: str
    half: str
    drug: str
    patient: PatientContext
    expect: frozenset[str]
    not_checked: frozenset[str]
    label: str = ""


@dataclass
class Outcome:
    """What the checks said for one scenario."""

    scenario: Scenario
    kinds: frozenset[str]
    not_checked: frozenset[str]
    warnings: list[DrugWarning] = field(default_factory=list)


def load_scenarios(path: Path | None = None) -> list[Scenario]:
    """The scenarios of ``path`` (default: the set shipped with medkb); a line that is not a scenario is an error
    naming the file and line."""
    source = path or Path(str(resources.files("kb.evaluation") / "safety" / "scenarios.jsonl"))
    out = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row: dict[str, Any] = json.loads(line)
            unknown = set(row["expect"]) - set(KINDS)
            if unknown or row["half"] not in ("A", "B"):
                raise ValueError(f"kinds {sorted(unknown)} or half {row['half']!r}")
            out.append(
                Scenario(
                    id=str(row["id"]),
                    half=row["half"],
                    drug=str(row["drug"]),
                    patient=PatientContext(**row["patient"]),
                    expect=frozenset(row["expect"]),
                    not_checked=frozenset(row.get("not_checked", ())),
                    label=str(row.get("label", "")),
                )
            )
        except (ValueError, KeyError, TypeError, MedkbError) as exc:
            raise MedkbError(
                f"{source}:{number}: not a safety scenario ({exc}); expected id, half A|B, drug, patient, "
                f"expect (of {', '.join(KINDS)}) and not_checked"
            ) from exc
    return out


def label_kb(directory: Path, root: Path | None = None) -> KnowledgeBase:
    """A knowledge base in ``directory`` of the labels the scenarios are written over."""
    folders = [data_set_dir(name.split("/")[0], root) / Path(*name.split("/")[1:]) for name in LABEL_SETS]
    if missing := [str(f) for f in folders if not f.is_dir()]:
        raise MedkbError(f"the safety scenarios need the FDA labels in {', '.join(missing)}")
    kb = KnowledgeBase.create(directory, Settings(embedder="hashing", cross_lingual_embedder=""))
    kb.ingest(folders)
    return kb


def run(kb: KnowledgeBase, scenarios: Sequence[Scenario]) -> list[Outcome]:
    """Check every scenario's drug for its patient against ``kb``'s drug labels."""
    out = []
    table = kb.storage.store.drugs
    for s in scenarios:
        labels = table.drug_labels_for(lookup_names([s.drug], s.patient))
        warnings = check_drugs([s.drug], s.patient, labels)
        kinds = frozenset(_CANONICAL.get(w.kind, w.kind) for w in warnings if w.kind != NOT_CHECKED)
        unchecked = frozenset(w.patient_item for w in warnings if w.kind == NOT_CHECKED)
        out.append(Outcome(s, kinds, unchecked, warnings))
    return out


def score(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Recall and precision per kind of warning, and the share of "not checked" notices that are correct, each with
    its count and binomial standard error."""
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        expected = sum(kind in o.scenario.expect for o in outcomes)
        produced = sum(kind in o.kinds for o in outcomes)
        hits = sum(kind in o.kinds and kind in o.scenario.expect for o in outcomes)
        kinds[kind] = {
            "expected": expected,
            "warned": produced,
            "recall": _proportion(hits, expected),
            "precision": _proportion(hits, produced),
        }
    notices = sum(len(o.not_checked) for o in outcomes)
    correct = sum(len(o.not_checked & o.scenario.not_checked) for o in outcomes)
    owed = sum(len(o.scenario.not_checked) for o in outcomes)
    return {
        "scenarios": len(outcomes),
        "kinds": kinds,
        "not_checked": {
            "notices": notices,
            "correct": _proportion(correct, notices),
            "recall": _proportion(correct, owed),
        },
        "misses": [o.scenario.id for o in outcomes if o.scenario.expect - o.kinds],
        "false_alarms": [o.scenario.id for o in outcomes if o.kinds - o.scenario.expect],
    }


def evaluate(split: str = "B", *, root: Path | None = None, scenarios: Path | None = None) -> dict[str, Any]:
    """Build the label knowledge base, run the scenarios of ``split`` (A, B or all) and score them."""
    chosen = [s for s in load_scenarios(scenarios) if split == "all" or s.half == split]
    if not chosen:
        raise MedkbError(f"no safety scenario in split {split!r}; expected A, B or all")
    with tempfile.TemporaryDirectory(prefix="medkb-safety-") as tmp:
        kb = label_kb(Path(tmp) / "kb", root)
        try:
            return {"split": split} | score(run(kb, chosen))
        finally:
            kb.close()


def _proportion(k: int, n: int) -> dict[str, float | int | None]:
    if n == 0:
        return {"value": None, "se": None, "n": 0}
    p = k / n
    return {"value": round(p, 4), "se": round(math.sqrt(p * (1 - p) / n), 4), "n": n}
