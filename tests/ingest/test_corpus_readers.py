"""Tests for the corpus readers: field-mapped JSON Lines corpora, CSV and archives."""

from __future__ import annotations

import csv
import io
import json
import logging
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

import ingest.readers as readers
from ingest.readers import Deletion, RecordError, read_path, reader_named
from ingest.readers.archive import DAILYMED, PMC_OA, ArchiveReader
from ingest.readers.corpus_jsonl import MEDQUAD, PUBMEDQA, SCIFACT
from ingest.readers.csv import CsvMapping, CsvReader
from kb.core.errors import ReaderError
from kb.core.types import Document
from tests.shared_data import SHARED_DATA

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)


def split(items: list) -> tuple[list[Document], list[RecordError]]:
    return [i for i in items if isinstance(i, Document)], [i for i in items if isinstance(i, RecordError)]


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files go under this folder, so a test can check they were all removed."""
    folder = tmp_path / "tempdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- PubMedQA, SciFact, MedQuAD ---------------------------------------------------------------------------------


@needs_shared
def test_pubmedqa_corpus() -> None:
    docs, errors = split(list(reader_named("pubmedqa").read(SHARED_DATA / "pubmedqa" / "corpus.jsonl")))
    assert (len(docs), errors) == (1000, [])
    doc = docs[0]
    assert doc.source == "pubmedqa:1571683"
    assert doc.title == ""
    assert doc.metadata["pmid"] == "1571683"
    assert doc.metadata["published"] == "1992"
    assert doc.metadata["source_name"] == "PubMedQA"
    assert "Vaccines" in doc.metadata["mesh"]
    assert [s.title for s in doc.sections] == [
        "OBJECTIVE",
        "DESIGN",
        "SETTING",
        "SUBJECTS",
        "MAIN OUTCOME MEASURES",
        "RESULTS",
    ]
    first, second = doc.sections[:2]
    assert doc.text[first.start : first.end] == "To assess quality of storage of vaccines in the community."
    assert doc.text[first.end : second.start] == "\n\n"
    assert doc.sections[-1].end == len(doc.text)


@needs_shared
def test_scifact_corpus() -> None:
    docs, errors = split(list(reader_named("scifact").read(SHARED_DATA / "scifact" / "corpus.jsonl")))
    assert (len(docs), errors) == (5183, [])
    doc = docs[0]
    assert doc.source == "scifact:4983"
    assert doc.title.startswith("Microstructural development of human newborn cerebral white matter")
    assert doc.metadata == {"doc_id": "4983", "source_name": "SciFact", "structured": False}
    assert doc.text.startswith("Alterations of the architecture of cerebral white matter in the developing human brain")
    assert " A line scan diffusion-weighted magnetic resonance imaging (MRI) sequence" in doc.text


@needs_shared
def test_medquad_corpus() -> None:
    docs, errors = split(list(reader_named("medquad").read(SHARED_DATA / "medquad" / "corpus.jsonl")))
    assert (len(docs), errors) == (15217, [])
    doc = docs[0]
    assert doc.source == "medquad:1_CancerGov_QA/0000001_1#1"
    assert doc.title == "Adult Acute Lymphoblastic Leukemia"
    assert doc.metadata == {
        "url": "https://www.cancer.gov/types/leukemia/patient/adult-all-treatment-pdq",
        "focus": "Adult Acute Lymphoblastic Leukemia",
        "qtype": "information",
        "source_name": "CancerGov",
        "passage_id": "1_CancerGov_QA/0000001_1#1",
        "document_id": "1_CancerGov_QA/0000001_1",
    }
    assert [(s.title, s.start, s.end) for s in doc.sections] == [("information", 0, len(doc.text))]
    assert doc.text.startswith("Key Points")


def test_mapped_jsonl_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "pqa.jsonl"
    lines = [
        {"pmid": 1, "contexts": ["A.", "", "B."], "section_labels": ["X", "Y", "Z"], "year": None},
        {"pmid": "2"},
        {"pmid": "3", "contexts": "not a list"},
        {"pmid": 1, "contexts": ["again"]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n[1]\n", encoding="utf-8")
    (doc, *errors) = PUBMEDQA.read(path)
    assert isinstance(doc, Document)
    assert doc.text == "A.\n\nB."
    assert [(s.title, doc.text[s.start : s.end]) for s in doc.sections] == [("X", "A."), ("Z", "B.")]
    assert doc.metadata == {"pmid": "1", "source_name": "PubMedQA"}
    assert [(e.source, e.reason) for e in errors] == [
        (f"{path}#L2", "not a PubMedQA record: missing 'contexts'"),
        (f"{path}#L3", "not a PubMedQA record: 'contexts' must be a list of strings"),
        (f"{path}#L4", "duplicate 'pubmedqa:1' (first on line 1)"),
        (f"{path}#L5", "expected a JSON object, got list"),
    ]


def test_mapped_jsonl_readers_need_their_fields(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"text": "plain jsonl"}) + "\n", encoding="utf-8")
    for reader, reason in [(SCIFACT, "missing 'doc_id'"), (MEDQUAD, "missing 'passage_id'")]:
        [error] = reader.read(path)
        assert isinstance(error, RecordError) and error.reason.endswith(reason)


# --- CSV --------------------------------------------------------------------------------------------------------


def chinese_rows(count: int) -> list[list[str]]:
    """A few rows of the shared Chinese QA CSV (department, title, ask, answer), or stand-ins without it."""
    real = SHARED_DATA / "chinese_medical_qa" / "toyhom_IM_sample_5000-6000.utf8.csv"
    if real.is_file():
        with real.open(encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle)
            return [row for _, row in zip(range(count + 1), rows, strict=False)]
    header = ["department", "title", "ask", "answer"]
    return [header] + [
        ["心血管科", f"高血压问题{i}？", f"我有高血压{i}。", f"高血压患者应控制食盐摄入量{i}。"] for i in range(count)
    ]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def test_csv_gb18030_chinese_default_mapping(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = chinese_rows(5)
    path = tmp_path / "内科.csv"
    write_csv(path, rows, encoding="gb18030")
    with caplog.at_level(logging.INFO, logger="ingest.readers"):
        docs, errors = split(list(read_path(path)))
    assert errors == []
    assert [d.text for d in docs] == [row[3] for row in rows[1:]]
    assert [d.title for d in docs] == [row[1] for row in rows[1:]]
    assert [d.source for d in docs] == [f"{path}#L{n}" for n in range(2, 7)]
    assert docs[0].metadata == {"department": rows[1][0], "ask": rows[1][2], "encoding": "gb18030"}
    assert any("GB18030" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


def test_csv_mapping_joins_text_columns_into_sections(tmp_path: Path) -> None:
    rows = chinese_rows(3)
    path = tmp_path / "qa.csv"
    write_csv(path, rows)
    reader = CsvReader(CsvMapping(text=["ask", "answer"], title="title", metadata=["department"]))
    docs, errors = split(list(reader.read(path)))
    assert errors == [] and len(docs) == 3
    doc = docs[0]
    assert doc.text == rows[1][2] + "\n\n" + rows[1][3]
    assert [(s.title, doc.text[s.start : s.end]) for s in doc.sections] == [("ask", rows[1][2]), ("answer", rows[1][3])]
    assert doc.metadata == {"department": rows[1][0]}  # UTF-8: no encoding noted


def test_csv_semicolon_ids_dates_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "papers.csv"
    rows = [
        ["PMID", "Title", "Abstract", "Year", "Journal"],
        ["111", "Aspirin", "Aspirin inhibits\nplatelets; a multi-line field.", "2001", "BMJ"],
        ["", "No id", "Row without an id.", "", ""],
        ["222", "Empty", "   ", "2003", "Lancet"],
        ["111", "Dup", "Same id again.", "2004", "BMJ"],
        ["333", "Too many", "x", "2005", "BMJ", "extra"],
    ]
    write_csv(path, rows, delimiter=";")
    reader = CsvReader(CsvMapping(published="year"))
    docs, errors = split(list(reader.read(path)))
    assert [d.source for d in docs] == [f"{path}#111", f"{path}#L4"]
    assert docs[0].text == "Aspirin inhibits\nplatelets; a multi-line field."
    assert docs[0].metadata == {"pmid": "111", "journal": "BMJ", "published": "2001"}
    assert [(e.source, e.reason) for e in errors] == [
        (f"{path}#222", "empty text (column 'Abstract')"),
        (f"{path}#111", "duplicate id '111' (first on line 2)"),
        (f"{path}#L7", "row has 6 fields, the header 5"),
    ]


def test_csv_tab_delimited(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id\tbody\tnote\nx1\tTab separated, with a comma.\tn\n", encoding="utf-8")
    [doc] = read_path(path)
    assert isinstance(doc, Document)
    assert (doc.source, doc.text, doc.metadata) == (
        f"{path}#x1",
        "Tab separated, with a comma.",
        {"id": "x1", "note": "n"},
    )


def test_csv_missing_columns_name_the_header(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("department,ask\nA,B\n", encoding="utf-8")
    with pytest.raises(
        ReaderError, match=r"cols\.csv: no text column \(expected one of text, .*; header: department, ask\)"
    ):
        list(read_path(path))
    with pytest.raises(ReaderError, match=r"cols\.csv: no column 'answer' \(header: department, ask\)"):
        list(CsvReader(CsvMapping(text="answer")).read(path))


def test_csv_header_only(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_text("text,title\n\n", encoding="utf-8")
    with pytest.raises(ReaderError, match=r"head\.csv: no rows after the header"):
        list(read_path(path))


def test_csv_long_field_and_bad_line_encoding(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    long_text = "word " * 250_000  # 1.25 MB: over the csv field limit, and the bad byte is past the sniffed MiB
    path.write_bytes(f"text\n{long_text}\n".encode() + b"caf\xe9\nfine\n")
    docs, errors = split(list(read_path(path)))
    assert [d.text for d in docs] == [long_text.strip(), "fine"]
    assert [(e.source, e.reason) for e in errors] == [(f"{path}#L3", "not UTF-8 text (byte 3 of the line)")]


# --- archives ---------------------------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def no_temp_paths(items: list, scratch: Path) -> None:
    """No item names the temporary copies, and none of them is left behind."""
    assert str(scratch) not in repr(items)
    assert list(scratch.iterdir()) == []


def test_zip_members_read_by_their_readers(tmp_path: Path, private_tmp: Path) -> None:
    jsonl = b'{"id": "r1", "text": "Record one."}\n{"text": ""}\n'
    members = {
        "notes/asthma.txt": b"Asthma\nSpirometry confirms it.\n",
        "notes/metformin.md": b"# Metformin\n\nFirst-line.\n",
        "data/records.jsonl": jsonl,
        "images/figure.png": b"\x89PNG\r\n\x1a\n\x00\x00",
        "notes/empty.txt": b"",
        "notes/.hidden.txt": b"hidden",
        "__MACOSX/notes/._asthma.txt": b"\x00\x05\x16\x07",
        "dir/": b"",
    }
    archive = make_zip(tmp_path / "bundle.zip", members)
    items = list(read_path(archive))
    docs, errors = split(items)
    assert [(d.source, d.title) for d in docs] == [
        (f"{archive}!notes/asthma.txt", "Asthma"),
        (f"{archive}!notes/metformin.md", "Metformin"),
        (f"{archive}!data/records.jsonl#r1", ""),
    ]
    assert [(e.source, e.reason) for e in errors] == [
        (f"{archive}!data/records.jsonl#L2", "'text' is empty"),
        (f"{archive}!notes/empty.txt", "empty file"),
    ]
    no_temp_paths(items, private_tmp)


def test_tar_gz_pattern_and_stable_sources(tmp_path: Path, private_tmp: Path) -> None:
    medquad = json.dumps({"passage_id": "p/1#1", "text": "Answer.", "focus": "Asthma", "section": "treatment"})
    members = {
        "pkg/article.txt": b"Article text.\n",
        "pkg/passages.jsonl": medquad.encode() + b"\n",
        "pkg/other.md": b"# Other\n",
    }
    archive = make_tar(tmp_path / "pkg.tgz", members)
    docs, errors = split(list(ArchiveReader(pattern="*.jsonl", reader="medquad").read(archive)))
    assert errors == []
    assert [(d.source, d.title, d.sections[0].title) for d in docs] == [("medquad:p/1#1", "Asthma", "treatment")]
    plain = make_tar(tmp_path / "plain.tar", {"a.txt": b"A text.\n"}, mode="w")
    [doc] = ArchiveReader().read(plain)
    assert isinstance(doc, Document) and doc.source == f"{plain}!a.txt"
    no_temp_paths(docs + [doc], private_tmp)


def test_dailymed_style_nested_zips(tmp_path: Path, private_tmp: Path) -> None:
    inner = {}
    for set_id in ("set-a", "set-b"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as label:
            label.writestr(f"{set_id}.txt", f"Label {set_id}\nIndications.\n")
            label.writestr(f"{set_id}.pdf", b"%PDF-1.4 not read")
            label.writestr("image.jpg", b"\xff\xd8\xff")
        inner[f"prescription/20240101_{set_id}.zip"] = buffer.getvalue()
    archive = make_zip(tmp_path / "dm_spl_release.zip", inner)
    items = list(ArchiveReader(pattern="*.txt").read(archive))
    docs, errors = split(items)
    assert errors == []
    assert [d.source for d in docs] == [
        f"{archive}!prescription/20240101_set-a.zip!set-a.txt",
        f"{archive}!prescription/20240101_set-b.zip!set-b.txt",
    ]
    assert docs[0].title == "Label set-a"
    no_temp_paths(items, private_tmp)
    assert DAILYMED.pattern == "*.xml" and PMC_OA.pattern == "*.nxml"
    assert reader_named("dailymed") is DAILYMED


def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    data = b"deep text"
    name = "leaf.txt"
    for level in range(5):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name, data)
        data, name = buffer.getvalue(), f"level{level}.zip"
    path = tmp_path / "top.zip"
    path.write_bytes(data)
    [error] = read_path(path)
    assert isinstance(error, RecordError)
    assert error.source == f"{path}!level3.zip!level2.zip!level1.zip!level0.zip"
    assert error.reason == "archive nested more than 3 levels deep; skipped"


MEDQUAD_XML = b"""<?xml version="1.0"?><Document id="0000001_1" source="CancerGov" url="https://x.org">
<Focus>Asthma</Focus><QAPairs><QAPair pid="1"><Question qid="q1" qtype="treatment">What treats asthma?</Question>
<Answer>Inhaled steroids treat asthma.</Answer></QAPair></QAPairs></Document>"""
PUBMED_DELETE = b"""<?xml version="1.0"?>
<PubmedArticleSet><DeleteCitation><PMID Version="1">123</PMID></DeleteCitation></PubmedArticleSet>"""


@pytest.mark.skipif(not (Path(readers.__file__).parent / "xml.py").exists(), reason="no XML reader yet")
def test_xml_members_keep_stable_sources(tmp_path: Path, private_tmp: Path) -> None:
    members = {"a/0000001_1.xml": MEDQUAD_XML, "b/update.xml": PUBMED_DELETE, "b/figure.pdf": b"%PDF-1.4"}
    archive = make_zip(tmp_path / "x.zip", members)
    items = list(ArchiveReader(pattern="*.xml").read(archive))
    doc, deletion = items
    assert isinstance(doc, Document) and isinstance(deletion, Deletion)
    assert (doc.source, doc.title, doc.text) == ("medquad:0000001_1#1", "Asthma", "Inhaled steroids treat asthma.")
    assert deletion == Deletion(source="pubmed:123", reason=f"DeleteCitation in {archive}!b/update.xml")
    no_temp_paths(items, private_tmp)


@pytest.mark.skipif(not (Path(readers.__file__).parent / "xml.py").exists(), reason="no XML reader yet")
@needs_shared
def test_dailymed_release_zip_with_a_real_label(tmp_path: Path, private_tmp: Path) -> None:
    label = io.BytesIO()
    with zipfile.ZipFile(label, "w") as archive:
        archive.write(SHARED_DATA / "fda_drug_labels" / "spl" / "cough.xml", "cough.xml")
        archive.writestr("cough-01.jpg", b"\xff\xd8\xff\xe0")
    release = make_zip(tmp_path / "dm_spl_release_human_otc.zip", {"otc/20240101_cough.zip": label.getvalue()})
    items = list(DAILYMED.read(release))
    [doc] = items
    assert isinstance(doc, Document) and doc.source.startswith("dailymed:")
    assert "Cough" in doc.title
    no_temp_paths(items, private_tmp)
    stopped = DAILYMED.read(release)
    next(stopped)
    stopped.close()  # a reader abandoned half-way still removes its temporary copies
    assert list(private_tmp.iterdir()) == []
