"""What one ``medkb ask`` spends before its first token, step by step, before and after a change, in one run.

    python benchmarks/startup.py [--before REV] [--repeats 3]

Each measurement is a fresh Python process, as a ``medkb ask`` call is, on a knowledge base of the bundled sample
corpus (built by each side's own code, in a temporary directory): importing medkb; opening the knowledge base;
the first search (which loads the embedder, the index and, when the knowledge base holds Chinese passages, the
cross-lingual encoder that scores them for an English question); loading the generator; and, from the start of
``ask``, the first token of the draft and the whole answer. Which models each call loaded is recorded.

``before`` is the code of ``--before`` (a git revision, checked out into a temporary worktree and imported from
there, with the same environment) running its default generator; ``after`` is the working tree running its
default. Figures are medians over ``--repeats`` processes; the note gives the machine. Writes
benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
QUESTION = "What are the contraindications of metformin?"

#: Run in the child process, from the root of the code measured; prints one JSON object of seconds.
CHILD = r"""
import json, sys, time
started = time.perf_counter()
from kb.core.offline import use_offline_environment
use_offline_environment()
from kb import KnowledgeBase
out = {"import_s": time.perf_counter() - started}
mark = time.perf_counter()
kb = KnowledgeBase.open(sys.argv[1])
out["open_s"] = time.perf_counter() - mark
mark = time.perf_counter()
kb.search(sys.argv[2], kb.settings.subject_candidates)
out["first_search_s"] = time.perf_counter() - mark
out["cross_lingual_loaded"] = kb._cross_embedder is not None
mark = time.perf_counter()
generator = kb.generator
generator._load()
out["generator_load_s"] = time.perf_counter() - mark
out["generator"] = f"{type(generator).__name__} {generator.name}"
first = []
mark = time.perf_counter()
answer = kb.ask(sys.argv[2], on_text=lambda piece: first or first.append(time.perf_counter()))
out["ask_first_token_s"] = (first[0] - mark) if first else None
out["ask_total_s"] = time.perf_counter() - mark
out["before_first_token_s"] = (first[0] - started) if first else None
out["abstained"] = answer.abstained
print(json.dumps(out))
"""


#: Builds the sample knowledge base with the code measured (each side stores its own default settings in it).
BUILD = r"""
import sys
from kb.core.offline import use_offline_environment
use_offline_environment()
from kb import KnowledgeBase
with KnowledgeBase.create(sys.argv[1]) as kb:
    kb.ingest([sys.argv[2]])
"""


def _kb(code_root: Path, directory: Path) -> Path:
    if not (directory / "manifest.json").is_file():
        env = {**os.environ, "PYTHONPATH": str(code_root)}
        sample = str(ROOT / "corpora" / "sample")
        subprocess.run([sys.executable, "-c", BUILD, str(directory), sample], cwd=code_root, env=env, check=True)
    return directory


def _run(code_root: Path, kb: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(kb), QUESTION],
        cwd=code_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{code_root}: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in runs[0].items():
        numbers = [r[key] for r in runs if isinstance(r.get(key), float)]
        row[key] = round(statistics.median(numbers), 2) if isinstance(value, float) and numbers else value
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="bafca56", help="the git revision measured as 'before'")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {"question": QUESTION, "before_revision": args.before, "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="medkb-before-") as tmp:
        worktree = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.before], cwd=ROOT, check=True)
        try:
            for name, root in (("before", worktree), ("after", ROOT)):
                kb = _kb(root, Path(tmp) / f"{name}-kb")
                _run(root, kb)  # warm the file cache and any one-time conversion
                runs = [_run(root, kb) for _ in range(args.repeats)]
                results[name] = _medians(runs)
                print(name, json.dumps(results[name]), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
