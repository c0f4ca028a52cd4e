"""De-identification quality on the synthetic labelled clinical notes: recall and precision per identifier kind.

    python benchmarks/deid_eval.py [--split test|dev] [--show-errors]

Reads tests/data/deid/notes_<split>.jsonl (made by tests/data/deid/make_notes.py; tune on dev, report test), runs
``ingest.deid.Deidentifier`` and scores it with ``ingest.deid.evaluate.score``. Rule: a gold identifier counts as
found when at least 50% of its characters are covered by predicted spans of any kind ("lenient"; the typed score
counts only predicted spans of its own kind); a predicted span is correct when at least 50% of its characters are
covered by gold spans. Prints a table and writes the split's figures into benchmarks/results/deid.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "deid"
RESULTS = ROOT / "benchmarks" / "results" / "deid.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["test", "dev"], default="test")
    parser.add_argument("--show-errors", action="store_true", help="print every miss and false positive")
    args = parser.parse_args()

    from ingest.deid import Deidentifier
    from ingest.deid.evaluate import score
    from ingest.deid.names import census_names

    path = DATA / f"notes_{args.split}.jsonl"
    notes = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = score(notes, Deidentifier())
    report = result.to_dict()

    first, last = census_names()
    gold_names = [s["text"] for n in notes for s in n["spans"] if s["kind"] == "NAME"]
    in_census = sum(w.lower() in first or w.lower() in last for w in gold_names)
    report["gold_names_in_census_lists"] = round(in_census / max(len(gold_names), 1), 4)
    held = [n for n in notes if n.get("held_out")]
    if held:
        held_result = score(held, Deidentifier())
        report["held_out_templates"] = {
            "notes": len(held),
            "overall": held_result.overall().to_dict(),
            "overall_typed": held_result.overall(typed=True).to_dict(),
        }
    report["split"] = args.split
    report["rule"] = "found: >=50% of a gold span's characters covered by predicted spans (typed: of its own kind)"

    print(f"split {args.split}: {len(notes)} notes, {report['ms_per_note']} ms per note")
    print(f"{'kind':<11} {'gold':>5} {'recall':>7} {'typed':>7} {'pred':>5} {'precision':>9} {'typed':>7}")
    for kind in sorted(result.lenient, key=lambda k: -result.lenient[k].gold):
        lt, tt = result.lenient[kind], result.typed[kind]
        print(
            f"{kind:<11} {lt.gold:>5} {lt.recall:>7.3f} {tt.recall:>7.3f} {lt.predicted:>5} {lt.precision:>9.3f}"
            f" {tt.precision:>7.3f}"
        )
    o, ot = result.overall(), result.overall(typed=True)
    print(f"{'overall':<11} {o.gold:>5} {o.recall:>7.3f} {ot.recall:>7.3f} {o.predicted:>5} {o.precision:>9.3f}"
          f" {ot.precision:>7.3f}")  # fmt: skip
    if held:
        h = report["held_out_templates"]["overall"]
        print(f"held-out templates only ({len(held)} notes): recall {h['recall']:.3f}, precision {h['precision']:.3f}")
    print(f"gold NAME spans whose word is in the census lists: {report['gold_names_in_census_lists']:.1%}")
    if args.show_errors:
        for miss in result.misses:
            print("MISS", miss)
        for fp in result.false_positives:
            print("FP  ", fp)

    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous[args.split] = report
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        # benchmarks/ingest.py would shadow the ``ingest`` package: run again with -P (script folder off sys.path)
        os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
    main()
