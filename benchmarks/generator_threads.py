"""Generation speed of the default local generator with 1 and 2 torch threads, alone and beside a competing job.

    python benchmarks/generator_threads.py [--tokens 60] [--repeats 2]

The baseline is torch's default (one thread per core, 2 here), which medkb keeps; `Settings.generator_threads=1`
is the alternative for cores shared with other work. One fixed prompt (five quoted passages of the bundled sample
corpus) is answered greedily with at most ``--tokens`` new tokens, first with the cores otherwise idle, then beside
one busy process that stands for another job on the same cores (an ingest, a second medkb). Runs alternate 2, 1,
2, 1 ... threads in one process, so both settings see the same conditions. Figures are seconds per answer (the
same greedy text each time), the median over ``--repeats``, and the ratio of 1 thread's time to 2 threads'.
Writes benchmarks/results/generator_threads.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from pathlib import Path
from typing import Any

from kb.core.offline import use_offline_environment

use_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _busy(stop: Any) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _prompt() -> list[dict[str, str]]:
    from generation.prompts import build_messages
    from kb.core.types import Hit

    texts = [p.read_text(encoding="utf-8")[:900] for p in sorted((ROOT / "corpora" / "sample").glob("*.md"))[:5]]
    hits = [Hit(f"c{i}", f"d{i}", text, 0.9, title=f"Passage {i}") for i, text in enumerate(texts, start=1)]
    return build_messages("What are the contraindications of metformin?", hits, "drug")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    from generation.local import TransformersGenerator

    generator = TransformersGenerator()
    messages = _prompt()

    def speed(threads: int) -> float:
        """Seconds for one greedy answer (the same text every time) with ``threads`` torch threads."""
        torch.set_num_threads(threads)
        started = time.perf_counter()
        generator.generate(messages, max_tokens=args.tokens)
        return time.perf_counter() - started

    answer = generator.generate(messages, max_tokens=args.tokens)
    result: dict[str, Any] = {"max_new_tokens": args.tokens, "answer": answer}
    for condition in ("idle", "beside a busy process"):
        stop = multiprocessing.Event()
        busy = multiprocessing.Process(target=_busy, args=(stop,)) if condition != "idle" else None
        if busy is not None:
            busy.start()
        try:
            runs: dict[int, list[float]] = {2: [], 1: []}
            for _ in range(args.repeats):
                for threads in (2, 1):
                    runs[threads].append(speed(threads))
        finally:
            if busy is not None:
                stop.set()
                busy.join()
        one, two = statistics.median(runs[1]), statistics.median(runs[2])
        result[condition] = {
            "seconds_2_threads": [round(v, 2) for v in runs[2]],
            "seconds_1_thread": [round(v, 2) for v in runs[1]],
            "time_ratio_1_to_2": round(one / two, 2),
        }
        print(f"{condition}: 2 threads {two:.1f} s, 1 thread {one:.1f} s, time ratio {one / two:.2f}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generator_threads.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
