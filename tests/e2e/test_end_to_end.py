"""End to end with the real bundled models: all-MiniLM-L6-v2 and the Qwen2.5-Coder 0.5B generator on transformers
(the runtime that needs no compiler; tests/e2e/test_default_generator.py runs the default, llama.cpp).

The knowledge base is built once per session from a few sample documents; the generator loads once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kb import KnowledgeBase, PatientContext
from kb.core.settings import Settings
from tests.e2e.verified import assert_verified

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
    "zh-penicillin-cephalosporin-allergy.md",
    "community-acquired-pneumonia.md",
]


TRANSFORMERS_05B = Settings(generator="local", generator_model="qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="module")
def real_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase.create(tmp_path_factory.mktemp("e2e") / "kb", TRANSFORMERS_05B)
    report = kb.ingest([SAMPLE / name for name in FILES])
    assert (report.added, report.failed) == (len(FILES), 0)
    yield kb
    kb.close()


def test_search_finds_the_right_document(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("Which kidney function level rules out metformin?", k=3)
    assert hits[0].title.startswith("Metformin")
    doc = real_kb.storage.store.documents.get_document(hits[0].doc_id)
    assert doc is not None and doc.text[hits[0].start : hits[0].end] == hits[0].text
    assert hits[0].metadata["url"].startswith("https://")


def test_filtered_search_keeps_k(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("metformin", k=4, filters={"language": "zh"})
    assert len(hits) == 4 and all(h.metadata["language"] == "zh" for h in hits)


def test_ask_gives_a_cited_answer(real_kb: KnowledgeBase) -> None:
    pieces: list[str] = []
    answer = real_kb.ask("What are the contraindications of metformin?", on_text=pieces.append)
    assert answer.task == "drug" and answer.language == "en"
    assert_verified(real_kb, answer)
    assert answer.timings["generate_s"] > 0 and answer.timings["verify_s"] > 0
    # the draft streamed piece by piece; every kept sentence's words were in it
    draft = "".join(pieces)
    assert len(pieces) > 3 and draft.strip()
    assert all(
        set(re.findall(r"[a-z]{4,}", s.text.lower())) <= set(re.findall(r"[a-z]{4,}", draft.lower()))
        for s in answer.sentences
        if "quotes the best-matching" not in " ".join(answer.warnings)
    )


def test_a_diagnosis_question_is_not_answered_from_the_treatment_passage(real_kb: KnowledgeBase) -> None:
    answer = real_kb.ask("How is type 2 diabetes diagnosed?")
    assert answer.task == "diagnosis"
    assert not answer.abstained, answer.reason  # the sample corpus holds the diagnosis passage
    assert_verified(real_kb, answer)
    assert all("diagnos" in c.quote.lower() for c in answer.citations), answer.text


def test_a_closed_question_gets_option_probabilities(real_kb: KnowledgeBase) -> None:
    from generation.decide import YES_NO_MAYBE, decide

    question = "Is metformin contraindicated when eGFR is below 30 mL/min/1.73 m2?"
    decision = decide(question, real_kb.search(question, 3), real_kb.generator, YES_NO_MAYBE)
    assert set(decision.probabilities) == set(YES_NO_MAYBE) and decision.label in YES_NO_MAYBE
    assert sum(decision.probabilities.values()) == pytest.approx(1.0)


def test_a_chinese_question_is_answered_in_chinese(real_kb: KnowledgeBase) -> None:
    answer = real_kb.ask("二甲双胍的禁忌症是什么？")
    assert (answer.task, answer.language) == ("drug", "zh")
    assert not answer.abstained, answer.reason  # the metformin label's contraindications are in the sample corpus
    assert_verified(real_kb, answer)


def test_a_chinese_question_translated_by_the_real_generator_finds_the_english_evidence(real_kb: KnowledgeBase) -> None:
    question = "哮喘如何诊断？"  # the 0.5B model translates common terms; rare ones need the 1.5B (docs/retrieval.md)
    settings = real_kb.settings
    real_kb.settings = replace(settings, translate_model=settings.generator_model)  # the loaded generator translates
    try:
        english = real_kb.search_text(question)
        hits = real_kb.search(question, 3)
    finally:
        real_kb.settings = settings
    assert english != question and "asthma" in english.lower()
    assert "asthma" in f"{hits[0].title} {hits[0].text}".lower()


def test_a_penicillin_allergy_raises_a_drug_warning(real_kb: KnowledgeBase) -> None:
    patient = PatientContext(allergies=["penicillin"])
    answer = real_kb.ask("Can I give amoxicillin for community-acquired pneumonia?", patient=patient)
    assert answer.task == "drug"
    warning = next(w for w in answer.drug_warnings if w.drug == "amoxicillin")
    assert (warning.kind, warning.patient_item) == ("allergy", "penicillin") and warning.reference
    assert not answer.abstained, answer.reason
    assert_verified(real_kb, answer)
    zh = real_kb.ask("青霉素过敏的患者能用阿莫西林吗？", patient=PatientContext(allergies=["青霉素"]))
    assert any(w.drug == "阿莫西林" and "青霉素类" in w.message for w in zh.drug_warnings)


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
    assert {"question", "answer", "citations", "sentences", "abstained", "reason", "task", "timings"} <= set(payload)
    for citation in payload["citations"]:
        assert f"[{citation['marker']}]" in payload["answer"]
        assert citation["title"].startswith("Metformin")


def test_cli_ask_with_an_allergy_warns_first(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    subprocess.run(
        [sys.executable, "-m", "kb.cli", "ingest", str(SAMPLE / "amoxicillin-penicillin-allergy.md"), "--kb", str(kb)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    question = "Can I give amoxicillin for community-acquired pneumonia?"
    done = subprocess.run(
        [sys.executable, "-m", "kb.cli", "ask", question, "--kb", str(kb), "--allergy", "penicillin", "--age", "67"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.index("DRUG WARNINGS") < out.index("! [allergy] amoxicillin") < out.index("not medical advice")
    assert "Sources:" not in out or out.index("! [allergy] amoxicillin") < out.index("Sources:")
