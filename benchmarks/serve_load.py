"""``medkb serve`` under load on 127.0.0.1: concurrent searches, then a burst of chat clients, and the server's memory.

    python benchmarks/serve_load.py [--kb DIR] [--search-clients 16] [--seconds 60] [--chat-clients 8] [--queue 4]

Starts ``medkb serve`` in a subprocess over ``--kb`` (default: a knowledge base of the bundled sample corpus, built
in a temporary directory with the default models) and its default generator, then:

1. ``--search-clients`` clients each POST ``/v1/search`` (k=5) in a loop for ``--seconds`` seconds, cycling
   through the questions below: requests per second, p50 / p95 latency, errors;
2. ``--chat-clients`` clients each send one streamed ``/v1/chat/completions`` at the same moment: for each one
   served, the time to the first draft piece, to the first piece of the verified message and to the end; how many
   were served and how many were refused with 503 (the queue holds ``--queue`` waiting answers beside the one being
   written);
3. 4 clients searching in a loop while 2 chat requests are answered: the searches' p50 / p95 while an answer is
   being written (searches do not queue behind answers);
4. the server's peak resident memory over the whole run (sampled every 0.2 s with psutil).

Every request goes to 127.0.0.1 only, and every loop is bounded in time. Writes benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
QUESTIONS = [
    "What are the contraindications of metformin?",
    "How is type 2 diabetes diagnosed?",
    "What is the first-line treatment for hypertension?",
    "Can I give amoxicillin to a patient with a penicillin allergy?",
    "How is asthma diagnosed?",
    "What are the symptoms of Lyme disease?",
    "二甲双胍的禁忌症有哪些？",
    "What interacts with warfarin?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_sample_kb(directory: Path) -> Path:
    kb = directory / "kb"
    subprocess.run(
        [sys.executable, "-m", "kb.cli", "ingest", str(ROOT / "corpora" / "sample"), "--kb", str(kb), "--no-progress"],
        check=True,
        cwd=ROOT,
        stdout=sys.stderr,
    )
    return kb


class PeakMemory(threading.Thread):
    """Samples the resident memory of a process and its children until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                rss = self.process.memory_info().rss + sum(c.memory_info().rss for c in self.process.children(True))
            except psutil.Error:
                break
            self.peak = max(self.peak, rss)
            self.stop.wait(0.2)


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (few samples: no interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 4)


async def search_load(url: str, clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def client(n: int, http: httpx.AsyncClient) -> None:
        i = n
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await http.post("/v1/search", json={"query": QUESTIONS[i % len(QUESTIONS)], "k": 5})
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            i += 1

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "per_s": round(len(latencies) / elapsed, 2),
        "p50_s": percentile(latencies, 0.5),
        "p95_s": percentile(latencies, 0.95),
        "errors": errors,
    }


async def chat_burst(url: str, clients: int) -> dict[str, Any]:
    async def client(n: int, http: httpx.AsyncClient) -> dict[str, Any]:
        question = QUESTIONS[n % len(QUESTIONS)]
        body = {"model": "medkb", "stream": True, "messages": [{"role": "user", "content": question}]}
        started = time.perf_counter()
        first_draft = first_content = None
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return {"status": response.status_code, "retry_after": response.headers.get("Retry-After")}
            async for line in response.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line.removeprefix("data: "))
                now = time.perf_counter() - started
                if first_draft is None and "draft" in chunk.get("medkb", {}):
                    first_draft = now
                if first_content is None and chunk["choices"][0]["delta"].get("content"):
                    first_content = now
        return {
            "status": 200,
            "first_draft_s": first_draft,
            "first_content_s": first_content,
            "total_s": time.perf_counter() - started,
        }

    async with httpx.AsyncClient(base_url=url, timeout=1800) as http:
        results = await asyncio.gather(*(client(n, http) for n in range(clients)))
    served = [r for r in results if r["status"] == 200]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1

    def spread(key: str) -> dict[str, float | None]:
        values = [r[key] for r in served if r[key] is not None]
        return {"min": percentile(values, 0), "p50": percentile(values, 0.5), "max": percentile(values, 1)}

    return {
        "clients": clients,
        "statuses": statuses,
        "served": len(served),
        "refused_503": statuses.get("503", 0),
        "first_draft_s": spread("first_draft_s"),
        "first_content_s": spread("first_content_s"),
        "total_s": spread("total_s"),
        "retry_after": sorted({r["retry_after"] for r in results if r.get("retry_after")}),
    }


async def search_during_answers(url: str, search_clients: int, answers: int) -> dict[str, Any]:
    """``search_clients`` clients search in a loop while ``answers`` chat requests are answered; only the searches
    that ran while an answer was still being written count."""
    latencies: list[float] = []
    errors = 0
    writing = asyncio.Event()
    finished = asyncio.Event()

    async def answer(n: int, http: httpx.AsyncClient) -> float:
        body = {"model": "medkb", "messages": [{"role": "user", "content": QUESTIONS[n % len(QUESTIONS)]}]}
        started = time.perf_counter()
        writing.set()
        await http.post("/v1/chat/completions", json=body)
        return time.perf_counter() - started

    async def searcher(n: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        await writing.wait()
        i = n
        while not finished.is_set():
            started = time.perf_counter()
            response = await http.post("/v1/search", json={"query": QUESTIONS[i % len(QUESTIONS)], "k": 5})
            if not finished.is_set():
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
            i += 1

    async with httpx.AsyncClient(base_url=url, timeout=1800) as http:
        searchers = [asyncio.create_task(searcher(n, http)) for n in range(search_clients)]
        answered = await asyncio.gather(*(answer(n, http) for n in range(answers)))
        finished.set()
        await asyncio.gather(*searchers)
    return {
        "search_clients": search_clients,
        "answers": answers,
        "answers_s": [round(a, 1) for a in answered],
        "searches": len(latencies),
        "p50_s": percentile(latencies, 0.5),
        "p95_s": percentile(latencies, 0.95),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=Path, default=None, help="knowledge base (default: the sample, built anew)")
    parser.add_argument("--search-clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--chat-clients", type=int, default=8)
    parser.add_argument("--queue", type=int, default=4)
    parser.add_argument("--generator", default=None, help="generator backend for the server (default: settings)")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        kb = args.kb or build_sample_kb(Path(tmp))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "kb.cli",
            "serve",
            "--kb",
            str(kb),
            "--port",
            str(port),
            "--queue",
            str(args.queue),
        ]
        command += ["--generator", args.generator] if args.generator else []
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        started = time.perf_counter()
        server = subprocess.Popen(command, cwd=ROOT, env=env)
        memory = PeakMemory(server.pid)
        memory.start()
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("medkb serve did not start")
                time.sleep(0.5)
            ready_s = time.perf_counter() - started
            generator = httpx.get(f"{url}/v1/models").json()["data"][0]["medkb"]["generator"]
            search = asyncio.run(search_load(url, args.search_clients, args.seconds))
            chat = asyncio.run(chat_burst(url, args.chat_clients))
            mixed = asyncio.run(search_during_answers(url, 4, 2))
        finally:
            memory.stop.set()
            server.terminate()
            server.wait(60)
    result = {
        "machine": f"{os.cpu_count()} cores",
        "generator": generator,
        "queue": args.queue,
        "ready_s": round(ready_s, 1),
        "search": search,
        "chat": chat,
        "search_during_answers": mixed,
        "server_peak_rss_mb": round(memory.peak / 2**20),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
