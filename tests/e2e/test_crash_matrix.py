"""The crash matrix's CI-sized run (``benchmarks/crash_matrix.py --quick``), with the real bundled encoders: an ingest
killed (SIGKILL) mid-transaction, after a commit but before the vector indexes took it, and while writing a vector
shard of each index, then run again, must leave what an uninterrupted ingest leaves. About 45 s on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: The rows of the quick run (``QUICK`` in the script): (kill point, scenario).
ROWS = [
    ("fts", "empty"),
    ("after-commit", "incremental"),
    ("shard-partial", "empty"),
    ("xl-shard-partial", "incremental"),
]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    out = tmp_path_factory.mktemp("crash") / "crash_matrix.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "crash_matrix.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    return {(row["stage"], row["scenario"]): row for row in rows}


def test_the_quick_run_has_every_row(matrix: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert sorted(matrix) == sorted(ROWS)


@pytest.mark.parametrize(("stage", "scenario"), ROWS, ids=[f"{stage}-{scenario}" for stage, scenario in ROWS])
def test_a_killed_ingest_run_again_matches_an_uninterrupted_one(
    matrix: dict[tuple[str, str], dict[str, Any]], stage: str, scenario: str
) -> None:
    row = matrix[(stage, scenario)]
    result = row["result"]
    assert row["killed"], f"the kill at {stage} #{row['at']} did not fire (exit status {row['kill_rc']})"
    assert row["rerun_rc"] == 0, row["rerun_summary"]
    assert result["docs_match"], f"{result['documents_missing']} documents missing, {result['documents_extra']} extra"
    assert result["chunks_match"], f"{result['chunks_missing']} chunks missing, {result['chunks_extra']} extra"
    assert result["check_ok"], f"rerun: {row['rerun_summary']}\nmedkb check:\n{result['check_output']}"
    assert result["top10_match"], f"top 10 differs for {result['queries_differing']}"
    assert not result["stale_tmp"], f"left behind: {result['stale_tmp']}"
