"""``medkb eval safety``: recall and precision of the drug-safety warnings on patient scenarios over FDA labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kb.evaluation.safety_eval import KINDS, evaluate


def add_safety_parser(eval_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``safety`` to the subparsers of ``medkb eval``."""
    p: argparse.ArgumentParser = eval_subparsers.add_parser(
        "safety",
        help="drug-safety warnings: recall and precision per kind, and correct 'not checked' notices",
        description="Checks the drug of each patient scenario (kb/evaluation/safety/scenarios.jsonl) against the FDA "
        "labels under $MEDKB_DATA_DIR (dailymed_spl, fda_drug_labels/spl). Half A of the scenarios is for tuning, "
        "half B for reporting (see docs/answers.md).",
    )
    p.add_argument("--split", default="B", choices=("A", "B", "all"), help="which half to score (default B)")
    p.add_argument("--scenarios", type=Path, default=None, help="another scenario file in the same format")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_safety)
    return p


def run_safety(args: argparse.Namespace) -> int:
    result = evaluate(args.split, scenarios=args.scenarios)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"safety scenarios, split {result['split']}: {result['scenarios']}")
    print(f"{'kind':12s} {'expected':>8s} {'warned':>7s} {'recall':>15s} {'precision':>15s}")
    for kind in KINDS:
        row = result["kinds"][kind]
        recall, precision = _fmt(row["recall"]), _fmt(row["precision"])
        print(f"{kind:12s} {row['expected']:8d} {row['warned']:7d} {recall:>15s} {precision:>15s}")
    nc = result["not_checked"]
    print(f"'not checked' notices: {nc['notices']}, correct {_fmt(nc['correct'])}, of those owed {_fmt(nc['recall'])}")
    if result["misses"]:
        print("missed: " + ", ".join(result["misses"]))
    if result["false_alarms"]:
        print("false alarms: " + ", ".join(result["false_alarms"]))
    return 0


def _fmt(p: dict[str, Any]) -> str:
    return "-" if p["value"] is None else f"{p['value']:.3f} ± {p['se']:.3f}"
