"""End to end with the real bundled models: all-MiniLM-L6-v2 and the Qwen2.5-Coder 0.5B generator.

The knowledge base is built once per session from a few sample documents; the generator loads once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb import KnowledgeBase

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "corpora" / "sample"
FILES = [
    "metformin.md",
    "type2-diabetes-diagnosis.md",
    "amoxicillin-penicillin-allergy.md",
    "warfarin-interactions.md",
    "asthma.md",
    "zh-metformin-contraindications.md",
]


@pytest.fixture(scope="module")
def real_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase.create(tmp_path_factory.mktemp("e2e") / "kb")
    report = kb.ingest([SAMPLE / name for name in FILES])
    assert (report.added, report.failed) == (len(FILES), 0)
    yield kb
    kb.close()


def test_search_finds_the_right_document(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("Which kidney function level rules out metformin?", k=3)
    assert hits[0].title.startswith("Metformin")
    doc = real_kb.storage.store.get_document(hits[0].doc_id)
    assert doc is not None and doc.text[hits[0].start : hits[0].end] == hits[0].text
    assert hits[0].metadata["url"].startswith("https://")


def test_filtered_search_keeps_k(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("metformin", k=4, filters={"language": "zh"})
    assert len(hits) == 4 and all(h.metadata["language"] == "zh" for h in hits)


def test_ask_gives_a_cited_answer(real_kb: KnowledgeBase) -> None:
    answer = real_kb.ask("What are the contraindications of metformin?")
    assert answer.task == "drug"
    assert not answer.abstained, answer.reason
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers and markers == {c.marker for c in answer.citations}
    given = {h.chunk_id for h in answer.evidence}
    for citation in answer.citations:
        assert citation.chunk_id in given
        doc = real_kb.storage.store.get_document(citation.doc_id)
        assert doc is not None and doc.text[citation.start : citation.end] == citation.quote
    assert answer.timings["generate_s"] > 0


def test_off_topic_question_abstains(real_kb: KnowledgeBase) -> None:
    answer = real_kb.ask("Who won the football world cup in 1998?")
    assert answer.abstained
    assert answer.citations == [] and "not enough evidence" in answer.text


def test_cli_ask_json(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    subprocess.run(
        [sys.executable, "-m", "kb.cli", "ingest", str(SAMPLE / "metformin.md"), "--kb", str(kb)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    done = subprocess.run(
        [sys.executable, "-m", "kb.cli", "ask", "When must metformin be stopped?", "--kb", str(kb), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(done.stdout)
    assert {"question", "answer", "citations", "abstained", "reason", "task", "timings"} <= set(payload)
    for citation in payload["citations"]:
        assert f"[{citation['marker']}]" in payload["answer"]
        assert citation["title"].startswith("Metformin")
