"""The medkb command line with the hashing embedder and the echo generator (fast, no models)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kb.cli import main
from tests.fakes import FAKE_MODELS, ingest_with_fakes


def test_ingest_search_ask_stats(tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = tmp_path / "kb"
    assert ingest_with_fakes(kb, docs_dir) == 0
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
    assert ingest_with_fakes(tmp_path / "kb", docs_dir) == 1
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
    args = [
        "ingest",
        "--corpus",
        "sample",
        "--kb",
        str(kb),
        *FAKE_MODELS,
        "--no-progress",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "corpus sample: 40 documents stored (as expected)" in out
    assert main(args) == 0
    assert "0 read, 40 unchanged" in capsys.readouterr().out


def test_ingest_without_inputs_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--kb", str(tmp_path / "kb"), *FAKE_MODELS]) == 2
    assert "nothing to ingest" in capsys.readouterr().err


def test_ask_patient_and_task_flags_parse() -> None:
    from kb.cli import _parser, patient_from_args

    args = _parser().parse_args(
        ["ask", "q?", "--kb", "x", "--age", "67", "--sex", "F", "--pregnant", "--allergy", "penicillin"]
        + ["--allergy", "sulfa drugs", "--med", "warfarin", "--med", "metformin 500 mg", "--condition", "ckd"]
        + ["--patient-note", "lives alone", "--task", "treatment"]
    )
    assert args.task == "treatment"
    patient = patient_from_args(args)
    assert patient is not None
    assert (patient.age, patient.sex, patient.pregnant, patient.notes) == (67, "female", True, "lives alone")
    assert patient.allergies == ["penicillin", "sulfa drugs"]
    assert patient.medications == ["warfarin", "metformin 500 mg"] and patient.conditions == ["ckd"]
    plain = _parser().parse_args(["ask", "q?", "--kb", "x"])
    assert patient_from_args(plain) is None and plain.task is None
    with pytest.raises(SystemExit):
        _parser().parse_args(["ask", "q?", "--kb", "x", "--task", "dose"])


def test_ask_with_a_patient_warns_before_the_answer(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = tmp_path / "kb"
    assert ingest_with_fakes(kb, docs_dir) == 0
    capsys.readouterr()
    ask = ["ask", "penicillin allergy amoxicillin?", "--kb", str(kb), "--generator", "echo", "--allergy", "penicillin"]
    assert main([*ask, "--age", "67", "--json", "--task", "treatment"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["task"] == "treatment" and answer["language"] == "en"
    warning = next(w for w in answer["drug_warnings"] if w["drug"] == "amoxicillin")
    assert (warning["drug"], warning["kind"], warning["patient_item"]) == ("amoxicillin", "allergy", "penicillin")
    assert warning["source"] and warning["reference"]
    assert answer["sentences"] and all(s["citations"] and s["support"] > 0 for s in answer["sentences"])

    assert main(ask) == 0
    out = capsys.readouterr().out
    assert out.index("DRUG WARNINGS") < out.index("! [allergy] amoxicillin") < out.index("Sources:")
    assert out.index("[r1] FDA labelling of beta-lactam") < out.index("Sources:")

    assert (
        main(["ask", "青霉素过敏能用阿莫西林吗？", "--kb", str(kb), "--generator", "echo", "--allergy", "青霉素"]) == 0
    )
    out = capsys.readouterr().out
    assert "药物警示" in out and "阿莫西林属于青霉素类" in out


def test_a_bad_patient_flag_is_a_one_line_error(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = tmp_path / "kb"
    assert ingest_with_fakes(kb, docs_dir / "asthma.txt") == 0
    capsys.readouterr()
    assert main(["ask", "q?", "--kb", str(kb), "--generator", "echo", "--age", "300"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("medkb: error: patient age 300") and "\n" not in err


def test_label_warnings_show_where_they_come_from() -> None:
    from kb.cli import render_drug_warnings
    from kb.core.types import DrugWarning

    label = DrugWarning(
        "atorvastatin",
        "interaction",
        "The Drug Interactions section of the LIPITOR label mentions 'Clarithromycin'.",
        "clarithromycin",
        "dailymed:abc",
        doc_id="d0c",
        title="LIPITOR",
        section="Drug Interactions",
        start=120,
        end=170,
        quote="Clarithromycin raises atorvastatin exposure.",
    )
    table = DrugWarning(
        "amoxicillin", "allergy", "amoxicillin is ...", "penicillin", "medkb drug-class table", reference="R"
    )
    lines = render_drug_warnings([label, table, table])
    assert lines[0].startswith("DRUG WARNINGS")
    assert "    source: LIPITOR - Drug Interactions, chars 120-170 (dailymed:abc, document d0c)" in lines
    assert '    "Clarithromycin raises atorvastatin exposure."' in lines
    assert lines.count("    source: medkb drug-class table [r1]") == 2 and lines.count("[r1] R") == 1
    assert render_drug_warnings([]) == []
    assert render_drug_warnings([table], "zh")[0].startswith("药物警示")


def test_ask_streams_the_draft_before_the_verified_answer(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = tmp_path / "kb"
    assert ingest_with_fakes(kb, docs_dir) == 0
    capsys.readouterr()
    ask = ["ask", "penicillin allergy amoxicillin?", "--kb", str(kb), "--generator", "echo"]
    assert main([*ask, "--stream"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Draft (being checked against the passages")
    assert out.index("Draft") < out.index("-" * 40) < out.index("Sources:")
    assert main([*ask, "--no-stream"]) == 0
    assert "Draft" not in capsys.readouterr().out
    assert main([*ask]) == 0  # not a terminal: no draft by default
    assert "Draft" not in capsys.readouterr().out


def test_search_and_ask_bound_k_and_the_question(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--k 0`` was silently read as the default 10; ``--k 100000`` and a 100,000-character question ran for
    minutes. Each is now refused with one line naming the value and the range expected."""
    kb = tmp_path / "kb"
    assert ingest_with_fakes(kb, docs_dir) == 0
    capsys.readouterr()
    assert main(["search", "penicillin", "--kb", str(kb), "--k", "0"]) == 2
    assert "k=0: expected a whole number from 1 to 10000" in capsys.readouterr().err
    assert main(["search", "penicillin", "--kb", str(kb), "--k", "100000"]) == 2
    assert main(["ask", "penicillin?", "--kb", str(kb), "--generator", "echo", "--k", "100000"]) == 2
    assert "k=100000: expected a whole number of passages from 1 to 50" in capsys.readouterr().err
    assert main(["ask", "why " * 25_000, "--kb", str(kb), "--generator", "echo"]) == 2
    assert "question of 100,000 characters: expected at most 4,000" in capsys.readouterr().err
    assert main(["search", "penicillin", "--kb", str(kb), "--k", "3", "--json"]) == 0


@pytest.mark.parametrize("encoder", ["", "hashing"])
def test_ingest_chooses_the_cross_lingual_encoder_of_a_new_knowledge_base(
    tmp_path: Path, docs_dir: Path, encoder: str
) -> None:
    from kb import KnowledgeBase

    kb = tmp_path / "kb"
    argv = ["ingest", str(docs_dir), "--kb", str(kb), "--embedder", "hashing", "--no-progress"]
    assert main([*argv, "--cross-lingual-embedder", encoder]) == 0
    with KnowledgeBase.open(kb) as opened:
        assert opened.settings.cross_lingual_embedder == encoder
        assert (opened.storage.cross_lingual is None) == (encoder == "")
        assert opened.storage.store.xvectors.count() == (opened.stats()["chunks"] if encoder else 0)
