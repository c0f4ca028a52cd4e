"""Incremental re-run: time of ``medkb ingest`` on unchanged inputs as a share of the first run's time.

    python benchmarks/incremental.py [--corpus pubmedqa] [--embedder all-MiniLM-L6-v2]

Runs the real command line twice on a copy of a named corpus into a fresh knowledge base, then once more after
touching the copy (same bytes, new mtime: the file is hashed but not read). Reports wall time of each run (whole
process, model loading included), chunks embedded, and the ratios. Writes ``benchmarks/results/incremental.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _run(cmd: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return seconds, out.stdout


def _chunks_added(summary: str) -> int:
    match = re.search(r"chunks: (\d+) added", summary)
    if match is None:
        raise SystemExit(f"no chunk count in: {summary}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="pubmedqa")
    parser.add_argument("--embedder", default="all-MiniLM-L6-v2")
    args = parser.parse_args()

    import shutil

    from corpora.catalog import get_corpus

    entry = get_corpus(args.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "corpus"
        copy.mkdir()
        for path in entry.local_files():
            if path.is_dir():
                shutil.copytree(path, copy / path.name)
            else:
                shutil.copy2(path, copy / path.name)
        base = [sys.executable, "-m", "kb.cli", "ingest", str(copy), "--reader", entry.reader]
        base += ["--kb", str(Path(tmp) / "kb"), "--no-progress"]
        first_s, first = _run([*base, "--embedder", args.embedder])
        again_s, again = _run(base)
        for file in (p for p in copy.rglob("*") if p.is_file()):
            os.utime(file)  # same bytes, new mtime
        touched_s, touched = _run(base)
    result = {
        "command": "python benchmarks/incremental.py " + " ".join(sys.argv[1:]),
        "corpus": args.corpus,
        "embedder": args.embedder,
        "first": {"seconds": first_s, "chunks_embedded": _chunks_added(first)},
        "unchanged": {"seconds": again_s, "chunks_embedded": _chunks_added(again)},
        "touched": {"seconds": touched_s, "chunks_embedded": _chunks_added(touched)},
        "ratios": {"unchanged_vs_first": again_s / first_s, "touched_vs_first": touched_s / first_s},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "incremental.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        # `python benchmarks/x.py` puts benchmarks/ first on sys.path, where ingest.py would shadow the ``ingest``
        # package: run again with -P, which leaves the script's folder off sys.path.
        os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
    main()
