"""Translate a file of Chinese questions into English with a bundled generator, to measure whether retrieval over
English literature does better with a machine-translated question than with the cross-lingual encoder.

    python benchmarks/translate_queries.py IN.jsonl OUT.jsonl [--model qwen2.5-coder-0.5b-instruct] [--limit N]
    medkb eval retrieval --dataset medquad --queries OUT.jsonl --systems bm25,dense,hybrid --json

``IN`` holds one ``{"id", "question"}`` object per line (``kb/evaluation/translations/*.zh.jsonl``); ``OUT``
gets the same ids with the model's English, made by `generation.translate.GeneratorTranslator` as
``Settings.translate_model`` makes it (greedy decoding, a fixed instruction and three worked examples, the first
line of the reply). ``medkb eval retrieval --translate MODEL`` measures the same path without a file. Prints the
seconds per question. The translations are machine output, not reviewed; the figures are in docs/retrieval.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from generation.local import TransformersGenerator  # noqa: E402
from generation.translate import GeneratorTranslator  # noqa: E402
from kb.core.model_registry import DEFAULT_GENERATOR  # noqa: E402
from kb.evaluation.datasets import read_jsonl  # noqa: E402

log = logging.getLogger("translate_queries")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="JSONL of {id, question} in Chinese")
    parser.add_argument("target", type=Path, help="where to write the English JSONL")
    parser.add_argument("--model", default=DEFAULT_GENERATOR, help="a registered generator or a local directory")
    parser.add_argument("--limit", type=int, default=None, help="translate the first N questions only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = list(read_jsonl(args.source))
    rows = rows[: args.limit] if args.limit is not None else rows
    generator = TransformersGenerator(args.model, threads=2)
    generator.generate([{"role": "user", "content": "Hi"}], max_tokens=1)  # load outside the timing
    translator = GeneratorTranslator(generator)
    started = time.perf_counter()
    lines = []
    for row in rows:
        english = translator.translate(row["question"])
        lines.append(json.dumps({"id": row["id"], "question": english}, ensure_ascii=False))
        log.info("%s -> %s", row["question"], english)
    args.target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - started
    log.info("%d questions, %.1f s per question (%s)", len(rows), seconds / max(len(rows), 1), args.model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
