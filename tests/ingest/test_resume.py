"""`medkb ingest` killed with SIGKILL at arbitrary points, then run again, ends exactly like an uninterrupted run."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ["asthma", "metformin", "warfarin", "sepsis", "gout", "migraine", "anemia", "psoriasis"]


def _corpus(root: Path) -> int:
    """Six JSON Lines files and a few Markdown files: 3,620 documents."""
    root.mkdir()
    rng = random.Random(7)
    n = 0
    for f in range(6):
        lines = []
        for i in range(600):
            words = " ".join(rng.choice(TOPICS) for _ in range(40))
            lines.append(
                json.dumps({"id": f"{f}-{i}", "title": f"Record {f}-{i}", "text": f"Record {f}-{i}. {words}."})
            )
            n += 1
        (root / f"part{f}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for i in range(20):
        (root / f"note{i:02d}.md").write_text(f"# Note {i}\n\n" + " ".join(TOPICS[i % 8 :] * 30) + "\n")
        n += 1
    return n


def _command(src: Path, kb: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "kb.cli",
        "ingest",
        str(src),
        "--kb",
        str(kb),
        "--embedder",
        "hashing",
        "--batch-size",
        "4",
        "--no-progress",
    ]


def _count(kb: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{kb / 'kb.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT count(*) FROM documents").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def _contents(kb: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str, int, int]], set[str]]:
    db = sqlite3.connect(kb / "kb.sqlite")
    docs = set(db.execute("SELECT id, source FROM documents"))
    chunks = set(db.execute("SELECT id, doc_id, start, end FROM chunks"))
    files = {r[0] for r in db.execute("SELECT path FROM files")}
    db.close()
    return docs, chunks, files


@pytest.mark.e2e
def test_sigkill_at_any_point_then_rerun_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    total = _corpus(src)

    reference = tmp_path / "reference"
    done = subprocess.run(_command(src, reference), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    killed = tmp_path / "killed"
    rng = random.Random(11)
    mid_run_kills = 0
    for _attempt in range(6):
        before = _count(killed)
        proc = subprocess.Popen(_command(src, killed), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _count(killed) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            break  # finished before we could kill it
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        mid_run_kills += 0 < _count(killed) < total
    assert mid_run_kills >= 2, "the ingest finished too fast to be killed mid-run"

    final = subprocess.run(_command(src, killed), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr

    ref_docs, ref_chunks, ref_files = _contents(reference)
    got_docs, got_chunks, got_files = _contents(killed)
    assert len(ref_docs) == total
    assert got_docs == ref_docs
    assert got_chunks == ref_chunks
    assert {Path(p).name for p in got_files} == {Path(p).name for p in ref_files}
    for kb in (reference, killed):
        check = subprocess.run(
            [sys.executable, "-m", "kb.cli", "check", "--kb", str(kb)], cwd=ROOT, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
