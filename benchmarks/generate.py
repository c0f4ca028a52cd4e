"""Generation speed of the bundled generators on transformers and on llama.cpp, side by side in one run.

    python benchmarks/generate.py [--tokens 120] [--repeats 2] [--models qwen2.5-coder-0.5b-instruct,...]

One fixed medkb prompt (five quoted passages of the bundled sample corpus and a drug question, as `medkb ask` builds
it) is answered greedily with exactly ``--tokens`` new tokens (the end of the answer suppressed) by each model on
each runtime: transformers (bf16, ``generation.local.TransformersGenerator``, the shipped runtime) and llama.cpp
(``llama-cpp-python`` on the same GGUF file, 2 threads, its prompt cache reset before every answer), streaming, so
that the time to the first token (the prompt's processing) and the tokens per second after it are measured apart.
A runtime that is not installed, or a model whose weights are not, is reported as such, not skipped silently.
Figures are medians over ``--repeats`` after one warm-up answer, with the load time; ratios are llama.cpp's
tokens/s over transformers' for the same model. Writes benchmarks/results/generate.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kb.core.offline import use_offline_environment

use_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODELS = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")

Stream = Callable[[list[dict[str, str]], int], Iterator[str]]


def _prompt() -> list[dict[str, str]]:
    from generation.prompts import build_messages
    from kb.core.types import Hit

    texts = [p.read_text(encoding="utf-8")[:900] for p in sorted((ROOT / "corpora" / "sample").glob("*.md"))[:5]]
    hits = [Hit(f"c{i}", f"d{i}", text, 0.9, title=f"Passage {i}") for i, text in enumerate(texts, start=1)]
    return build_messages("What are the contraindications of metformin?", hits, "drug")


def _transformers(model: str) -> tuple[Stream, Callable[[str], int]]:
    import threading

    import torch
    from transformers import TextIteratorStreamer

    from generation.local import TransformersGenerator

    generator = TransformersGenerator(model)
    generator._load()  # noqa: SLF001  (the load is timed apart from the first token)

    def stream(messages: list[dict[str, str]], tokens: int) -> Iterator[str]:
        # Exactly ``tokens`` new tokens (the end-of-answer token suppressed), as on the other runtime.
        kwargs, _ = generator._request(messages, tokens, 0.0)  # noqa: SLF001
        streamer = TextIteratorStreamer(generator._tokenizer, skip_prompt=True)  # noqa: SLF001
        thread = threading.Thread(
            target=lambda: _no_grad(
                torch, generator._model.generate, **kwargs, min_new_tokens=tokens, streamer=streamer
            )  # noqa: SLF001
        )
        thread.start()
        yield from streamer
        thread.join()

    return stream, lambda text: len(generator._tokenizer.encode(text))  # noqa: SLF001


def _no_grad(torch: Any, generate: Callable[..., Any], **kwargs: Any) -> None:
    with torch.inference_mode():
        generate(**kwargs)


def _llama_cpp(model: str) -> tuple[Stream, Callable[[str], int]]:
    from llama_cpp import Llama

    from kb.core.model_registry import assemble_gguf, get_spec

    llm = Llama(model_path=str(assemble_gguf(get_spec(model))), n_ctx=4096, n_threads=2, verbose=False)
    ends = {llm.token_eos(), *llm.tokenize(b"<|im_end|>", add_bos=False, special=True)}

    def stream(messages: list[dict[str, str]], tokens: int) -> Iterator[str]:
        llm.reset()  # no prompt reuse from the previous run: the prompt is processed every time, as in medkb
        for chunk in llm.create_chat_completion(
            messages, max_tokens=tokens, temperature=0.0, stream=True, logit_bias={t: -100.0 for t in ends}
        ):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                yield piece

    return stream, lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=False))


def _measure(
    stream: Stream, count: Callable[[str], int], messages: list[dict[str, str]], tokens: int
) -> dict[str, Any]:
    started = time.perf_counter()
    first: float | None = None
    pieces = []
    for piece in stream(messages, tokens):
        if first is None:
            first = time.perf_counter() - started
        pieces.append(piece)
    total = time.perf_counter() - started
    n = count("".join(pieces))
    after = total - (first or total)
    return {
        "ttft_s": first,
        "total_s": total,
        "tokens": n,
        "tokens_per_s": (n - 1) / after if after > 0 and n > 1 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    messages = _prompt()
    results: dict[str, Any] = {"tokens": args.tokens, "repeats": args.repeats, "runs": {}}
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        for runtime, load in (("transformers", _transformers), ("llama.cpp", _llama_cpp)):
            key = f"{model} / {runtime}"
            try:
                started = time.perf_counter()
                stream, count = load(model)
                loaded = time.perf_counter() - started
            except Exception as exc:  # a runtime or weights not installed: say which
                results["runs"][key] = {"unavailable": f"{type(exc).__name__}: {exc}"[:300]}
                print(f"{key}: unavailable ({type(exc).__name__}: {exc})"[:300], flush=True)
                continue
            _measure(stream, count, messages, args.tokens)  # warm-up
            runs = [_measure(stream, count, messages, args.tokens) for _ in range(args.repeats)]
            row = {"load_s": round(loaded, 2)}
            for field in ("ttft_s", "total_s", "tokens", "tokens_per_s"):
                values = [r[field] for r in runs if r[field] is not None]
                row[field] = round(statistics.median(values), 2) if values else None
            results["runs"][key] = row
            print(f"{key}: {row}", flush=True)
        fast, slow = results["runs"].get(f"{model} / llama.cpp", {}), results["runs"].get(f"{model} / transformers", {})
        if fast.get("tokens_per_s") and slow.get("tokens_per_s"):
            results.setdefault("llama_cpp_speedup", {})[model] = round(fast["tokens_per_s"] / slow["tokens_per_s"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generate.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
