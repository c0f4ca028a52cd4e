"""Run one ``medkb`` command that SIGKILLs itself at the Nth time it reaches one write stage: the child process of
``benchmarks/crash_matrix.py``. Shipped code has no test hooks, so each stage's function is wrapped from here.

    python benchmarks/crash_kill.py --kill fts:40 -- ingest CORPUS --kb KB --batch-size 32 --no-progress
    python benchmarks/crash_kill.py --count counts.json -- ingest CORPUS --kb KB --batch-size 32 --no-progress

With ``--count`` nothing is killed: the command runs as ``medkb`` would, and how many times it reached each kill point
is written to the file when it ends (the matrix arms the kill at the middle one). `KILL_POINTS` says where each is.
"""

from __future__ import annotations

import os

from kb.core.offline import use_offline_environment

use_offline_environment()

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

#: Where each kill point interrupts a run, in the order a run from an empty directory first reaches them.
KILL_POINTS = {
    "manifest": "manifest.json.tmp is written, before it replaces manifest.json",
    "read": "a reader yields a record, before the pipeline takes it",
    "chunk": "a document is about to be chunked",
    "embed": "the main encoder is about to embed a batch",
    "embed-xl": "the cross-lingual encoder is about to embed a batch",
    "sqlite-insert": "inside a batch's transaction: a chunk row is about to be inserted (earlier rows uncommitted)",
    "fts": "inside a batch's transaction: a chunk's lexical (FTS5) row is about to be inserted",
    "commit": "a batch's COMMIT statement starts",
    "after-commit": "a batch is committed, before the vector indexes are given it",
    "flush": "the vector indexes' flush starts (no shard file written yet)",
    "shard-partial": "a main vector shard's .tmp file is half written (truncated to half, then killed)",
    "shard-replace": "a main vector shard's .tmp file is written, before it replaces the shard",
    "xl-shard-partial": "a cross-lingual shard's .tmp file (vectors/xl/) is half written",
    "xl-shard-replace": "a cross-lingual shard's .tmp file is written, before it replaces the shard",
}

#: Statements of a batch's transaction (`kb.storage.store.Store.write_batch`) that are kill points, by how they begin.
_STATEMENTS = (
    ("sqlite-insert", "INSERT OR IGNORE INTO chunks("),
    ("fts", "INSERT INTO chunks_fts("),
    ("commit", "COMMIT"),
)


class Trap:
    """Counts how often each kill point is reached; kills the process at the armed one's ``at``-th time."""

    def __init__(self, stage: str | None = None, at: int = 0) -> None:
        self.stage = stage
        self.at = at
        self.counts: Counter[str] = Counter()

    def reached(self, stage: str, before_death: Callable[[], None] | None = None) -> None:
        self.counts[stage] += 1
        if stage == self.stage and self.counts[stage] == self.at:
            if before_death is not None:
                before_death()
            os.kill(os.getpid(), signal.SIGKILL)


def _before(owner: Any, name: str, stage: str, trap: Trap) -> None:
    """Wrap ``owner.name`` so that calling it reaches ``stage`` first."""
    real = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        trap.reached(stage)
        return real(*args, **kwargs)

    setattr(owner, name, wrapped)


class _TrappedReader:
    """A reader whose every yielded record reaches the ``read`` kill point."""

    def __init__(self, reader: Any, trap: Trap) -> None:
        self.reader = reader
        self.trap = trap

    def read(self, path: Path) -> Iterator[Any]:
        for item in self.reader.read(path):
            self.trap.reached("read")
            yield item


def _shard_stage(path: str | os.PathLike[str], suffix: str) -> str | None:
    """The kill point of writing the vector shard at ``path`` (a ``.faiss`` file or its ``.tmp``), or None."""
    p = Path(path)
    if not p.name.startswith("flat-") or p.parent.name not in ("vectors", "xl"):
        return None
    return ("xl-" if p.parent.name == "xl" else "") + "shard-" + suffix


def install(trap: Trap) -> None:
    """Wrap every kill point's function so that it reports to ``trap``."""
    import faiss

    from ingest import pipeline
    from ingest.chunking import Chunker
    from kb.core.manifest import MANIFEST
    from kb.storage import Storage
    from kb.storage.store import DB_NAME, Store
    from retrieval.onnx_embedder import OnnxEmbedder
    from retrieval.usem_embedder import UsemEmbedder

    real_reader_for = pipeline.reader_for
    pipeline.reader_for = lambda path: _TrappedReader(real_reader_for(path), trap)  # type: ignore[assignment]
    _before(Chunker, "chunk", "chunk", trap)
    _before(OnnxEmbedder, "embed_documents", "embed", trap)
    _before(UsemEmbedder, "embed_documents", "embed-xl", trap)
    _before(Storage, "flush", "flush", trap)

    def trace(statement: str) -> None:
        for stage, start in _STATEMENTS:
            if statement.lstrip().startswith(start):
                trap.reached(stage)

    real_connect = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = real_connect(database, *args, **kwargs)
        if Path(str(database)).name == DB_NAME:
            db.set_trace_callback(trace)  # called as each statement starts to run
        return db

    sqlite3.connect = connect  # type: ignore[assignment]

    real_write_batch = Store.write_batch

    def write_batch(self: Store, *args: Any, **kwargs: Any) -> Any:
        result = real_write_batch(self, *args, **kwargs)
        trap.reached("after-commit")
        return result

    Store.write_batch = write_batch  # type: ignore[method-assign]

    real_write_index = faiss.write_index

    def write_index(index: Any, path: str, *args: Any) -> None:
        real_write_index(index, path, *args)
        if stage := _shard_stage(path, "partial"):
            trap.reached(stage, lambda: os.truncate(path, os.path.getsize(path) // 2))

    faiss.write_index = write_index

    real_replace = os.replace

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(dst).name == MANIFEST:
            trap.reached("manifest")
        elif stage := _shard_stage(dst, "replace"):
            trap.reached(stage)
        real_replace(src, dst, *args, **kwargs)

    os.replace = replace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--kill", metavar="STAGE:N", help=f"kill at the Nth time STAGE is reached ({', '.join(KILL_POINTS)})"
    )
    how.add_argument("--count", type=Path, metavar="FILE", help="kill nothing; write how often each stage was reached")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the medkb arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    trap = Trap()
    if args.kill:
        stage, _, at = args.kill.partition(":")
        if stage not in KILL_POINTS or not at.isdigit() or int(at) < 1:
            parser.error(f"--kill {args.kill}: expected STAGE:N, STAGE one of {', '.join(KILL_POINTS)}, N >= 1")
        trap = Trap(stage, int(at))
    install(trap)

    from kb.cli import main as medkb

    status = medkb(command)
    if args.count:
        args.count.write_text(json.dumps(dict(sorted(trap.counts.items())), indent=2) + "\n", encoding="utf-8")
    sys.exit(status)


if __name__ == "__main__":
    if not sys.flags.safe_path:
        # Run again with -P: benchmarks/ on sys.path (the script's directory) would let benchmarks/ingest.py shadow
        # the ``ingest`` package.
        os.execv(sys.executable, [sys.executable, "-P", __file__, *sys.argv[1:]])
    main()
