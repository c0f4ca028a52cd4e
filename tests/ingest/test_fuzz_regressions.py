"""The reader bugs the fuzz run found (tests/ingest/test_fuzz_readers.py), each as its minimal input: every one used
to escape the reader as an exception other than `ReaderError`, or to yield what the store cannot hold."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.readers import RecordError, reader_for, reader_named
from kb.core.errors import ReaderError
from kb.core.types import Document
from tests.ingest.fuzz_inputs import JATS, PUBMED, SPL


def _read(path: Path, data: bytes, reader: str | None = None) -> list[Document | RecordError]:
    path.write_bytes(data)
    return list((reader_named(reader) if reader else reader_for(path)).read(path))


# --- JSON Lines: RecursionError, ValueError and lone surrogates -----------------------------------------------------

GOOD_LINE = b'{"text": "the line after is read.", "pmid": "1", "contexts": ["the line after is read."]}\n'


@pytest.mark.parametrize("reader", [None, "pubmedqa"])
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"text": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"text": "x", "n": ' + b"9" * 5000 + b"}", "a number longer than 4300 digits"),
        (b'{"text": "lone \\ud800 surrogate"}', "lone surrogate \\ud800"),
        (b'{"text": "ok", "title": "\\udfff"}', "lone surrogate \\udfff"),
        (b'{"text": "x", "nested": [{"\\udbff": 1}]}', "lone surrogate \\udbff"),
    ],
)
def test_bad_json_line_is_a_record_error_and_the_next_line_is_read(
    tmp_path: Path, reader: str | None, line: bytes, reason: str
) -> None:
    path = tmp_path / "records.jsonl"
    first, second = _read(path, line + b"\n" + GOOD_LINE, reader)
    assert isinstance(first, RecordError) and first.source == f"{path}#L1"
    assert first.reason.startswith("invalid JSON (") and reason in first.reason
    assert isinstance(second, Document) and second.text == "the line after is read."


def test_surrogate_pairs_are_text_not_errors(tmp_path: Path) -> None:
    [doc] = _read(tmp_path / "a.jsonl", b'{"text": "emoji \\ud83d\\ude00", "title": "\\u9ad8"}\n')
    assert isinstance(doc, Document) and doc.text == "emoji \U0001f600" and doc.title == "\u9ad8"


def test_json_error_message_says_at_column_once(tmp_path: Path) -> None:
    [error] = _read(tmp_path / "a.jsonl", b'{"text": "unterminated')
    assert isinstance(error, RecordError)
    assert error.reason == "invalid JSON (Unterminated string starting at column 10)"


# --- XML: digits that str.isdigit() admits and int() refuses ------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<Month>Sep</Month>", b"<Month>\xc2\xb2</Month>"),  # "²" in PubDate
        (b"<Day>3</Day>", b"<Day>\xc2\xb2</Day>"),
        (b"<Month>01</Month>", b"<Month>\xc2\xb2</Month>"),  # in DateRevised, the record's version
        (b"<Year>2024</Year>", b"<Year>" + b"9" * 5000 + b"</Year>"),  # more digits than int() converts
    ],
)
def test_pubmed_odd_date_digits_are_dropped(tmp_path: Path, old: bytes, new: bytes) -> None:
    assert old in PUBMED
    doc = _read(tmp_path / "pubmed.xml", PUBMED.replace(old, new, 1))[0]
    assert isinstance(doc, Document) and doc.source == "pubmed:31000001"
    assert doc.metadata.get("published", "2019").startswith("2019")
    assert doc.metadata.get("version") in (None, 20240115)


def test_jats_odd_month_digit_keeps_the_year(tmp_path: Path) -> None:
    [doc] = _read(tmp_path / "a.nxml", JATS.replace(b"<month>3</month>", b"<month>\xc2\xb2</month>"), "jats")
    assert isinstance(doc, Document) and doc.metadata["published"] == "2021"


@pytest.mark.parametrize("value", [b"\xc2\xb2", b"9" * 5000])
def test_spl_odd_version_number_is_no_version(tmp_path: Path, value: bytes) -> None:
    data = SPL.replace(b'<versionNumber value="7"/>', b'<versionNumber value="' + value + b'"/>')
    [doc] = _read(tmp_path / "label.xml", data, "spl")
    assert isinstance(doc, Document) and doc.source.startswith("dailymed:") and "version" not in doc.metadata


# --- JATS: a record error the store can clear -----------------------------------------------------------------------


def test_jats_empty_article_error_names_the_file(tmp_path: Path) -> None:
    """It was keyed ``pmc:PMC1``: a failure that named no file, and that reading the fixed file never cleared."""
    path = tmp_path / "empty.nxml"
    meta = b'<article-meta><article-id pub-id-type="pmc">PMC1</article-id></article-meta>'
    data = b"<article><front>" + meta + b"</front></article>"
    [error] = _read(path, data, "jats")
    assert error == RecordError(source=str(path), reason="article pmc:PMC1 has no title, abstract or body text")


# --- HTML: a <meta> charset that names a codec but no charset ------------------------------------------------------

PAGE = "<html><head><meta charset='{}'></head><body><article><h1>高血压</h1><p>{}</p></article></body></html>"
BODY = "高血压患者首先要注意控制食盐摄入量，每天不超过六克，注意不要吃太油腻的食物，多吃新鲜的绿色蔬菜水果。"


@pytest.mark.parametrize("charset", ["rot13", "hex", "base64", "undefined"])
def test_html_declared_codec_that_is_no_charset_is_ignored(tmp_path: Path, charset: str) -> None:
    """The page is not UTF-8, so the declared charset is tried: it used to raise LookupError or UnicodeError."""
    [doc] = _read(tmp_path / "page.html", PAGE.format(charset, BODY).encode("gb18030"))
    assert isinstance(doc, Document) and "控制食盐摄入量" in doc.text and doc.metadata["encoding"] == "gb18030"


def test_html_declared_codec_and_undecodable_bytes_is_a_reader_error(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    with pytest.raises(ReaderError, match=r"page\.html: not UTF-8 or GB18030 text"):
        _read(path, PAGE.format("rot13", BODY).encode("gb18030") + b"\xff")


# --- quadratic regular expressions: a long line of blanks took minutes -----------------------------------------------


def _timed_read(path: Path, data: bytes, reader: str | None = None) -> tuple[list[Document | RecordError], float]:
    started = time.perf_counter()
    items = _read(path, data, reader)
    return items, time.perf_counter() - started


def test_markdown_heading_with_a_long_run_of_blanks_reads_in_linear_time(tmp_path: Path) -> None:
    """The heading pattern's lazy title before an optional closing ``#`` sequence backtracked over every blank."""
    line = b"## Iodinated contrast" + b" " * 300_000 + b"surgery ##\n"
    [doc], seconds = _timed_read(tmp_path / "note.md", b"# Note\n\n" + line + b"Body text.\n")
    assert isinstance(doc, Document) and seconds < 2
    assert doc.title == "Note" and [s.title for s in doc.sections] == ["Iodinated contrast" + " " * 300_000 + "surgery"]


def test_spl_long_title_and_class_name_read_in_linear_time(tmp_path: Path) -> None:
    title = b"<title>" + b"See full prescribing information for LISINOPRIL " * 10_000 + b"</title>"
    blanks = b'<code displayName="' + b" " * 300_000 + b'x"/>'
    data = SPL.replace(b"<title>", title + b"<title>", 1).replace(
        b"<generalizedMaterialKind>", b"<generalizedMaterialKind>" + blanks, 1
    )
    [doc], seconds = _timed_read(tmp_path / "label.xml", data, "spl")
    assert isinstance(doc, Document) and seconds < 2
    assert doc.metadata["pharmacologic_classes"] == ["Angiotensin Converting Enzyme Inhibitor"]
