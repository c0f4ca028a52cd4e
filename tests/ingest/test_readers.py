"""Tests for ingest.readers: every built-in format, the registry and the directory walk."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import ingest.readers as readers
from ingest.readers import RecordError, iter_files, load_reader, read_path, register_reader
from ingest.readers.text import TextReader
from kb.core.errors import ReaderError
from kb.core.types import Document
from tests.ingest.fuzz_inputs import make_pdf


def read_all(path: Path) -> list[Document | RecordError]:
    return list(read_path(path))


def only_document(path: Path) -> Document:
    [doc] = read_all(path)
    assert isinstance(doc, Document)
    return doc


# --- text -------------------------------------------------------------------------------------------------------


def test_txt_is_one_document_titled_by_first_line(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("\n\n  Metformin and the kidney  \nBody text.\n", encoding="utf-8")
    doc = only_document(path)
    assert doc.text == "\n\n  Metformin and the kidney  \nBody text.\n"
    assert doc.title == "Metformin and the kidney"
    assert doc.source == str(path)
    assert doc.section_spans()[0].end == len(doc.text)


def test_txt_title_is_cut_to_200_chars_and_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_bytes(b"\xef\xbb\xbf" + b"x" * 300)
    doc = only_document(path)
    assert doc.title == "x" * 200
    assert doc.text == "x" * 300


def test_txt_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9 au lait".encode("latin-1"))  # invalid in GB18030 too: 0xE9 0x20 is no GB18030 pair
    with pytest.raises(ReaderError, match=r"latin1\.txt: not UTF-8 or GB18030 text \(first bad byte at offset 3\)"):
        read_all(path)


CHINESE = "高血压的治疗\n\n高血压患者首先要注意控制食盐摄入量，每天不超过六克。\n"


@pytest.mark.parametrize("name", ["zh.txt", "zh.md"])
def test_gb18030_text_is_detected_and_noted(tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / name
    path.write_bytes(CHINESE.encode("gb18030"))
    with caplog.at_level(logging.INFO, logger="ingest.readers"):
        doc = only_document(path)
    assert doc.text == CHINESE
    assert doc.metadata["encoding"] == "gb18030"
    assert any(r.levelno == logging.INFO and "GB18030" in r.getMessage() for r in caplog.records)
    path.write_bytes(CHINESE.encode("utf-8"))
    assert "encoding" not in only_document(path).metadata


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "SHOUT.TXT"
    path.write_text("hello", encoding="utf-8")
    assert only_document(path).title == "hello"


# --- markdown ---------------------------------------------------------------------------------------------------

MARKDOWN = """---
Title: "Metformin: a review"
source: PubMed Central
published: 2020-05-01
PMID: 123456
---
Intro paragraph before any heading.

# Metformin

Metformin is first-line therapy.

## Contraindications
Severe renal impairment.
```python
# not a heading
```

## Empty

### Dosage ###
500 mg twice daily."""


def test_markdown_front_matter_and_sections(tmp_path: Path) -> None:
    path = tmp_path / "metformin.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = only_document(path)
    assert doc.title == "Metformin: a review"
    assert doc.metadata == {"source": "PubMed Central", "published": "2020-05-01", "pmid": "123456"}
    assert doc.text == MARKDOWN.split("---\n", 2)[2]
    bodies = {s.title: doc.text[s.start : s.end] for s in doc.sections}
    assert [s.title for s in doc.sections] == ["", "Metformin", "Contraindications", "Dosage"]
    assert bodies[""] == "Intro paragraph before any heading.\n\n"
    assert bodies["Metformin"] == "\nMetformin is first-line therapy.\n\n"
    assert bodies["Contraindications"] == "Severe renal impairment.\n```python\n# not a heading\n```\n\n"
    assert bodies["Dosage"] == "500 mg twice daily."


def test_markdown_title_from_first_h1_else_stem(tmp_path: Path) -> None:
    with_h1 = tmp_path / "a.markdown"
    with_h1.write_text("## Sub first\ntext\n# Main Title\nmore\n", encoding="utf-8")
    without = tmp_path / "plain-notes.md"
    without.write_text("just text, no headings\n", encoding="utf-8")
    assert only_document(with_h1).title == "Main Title"
    doc = only_document(without)
    assert doc.title == "plain-notes"
    assert doc.metadata == {}
    assert [(s.title, s.start, s.end) for s in doc.sections] == [("", 0, len(doc.text))]


def test_markdown_unclosed_front_matter_is_text(tmp_path: Path) -> None:
    path = tmp_path / "rule.md"
    path.write_text("---\ntitle: x\nno closing line\n", encoding="utf-8")
    doc = only_document(path)
    assert doc.metadata == {}
    assert doc.text.startswith("---\n")


# --- jsonl ------------------------------------------------------------------------------------------------------


def test_jsonl_good_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a1", "title": "First", "text": "Aspirin.", "pmid": 111, "doi": "10.1/x", "extra": [1]}),
        "{not json",
        "",
        json.dumps(["a", "list"]),
        json.dumps({"title": "no text"}),
        json.dumps({"text": "   "}),
        json.dumps({"text": 42}),
        json.dumps({"text": "No id here.", "url": "https://e.org", "published": "2019", "source": "PubMed"}),
        json.dumps({"id": "a1", "text": "Same id again."}),
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = read_all(path)
    docs = [item for item in items if isinstance(item, Document)]
    errors = [item for item in items if isinstance(item, RecordError)]

    assert [d.source for d in docs] == [f"{path}#a1", f"{path}#L8"]
    assert docs[0].title == "First"
    assert docs[0].metadata == {"id": "a1", "pmid": "111", "doi": "10.1/x", "extra": [1]}
    assert docs[1].metadata == {"url": "https://e.org", "published": "2019", "source": "PubMed"}
    assert [e.source for e in errors] == [f"{path}#L{n}" for n in (2, 4, 5, 6, 7, 9)]
    reasons = [e.reason for e in errors]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "expected a JSON object, got list"
    assert reasons[2] == "missing 'text'"
    assert reasons[3] == "'text' is empty"
    assert reasons[4] == "'text' must be a string, got int"
    assert reasons[5] == "duplicate id 'a1' (first on line 1)"


def test_jsonl_bad_line_does_not_stop_reading(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"text": "caf\xe9"}\n{"text": "ok"}\n')
    first, second = read_all(path)
    assert isinstance(first, RecordError) and "UTF-8" in first.reason
    assert isinstance(second, Document) and second.text == "ok"


# --- pdf --------------------------------------------------------------------------------------------------------


def test_pdf_pages_become_sections(tmp_path: Path) -> None:
    path = tmp_path / "guide.pdf"
    path.write_bytes(make_pdf([["Hello page one", "second line"], ["Page two text"]], title="Diabetes Guide"))
    doc = only_document(path)
    assert doc.title == "Diabetes Guide"
    assert [(s.title, s.page) for s in doc.sections] == [("page 1", 1), ("page 2", 2)]
    first, second = (doc.text[s.start : s.end] for s in doc.sections)
    assert "Hello page one" in first and "second line" in first
    assert second == "Page two text"
    assert doc.text == first + "\n\n" + second
    assert doc.metadata == {"pages": 2}


def test_pdf_title_falls_back_to_first_line(tmp_path: Path) -> None:
    path = tmp_path / "untitled.pdf"
    path.write_bytes(make_pdf([["Hello World"]]))
    assert only_document(path).title == "Hello World"


def test_pdf_repair_warnings_go_to_debug_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad-xref.pdf"
    path.write_bytes(make_pdf([["Hello World"]]).replace(b"startxref\n", b"startxref\n1"))
    with caplog.at_level(logging.DEBUG):
        assert only_document(path).title == "Hello World"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(r.name == "ingest.readers.pdf" and "startxref" in r.getMessage() for r in caplog.records)


def test_pdf_without_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(make_pdf([[]]))
    with pytest.raises(ReaderError, match=r"scan\.pdf: PDF has no extractable text"):
        read_all(path)


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ReaderError, match=r"broken\.pdf: not a readable PDF \("):
        read_all(path)


# --- html -------------------------------------------------------------------------------------------------------

HTML = """<html><head><title>Metformin overview | MedSite</title>
<meta name="date" content="2021-03-04"><link rel="canonical" href="https://example.org/metformin"></head>
<body><nav>Home | About | Contact</nav><article><h1>Metformin overview</h1>
<p>Metformin is a first-line medication for the treatment of type 2 diabetes, particularly in people who are
overweight.</p>
<h2>Contraindications</h2>
<p>It should not be used in people with severe kidney disease or with lactic acidosis.</p>
</article><footer>Copyright 2024 MedSite</footer></body></html>"""


def test_html_main_text_title_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "page.HTM"
    path.write_text(HTML, encoding="utf-8")
    doc = only_document(path)
    assert doc.title == "Metformin overview"
    assert "first-line medication" in doc.text and "lactic acidosis" in doc.text
    assert "Copyright" not in doc.text and "Contact" not in doc.text
    assert doc.metadata["url"] == "https://example.org/metformin"
    assert doc.metadata["published"] == "2021-03-04"
    contraindications = next(s for s in doc.sections if s.title == "Contraindications")
    assert "lactic acidosis" in doc.text[contraindications.start : contraindications.end]


def test_html_in_gb18030_or_a_declared_charset(tmp_path: Path) -> None:
    gb = tmp_path / "zh.html"
    body = "<p>高血压患者首先要注意控制食盐摄入量，每天不超过六克，注意不要吃太油腻的食物，多吃新鲜的绿色蔬菜水果。</p>"
    gb.write_bytes(f"<html><body><article><h1>高血压</h1>{body}</article></body></html>".encode("gb18030"))
    doc = only_document(gb)
    assert "控制食盐摄入量" in doc.text and doc.metadata["encoding"] == "gb18030"
    latin = tmp_path / "fr.html"
    text = (
        "<p>Le m\u00e9decin pr\u00e9conise un traitement de premi\u00e8re intention pour le diab\u00e8te de type 2.</p>"
    )
    page = f'<html><head><meta charset="iso-8859-1"></head><body><article>{text}</article></body></html>'
    latin.write_bytes(page.encode("latin-1"))
    doc = only_document(latin)
    assert "premi\u00e8re intention" in doc.text and doc.metadata["encoding"] == "cp1252"


def test_html_without_main_text(tmp_path: Path) -> None:
    path = tmp_path / "blank.html"
    path.write_text("<html><head><title>Nothing</title></head><body></body></html>", encoding="utf-8")
    with pytest.raises(ReaderError, match=r"blank\.html: no main text found in HTML"):
        read_all(path)


# --- every reader -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.markdown", "a.jsonl", "a.pdf", "a.html", "a.htm"])
@pytest.mark.parametrize("content", [b"", b" \n\t\n"])
def test_empty_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=rf"{name}: empty file"):
        read_all(path)


def test_unknown_extension_names_file_and_supported(tmp_path: Path) -> None:
    path = tmp_path / "table.xlsx"
    path.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(ReaderError, match=r"table\.xlsx: unsupported file type \(extension '\.xlsx'\)") as info:
        read_path(path)
    assert ".jsonl" in str(info.value) and ".pdf" in str(info.value)


# --- registry ---------------------------------------------------------------------------------------------------


def test_register_reader_by_dotted_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_READERS", dict(readers._READERS))
    register_reader("LOG", "ingest.readers.text:TextReader")
    path = tmp_path / "run.log"
    path.write_text("started\n", encoding="utf-8")
    assert only_document(path).title == "started"
    assert ".log" in readers.supported_extensions()
    assert ".log" not in readers.SUPPORTED_EXTENSIONS


def test_load_reader() -> None:
    assert isinstance(load_reader("ingest.readers.text:TextReader"), TextReader)
    with pytest.raises(ReaderError, match=r"expected 'package\.module:ClassName'"):
        load_reader("ingest.readers.text.TextReader")
    with pytest.raises(ReaderError, match="cannot import"):
        load_reader("no_such_module_xyz:Reader")
    with pytest.raises(ReaderError, match="has no attribute"):
        load_reader("ingest.readers.text:Missing")
    with pytest.raises(ReaderError, match=r"has no read\(path\) method"):
        load_reader("json:dumps")


# --- iter_files -------------------------------------------------------------------------------------------------


def test_iter_files_walks_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for rel in ["b.txt", "a/z.md", "a/c/d.jsonl", "a/.hidden.txt", ".git/config", "a/.cache/x.txt", "c.pdf"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x", encoding="utf-8")
    explicit = tmp_path / "a" / ".hidden.txt"
    found = list(iter_files([tmp_path, explicit, tmp_path / "b.txt"]))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/c/d.jsonl",
        "a/z.md",
        "b.txt",
        "c.pdf",
        "a/.hidden.txt",
    ]


def test_iter_files_missing_path_fails_before_yielding(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("x", encoding="utf-8")
    missing = tmp_path / "nope"
    with pytest.raises(ReaderError, match=r"nope: no such file or directory"):
        next(iter_files([tmp_path, missing]))
