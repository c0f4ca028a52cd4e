from __future__ import annotations

import re

from ingest.chunking import Chunker
from kb.core.types import Document, Section


def _words(text: str) -> int:
    return len(re.findall(r"\S+", text))


def test_chunks_respect_size_spans_sections_and_sentences() -> None:
    sentences = [f"Sentence number {i} talks about metformin and kidney function." for i in range(40)]
    body = " ".join(sentences)
    text = "Intro line.\n\n" + body
    doc = Document(
        text=text,
        source="x",
        sections=[Section("Intro", 0, 11), Section("Body", 13, len(text))],
    )
    chunks = Chunker(_words, chunk_tokens=40, overlap=10).chunk(doc)
    assert chunks[0].section == "Intro" and chunks[0].text == "Intro line."
    body_chunks = chunks[1:]
    assert len(body_chunks) > 3
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count <= 40
        assert chunk.doc_id == doc.id
    for chunk in body_chunks:
        assert chunk.section == "Body"
        assert chunk.text.startswith("Sentence") and chunk.text.endswith(".")  # whole sentences
    # consecutive chunks overlap
    assert all(b.start < a.end for a, b in zip(body_chunks, body_chunks[1:], strict=False))


def test_pages_are_kept_and_blank_sections_skipped() -> None:
    text = "Page one text.\n\n   \n\nPage three text."
    doc = Document(
        text=text,
        source="x.pdf",
        sections=[
            Section("page 1", 0, 14, page=1),
            Section("page 2", 14, 21, page=2),
            Section("page 3", 21, 37, page=3),
        ],
    )
    chunks = Chunker(_words, chunk_tokens=50, overlap=0).chunk(doc)
    assert [(c.page, c.text) for c in chunks] == [(1, "Page one text."), (3, "Page three text.")]


def test_chinese_text_splits_on_sentence_marks() -> None:
    text = "二甲双胍禁用于严重肾功能不全。" * 30
    doc = Document(text=text, source="zh")
    chunks = Chunker(len, chunk_tokens=60, overlap=0).chunk(doc)
    assert len(chunks) > 1
    assert all(c.text.endswith("。") and len(c.text) <= 60 for c in chunks)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
