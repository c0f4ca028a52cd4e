"""Evaluation data sets fetched from their public releases (served here by a local HTTP server, in the releases'
formats but a few records each) and converted into the folders medkb's loaders read, found through the cache when
$MEDKB_DATA_DIR does not hold them."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from corpora import upstream
from corpora.catalog import CorpusError, get_corpus, load_registry
from corpora.cli import add_corpus_parser, run_corpus
from kb.core.data_dir import DATA_DIR_ENV, FETCHABLE, DataDirNotSet, data_set_dir
from kb.evaluation.datasets import load_dataset
from tests.http_server import Server, put

FAST = {"retries": 0, "backoff": 0.0, "timeout": 5.0}


@pytest.fixture
def no_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $MEDKB_DATA_DIR; the cache in ``tmp_path/cache``."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _jsonl(objects: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(o) + "\n" for o in objects).encode()


def _scifact_release() -> bytes:
    corpus = [
        {"doc_id": i, "title": f"Paper {i}", "abstract": [f"Sentence of {i}."], "structured": False} for i in (1, 2, 3)
    ]
    dev = [
        {
            "id": 7,
            "claim": "Aspirin lowers fever.",
            "evidence": {"1": [{"sentences": [0], "label": "SUPPORT"}]},
            "cited_doc_ids": [1],
        },
        {"id": 9, "claim": "Statins cure colds.", "evidence": {}, "cited_doc_ids": [2, 3]},
    ]
    return _tar_gz(
        {
            "data/corpus.jsonl": _jsonl(corpus),
            "data/claims_dev.jsonl": _jsonl(dev),
            "data/claims_train.jsonl": _jsonl([]),
            "data/claims_test.jsonl": _jsonl([{"id": 11, "claim": "Unlabelled claim.", "cited_doc_ids": [3]}]),
        }
    )


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _registry(tmp_path: Path, name: str, urls: list[str]) -> Path:
    """The bundled entry ``name`` with its upstream pointed at the local server."""
    entry = get_corpus(name)
    path = tmp_path / "registry.toml"
    quoted = ", ".join(json.dumps(u) for u in urls)
    path.write_text(
        f'[{name}]\ntitle = "{entry.title}"\npath = "{entry.path}"\nreader = "{entry.reader}"\n'
        f'licence = "{entry.licence}"\nupstream = [{quoted}]\n',
        encoding="utf-8",
    )
    return path


def _cli(*args: str) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    add_corpus_parser(parser.add_subparsers(dest="command"))
    return run_corpus(parser.parse_args(["corpus", *args]))


def test_every_fetchable_data_set_has_an_upstream_and_a_converter() -> None:
    with_upstream = {name for name, entry in load_registry().items() if entry.upstream}
    assert with_upstream == set(FETCHABLE) == set(upstream.CONVERTERS)


def test_missing_data_set_names_the_fetch_command(no_data_dir: Path) -> None:
    with pytest.raises(DataDirNotSet, match=r"MEDKB_DATA_DIR is not set.*`medkb corpus fetch scifact`"):
        data_set_dir("scifact")
    with pytest.raises(DataDirNotSet, match=r"no public download medkb can convert.*MEDKB_DATA_DIR/bioasq/"):
        data_set_dir("bioasq")
    with pytest.raises(CorpusError, match=r"`medkb corpus fetch medquad`"):
        get_corpus("medquad").local_files()


def test_cli_fetches_and_converts_scifact_then_medkb_evaluates_on_it(
    server: Server,
    tmp_path: Path,
    no_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(upstream, "SCIFACT_ABSTRACTS", 3)
    sha = put(server, "release/data.tar.gz", _scifact_release())
    registry = _registry(tmp_path, "scifact", [f"{server.url}/release/data.tar.gz"])
    assert _cli("fetch", "scifact", "--registry", str(registry), "--retries", "0") == 0
    out = no_data_dir / "data" / "scifact"
    assert f"converted into {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "SOURCE.md",
        "claims_dev.jsonl",
        "claims_test_unlabeled.jsonl",
        "corpus.jsonl",
    ]
    assert sha in (out / "SOURCE.md").read_text()
    dataset = load_dataset("scifact")
    assert dataset.queries == {"7": "Aspirin lowers fever.", "9": "Statins cure colds."}
    assert dataset.qrels["9"] == {"scifact:2": 1, "scifact:3": 1}
    assert get_corpus("scifact", extra=registry).local_files() == [out / "corpus.jsonl"]
    # Now present: a second fetch downloads nothing and says where it is.
    assert _cli("fetch", "scifact", "--registry", str(registry)) == 0
    assert "local corpus" in capsys.readouterr().out and len(server.gets("data.tar.gz")) == 1


def test_a_release_with_other_counts_is_refused_and_the_earlier_conversion_kept(
    server: Server, tmp_path: Path, no_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(server, "data.tar.gz", _scifact_release())
    entry = get_corpus("scifact", extra=_registry(tmp_path, "scifact", [f"{server.url}/data.tar.gz"]))
    out = tmp_path / "out"
    out.mkdir()
    (out / "corpus.jsonl").write_text("earlier\n")
    with pytest.raises(
        CorpusError, match=r"data\.tar\.gz: 3 abstracts in corpus\.jsonl, but the release medkb converts has 5,183"
    ):
        upstream.fetch_data_set(entry, tmp_path / "downloads", out=out, **FAST)
    assert (out / "corpus.jsonl").read_text() == "earlier\n" and not (tmp_path / "out.partial").exists()


def test_pubmedqa_release_becomes_a_corpus_without_answers_and_a_dev_set_without_the_official_test(
    server: Server, tmp_path: Path, no_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream, "PUBMEDQA_LABELLED", 3)
    monkeypatch.setattr(upstream, "PUBMEDQA_TEST", 1)
    labelled = {
        str(pmid): {
            "QUESTION": f"Does {pmid} work?",
            "CONTEXTS": ["Background.", "Results."],
            "LABELS": ["BACKGROUND", "RESULTS"],
            "MESHES": ["Humans"],
            "YEAR": "2001",
            "reasoning_required_pred": "yes",
            "reasoning_free_pred": "yes",
            "final_decision": "yes",
            "LONG_ANSWER": "It works.",
        }
        for pmid in (101, 102, 103)
    }
    put(server, "data/ori_pqal.json", json.dumps(labelled).encode())
    put(server, "data/test_ground_truth.json", json.dumps({"103": "yes"}).encode())
    urls = [f"{server.url}/data/ori_pqal.json", f"{server.url}/data/test_ground_truth.json"]
    entry = get_corpus("pubmedqa", extra=_registry(tmp_path, "pubmedqa", urls))
    report = upstream.fetch_data_set(entry, **FAST)
    assert report.dest == no_data_dir / "data" / "pubmedqa"
    corpus = [json.loads(line) for line in (report.dest / "corpus.jsonl").read_text().splitlines()]
    assert [c["pmid"] for c in corpus] == ["101", "102", "103"]
    assert all("question" not in c and "long_answer" not in c and "final_decision" not in c for c in corpus)
    dataset = load_dataset("pubmedqa")
    assert dataset.queries == {"101": "Does 101 work?", "102": "Does 102 work?"}


def _medquad_xml(doc_id: str, focus: str, pairs: list[tuple[str, str, str]]) -> bytes:
    items = "".join(
        f'<QAPair pid="{n}"><Question qid="{doc_id}-{n}" qtype="{qtype}">{question}</Question>'
        f"<Answer>{answer}</Answer></QAPair>"
        for n, (question, qtype, answer) in enumerate(pairs, start=1)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document id="{doc_id}" source="GARD" url="https://example.org/{doc_id}">'
        f"<Focus>{focus}</Focus><QAPairs>{items}</QAPairs></Document>"
    ).encode()


def test_medquad_archive_keeps_answered_pairs_and_groups_questions(
    server: Server, tmp_path: Path, no_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream, "MEDQUAD_ANSWERED", 3)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        top = "MedQuAD-577bd37b"
        z.writestr(f"{top}/readme.txt", "not a data file")
        z.writestr(
            f"{top}/2_GARD_QA/0000001.xml",
            _medquad_xml(
                "0000001",
                "Fabry disease",
                [
                    ("What is (are) Fabry disease ?", "information", "A storage disorder."),
                    ("What are the treatments for Fabry disease ?", "treatment", "Enzyme replacement."),
                ],
            ),
        )
        z.writestr(
            f"{top}/3_GHR_QA/0000002.xml",
            _medquad_xml(
                "0000002",
                "Fabry disease",
                [
                    ("What is (are)  fabry disease ?", "information", "A genetic condition."),
                    ("Is Fabry disease inherited ?", "inheritance", ""),
                ],
            ),
        )
    put(server, "archive/577bd37b.zip", buffer.getvalue())
    entry = get_corpus("medquad", extra=_registry(tmp_path, "medquad", [f"{server.url}/archive/577bd37b.zip"]))
    upstream.fetch_data_set(entry, **FAST)
    dataset = load_dataset("medquad")
    assert len(dataset.queries) == 2  # the empty answer is left out; the two "What is" questions are one
    first = "2_GARD_QA/0000001#1"
    assert dataset.queries[first] == "What is (are) Fabry disease ?"
    assert dataset.qrels[first] == {f"medquad:{first}": 1, "medquad:3_GHR_QA/0000002#1": 1}


def test_a_record_without_its_fields_is_refused_naming_the_file(tmp_path: Path) -> None:
    archive = tmp_path / "data.tar.gz"
    archive.write_bytes(
        _tar_gz(
            {
                "data/corpus.jsonl": _jsonl([{"doc_id": 1, "title": "t", "abstract": ["s."]}]),
                "data/claims_dev.jsonl": _jsonl([]),
                "data/claims_test.jsonl": _jsonl([{"id": 3}]),
            }
        )
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(upstream, "SCIFACT_ABSTRACTS", 1)
        with pytest.raises(CorpusError, match=r"data\.tar\.gz: claims_test\.jsonl: missing claim"):
            upstream.convert_scifact({"data.tar.gz": archive}, tmp_path)
