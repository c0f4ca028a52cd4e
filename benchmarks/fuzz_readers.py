"""The longer fuzz run of every reader (issue 23): inputs tried, outcomes and failures by kind, crashes.

    python benchmarks/fuzz_readers.py [--examples 2000] [--seed N] [-k jsonl]

Runs tests/ingest/test_fuzz_readers.py with ``MEDKB_FUZZ_EXAMPLES`` inputs per reader (and an eighth as many runs of
the ingest pipeline over one mutated file per reader), recording every input's outcome instead of stopping at the
first crash, then sums the records up by reader: outcomes (documents, record errors only, reader error, nothing,
crash), record errors and `ReaderError` messages grouped by a short kind, crashes by exception type and place, the
slowest read and the peak memory. Inputs that crashed are kept in ``benchmarks/results/fuzz_readers.crashes/`` for
reproducing. Writes ``benchmarks/results/fuzz_readers.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TEST = "tests/ingest/test_fuzz_readers.py"
PIPELINE = "(ingest pipeline)"
LIBRARIES = ("hypothesis", "lxml", "pypdf", "trafilatura")

_CLAUSE = re.compile(r" \(|: |; | at | of the line| on line")
_ERROR_TYPE = re.compile(r"\((\w+(?:Error|Exception))\b")


def error_kind(message: str) -> str:
    """A short, stable name for a failure message: its first clause without the file, numbers or quoted values
    (``malformed XML``, ``invalid JSON``, ``not a readable PDF [PdfReadError]``)."""
    message = re.sub(r"^/\S*?: ", "", message)  # the file (or archive!member) it starts with
    head = _CLAUSE.split(message, maxsplit=1)[0]
    head = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", head)
    head = re.sub(r"root <[^>]*>", "root <…>", head)
    head = re.sub(r"\b[0-9a-fA-F]+(?:-[0-9a-fA-F]+){2,}\b", "ID", head)
    head = re.sub(r"(?<![\w-])\d+(?:\.\d+)?\b", "N", head).strip()[:70]
    typed = _ERROR_TYPE.search(message)
    return f"{head} [{typed.group(1)}]" if typed and "PDF" in head else head


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The figures of each reader (target) from the test's per-input records."""
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record["target"] != PIPELINE:
            by_target[record["target"]].append(record)
    figures = {}
    for name, rows in sorted(by_target.items()):
        record_errors: Counter[str] = Counter()
        reader_errors: Counter[str] = Counter()
        crashes: Counter[str] = Counter()
        for row in rows:
            record_errors.update(error_kind(reason) for reason in row.get("record_errors", ()))
            if row.get("reader_error"):
                reader_errors[error_kind(row["reader_error"])] += 1
            if row.get("crash"):
                crashes[row["crash"].split(":", 1)[0]] += 1
        figures[name] = {
            "inputs": len(rows),
            "mean_input_bytes": round(sum(row["bytes"] for row in rows) / len(rows)),
            "outcomes": dict(Counter(row["outcome"] for row in rows).most_common()),
            "documents": sum(row.get("documents", 0) for row in rows),
            "record_errors": dict(record_errors.most_common()),
            "reader_errors": dict(reader_errors.most_common()),
            "crashes": dict(crashes.most_common()),
            "max_seconds": max((row.get("seconds", 0.0) for row in rows), default=0.0),
            "peak_rss_mib": max(row["peak_rss_mib"] for row in rows),
        }
    return figures


def summarise_pipeline(records: list[dict[str, Any]]) -> dict[str, Any]:
    """How the files of the pipeline test's runs ended (one mutated file per reader in each run)."""
    runs = [record["files"] for record in records if record["target"] == PIPELINE]
    ended: Counter[str] = Counter()
    for files in runs:
        ended.update(files)
    return {"runs": len(runs), "files": sum(ended.values()), "files_ended_in": dict(ended.most_common())}


def print_table(figures: dict[str, dict[str, Any]]) -> None:
    columns = {
        "documents": "documents",
        "reader error after documents": "docs+error",
        "record errors only": "rec errors",
        "reader error": "reader err",
        "nothing": "nothing",
        "crash": "crashes",
    }
    print(f"{'reader':<15} {'inputs':>6} " + " ".join(f"{label:>10}" for label in columns.values()) + f" {'max s':>6}")
    for name, row in figures.items():
        counts = " ".join(f"{row['outcomes'].get(kind, 0):>10}" for kind in columns)
        print(f"{name:<15} {row['inputs']:>6} {counts} {row['max_seconds']:>6.2f}")
    print("\nfailures by kind (inputs):")
    for name, row in figures.items():
        failures = Counter(row["reader_errors"]) + Counter(row["record_errors"])
        listed = "; ".join(f"{kind} {count}" for kind, count in failures.most_common(6))
        more = len(failures) - 6
        print(f"  {name}: {listed}" + (f"; {more} more kinds" if more > 0 else ""))
    crashes = {name: row["crashes"] for name, row in figures.items() if row["crashes"]}
    print(f"\ncrashes: {sum(sum(c.values()) for c in crashes.values())}", crashes or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="inputs per reader")
    parser.add_argument("--seed", type=int, default=None, help="other inputs than the derandomized ones")
    parser.add_argument("-k", dest="only", default=None, help="only the readers matching this pytest -k expression")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="medkb-fuzz-") as scratch:
        record = Path(scratch) / "inputs.jsonl"
        env = {**os.environ, "MEDKB_FUZZ_EXAMPLES": str(args.examples), "MEDKB_FUZZ_RECORD": str(record)}
        if args.seed is not None:
            env["MEDKB_FUZZ_SEED"] = str(args.seed)
        selection = "mutated" + (f" and ({args.only})" if args.only else "")
        command = [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider", "-k", selection]
        started = time.perf_counter()
        run = subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if not record.is_file():
            raise SystemExit(f"the fuzz test recorded nothing:\n{run.stdout[-3000:]}{run.stderr[-2000:]}")
        records = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
        kept = record.with_suffix(".crashes")
        if kept.is_dir():
            target = RESULTS / "fuzz_readers.crashes"
            target.mkdir(parents=True, exist_ok=True)
            for path in kept.iterdir():
                (target / path.name).write_bytes(path.read_bytes())
            print(f"crashing inputs kept in {target}")

    figures = summarise(records)
    options = [f"--examples {args.examples}"]
    options += [f"--seed {args.seed}"] if args.seed is not None else []
    options += [f"-k '{args.only}'"] if args.only else []
    result = {
        "command": " ".join(["python benchmarks/fuzz_readers.py", *options]),
        "examples_per_reader": args.examples,
        "seed": args.seed if args.seed is not None else "derandomized",
        "inputs": len(records),
        "crashes": sum(sum(row["crashes"].values()) for row in figures.values()),
        "wall_seconds": round(seconds, 1),
        "pytest_exit_code": run.returncode,
        "python": platform.python_version(),
        "libraries": {name: version(name) for name in LIBRARIES},
        "readers": figures,
        "ingest_pipeline": summarise_pipeline(records),
    }
    print_table(figures)
    print("ingest pipeline:", result["ingest_pipeline"])
    print(f"\n{len(records)} inputs in {seconds:.0f} s; pytest exit code {run.returncode}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz_readers.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
