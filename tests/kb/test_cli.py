"""The medkb command line with the hashing embedder and the echo generator (fast, no models)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kb.cli import main


def _ingest(kb: Path, *paths: Path) -> int:
    return main(["ingest", *map(str, paths), "--kb", str(kb), "--embedder", "hashing", "--no-progress"])


def test_ingest_search_ask_stats(tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = tmp_path / "kb"
    assert _ingest(kb, docs_dir) == 0
    out = capsys.readouterr().out
    assert "4 added" in out and "0 failed" in out

    assert main(["search", "penicillin allergy", "--kb", str(kb), "--k", "2", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2
    assert {"chunk_id", "doc_id", "title", "score", "text", "pmid", "doi", "url"} <= set(hits[0])
    assert hits[0]["pmid"] == "111"

    assert main(["search", "penicillin", "--kb", str(kb), "--json", "--source", "pubmed", "--until", "2015"]) == 0
    assert [h["title"] for h in json.loads(capsys.readouterr().out)] == ["Warfarin and NSAIDs"]

    assert main(["ask", "penicillin allergy amoxicillin?", "--kb", str(kb), "--json", "--generator", "echo"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert {"question", "answer", "citations", "abstained", "reason", "task", "timings"} <= set(answer)
    assert not answer["abstained"]
    cite = answer["citations"][0]
    assert {"marker", "chunk_id", "doc_id", "title", "pmid", "doi", "url", "section", "start", "end", "quote"} <= set(
        cite
    )
    assert f"[{cite['marker']}]" in answer["answer"]

    assert main(["ask", "penicillin allergy amoxicillin?", "--kb", str(kb), "--generator", "echo"]) == 0
    text = capsys.readouterr().out
    assert "Sources:" in text and "not medical advice" in text

    assert main(["stats", "--kb", str(kb), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 4
    assert main(["check", "--kb", str(kb)]) == 0
    assert main(["reindex", "--kb", str(kb)]) == 0


def test_ingest_with_a_bad_file_exits_non_zero(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (docs_dir / "scan.pdf").write_bytes(b"%PDF-1.4 garbage")
    assert _ingest(tmp_path / "kb", docs_dir) == 1
    captured = capsys.readouterr()
    assert "scan.pdf" in captured.err and "4 added" in captured.out and "1 failed" in captured.out


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "x", "--kb", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("medkb: error:") and "nothing" in err and "\n" not in err
    assert main(["search", "x", "--kb", str(tmp_path), "--filter", "oops"]) == 2
    assert "not a medkb knowledge base" in capsys.readouterr().err


def test_console_script_runs_offline(tmp_path: Path, docs_dir: Path) -> None:
    kb = tmp_path / "kb"
    cmd = [
        sys.executable,
        "-m",
        "kb.cli",
        "ingest",
        str(docs_dir / "asthma.txt"),
        "--kb",
        str(kb),
        "--embedder",
        "hashing",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 added" in done.stdout
    done = subprocess.run([sys.executable, "-m", "kb.cli", "models"], capture_output=True, text=True, timeout=60)
    assert "all-MiniLM-L6-v2" in done.stdout and "qwen2.5-coder-0.5b-instruct" in done.stdout


def test_ingest_a_named_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = tmp_path / "kb"
    args = ["ingest", "--corpus", "sample", "--kb", str(kb), "--embedder", "hashing", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "corpus sample: 40 documents stored (as expected)" in out
    assert main(args) == 0
    assert "0 read, 40 unchanged" in capsys.readouterr().out


def test_ingest_without_inputs_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--kb", str(tmp_path / "kb"), "--embedder", "hashing"]) == 2
    assert "nothing to ingest" in capsys.readouterr().err
