"""Distributed ingestion throughput: a local run against Dask LocalClusters of 1 and 2 worker processes, one run.

    python benchmarks/dask_ingest.py [--corpus $MEDKB_DATA_DIR/pubmedqa/corpus.jsonl] [--limit 400] [--per-file 10]

The first ``--limit`` PubMedQA abstracts are split into JSON Lines files of ``--per-file`` records in a temporary
directory (outside the repository; removed afterwards) and ingested with the ``pubmedqa`` reader into a fresh
knowledge base each time, default settings (all-MiniLM-L6-v2 on ONNX Runtime plus the cross-lingual USEM encoder):
first locally, then through a LocalCluster on 127.0.0.1 with 1 and then 2 worker processes of one thread each.
Encoders are loaded before the clock starts (locally by a warm-up call, on the workers by a warm-up ingest of one
file into a throw-away knowledge base); cluster start-up and that warm-up are reported apart, and so are the
workers' task times (mean per file, and how many computed at once on average). Each run must store the same
documents and chunks. Prints a table and the ratios to the local run; writes
benchmarks/results/dask_ingest.json, with the 1-minute load average after each run (other work on shared cores).
"""

from __future__ import annotations

import os

from kb.core.offline import use_offline_environment

use_offline_environment()

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: PubMedQA abstracts from the evaluation data sets ($MEDKB_DATA_DIR).
DEFAULT_CORPUS = Path(os.environ.get("MEDKB_DATA_DIR", "MEDKB_DATA_DIR-not-set")) / "pubmedqa" / "corpus.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "dask_ingest.json"


def split_corpus(corpus: Path, limit: int, per_file: int, into: Path) -> list[Path]:
    """The first ``limit`` lines of ``corpus`` written unchanged as JSON Lines files of ``per_file`` lines."""
    into.mkdir(parents=True)
    with corpus.open(encoding="utf-8") as fh:
        lines = [line for _, line in zip(range(limit), fh, strict=False)]
    files = []
    for n, start in enumerate(range(0, len(lines), per_file)):
        path = into / f"part{n:04d}.jsonl"
        path.write_text("".join(lines[start : start + per_file]), encoding="utf-8")
        files.append(path)
    return files


def stored(kb_dir: Path) -> tuple[int, int, str]:
    """(documents, chunks, a checksum of the chunk ids) of a knowledge base, to check the runs agree."""
    db = sqlite3.connect(f"file:{kb_dir / 'kb.sqlite'}?mode=ro", uri=True)
    try:
        docs = db.execute("SELECT count(*) FROM documents").fetchone()[0]
        ids = sorted(row[0] for row in db.execute("SELECT id FROM chunks"))
    finally:
        db.close()
    return docs, len(ids), hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def ingest_once(work: Path, name: str, data: Path, scheduler: str | None) -> dict[str, Any]:
    """Ingest ``data`` into a fresh knowledge base; seconds exclude loading the encoders here."""
    from kb import KnowledgeBase

    kb_dir = work / f"kb-{name}"
    with KnowledgeBase.create(kb_dir) as kb:
        kb.embedder.embed_documents(["warm up"])  # the coordinator's encoders: used locally, loaded by `create`
        if kb.cross_embedder is not None:
            kb.cross_embedder.embed_documents(["warm up"])
        start, cpu = time.perf_counter(), time.process_time()
        report = kb.ingest([data], reader="pubmedqa", dask_scheduler=scheduler)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if report.failed:
        raise SystemExit(f"{name}: {report.failed} failures, e.g. {report.failures[:3]}")
    docs, chunks, checksum = stored(kb_dir)
    return {
        "documents": docs,
        "chunks": chunks,
        "chunk_ids_checksum": checksum,
        "seconds": seconds,
        "this_process_cpu_s": cpu,  # local: all the work; through Dask: the coordinator's share
        "load_average_1m_after": os.getloadavg()[0],  # the cores are shared: a high value means others ran too
    }


def ingest_on_cluster(work: Path, data: Path, warm: Path, workers: int) -> dict[str, Any]:
    """Start a LocalCluster of ``workers`` single-thread processes, warm its encoders, and time the ingest."""
    from distributed import Client, LocalCluster, get_task_stream

    from kb import KnowledgeBase

    started = time.perf_counter()
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        cluster_start = time.perf_counter() - started
        started = time.perf_counter()
        with KnowledgeBase.create(work / f"warm-{workers}") as kb:
            kb.ingest([warm], reader="pubmedqa", dask_scheduler=cluster.scheduler_address)
        with Client(cluster.scheduler_address, set_as_default=False) as client, get_task_stream(client) as stream:
            result = ingest_once(work, f"dask-{workers}", data, cluster.scheduler_address)
        result["cluster_start_s"] = cluster_start
        result["worker_warm_up_s"] = time.perf_counter() - started - result["seconds"]
    tasks = [s["stop"] - s["start"] for r in stream.data for s in r["startstops"] if s["action"] == "compute"]
    result["tasks"] = len(tasks)
    result["mean_task_s"] = sum(tasks) / len(tasks)
    # Task-seconds per second of the run: how many workers computed at once, on average.
    result["worker_parallelism"] = sum(tasks) / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=400, help="the first N abstracts (default 400)")
    parser.add_argument("--per-file", type=int, default=10, help="abstracts per file, the unit of work (default 10)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker processes per cluster run")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="medkb-dask-bench-") as tmp:
        work = Path(tmp)
        files = split_corpus(args.corpus, args.limit, args.per_file, work / "data")
        warm = work / "warm"
        split_corpus(args.corpus, 2, 2, warm)
        results["local"] = ingest_once(work, "local", work / "data", None)
        for n in args.workers:
            results[f"dask-{n}"] = ingest_on_cluster(work, work / "data", warm, n)
    local = results["local"]
    print(f"{'run':<8} {'docs':>5} {'chunks':>6} {'seconds':>8} {'docs/s':>7} {'chunks/s':>9} {'vs local':>9}")
    for name, r in results.items():
        if (r["documents"], r["chunks"], r["chunk_ids_checksum"]) != (
            local["documents"],
            local["chunks"],
            local["chunk_ids_checksum"],
        ):
            raise SystemExit(f"{name} stored other documents or chunks than the local run: {r} vs {local}")
        r["docs_per_s"] = r["documents"] / r["seconds"]
        r["chunks_per_s"] = r["chunks"] / r["seconds"]
        r["throughput_vs_local"] = r["chunks_per_s"] / local["chunks_per_s"]
        print(
            f"{name:<8} {r['documents']:>5} {r['chunks']:>6} {r['seconds']:>8.1f} {r['docs_per_s']:>7.1f} "
            f"{r['chunks_per_s']:>9.1f} {r['throughput_vs_local']:>8.2f}x"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "command": "nice -n 10 python benchmarks/dask_ingest.py " + " ".join(sys.argv[1:]),
        "corpus": args.corpus.name,
        "limit": args.limit,
        "per_file": args.per_file,
        "files": len(files),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_1m_before": load_before,
        "python": platform.python_version(),
        "results": results,
    }
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    if not sys.flags.safe_path:
        # Run again with -P: benchmarks/ on sys.path (the script's directory) would let benchmarks/ingest.py shadow
        # the `ingest` package, here and in the spawned Dask workers, which inherit sys.path.
        os.execv(sys.executable, [sys.executable, "-P", __file__, *sys.argv[1:]])
    main()
