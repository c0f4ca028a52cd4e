"""A long single-line document is chunked window by window in bounded pieces, and one beyond the documented maximum
is refused with one line while the files beside it go in."""

from __future__ import annotations

import random
import string
from pathlib import Path

from ingest.chunking import MAX_DOCUMENT_CHARS, WINDOW_CHARS, Chunker
from kb import KnowledgeBase, Settings
from kb.core.types import Document

FAKE = Settings(embedder="hashing", cross_lingual_embedder="")


def _words(text: str) -> int:
    return len(text.split())


def _covered(doc: Document, chunker: Chunker) -> None:
    """Every chunk is within its limits and at its span, and together they hold every word of the document."""
    chunks = chunker.chunk(doc)
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count <= 50 and len(chunk.text) <= chunker.max_chars
    held = bytearray(len(doc.text))
    for chunk in chunks:
        held[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    assert all(held[i] or doc.text[i].isspace() for i in range(len(doc.text)))


def test_a_single_line_longer_than_a_window_is_chunked_whole() -> None:
    line = " ".join(f"word{i % 97}" for i in range(3 * WINDOW_CHARS // 6))
    assert "\n" not in line and len(line) > 2 * WINDOW_CHARS
    _covered(Document(text="Title\n" + line, source="long.txt"), Chunker(_words, chunk_tokens=50, overlap=5))


def test_one_endless_word_is_cut_into_bounded_chunks() -> None:
    # One token for the tokenizer (an unknown word), a megabyte of characters (never repeating, so that every
    # chunk's place is known): cut by characters.
    rng = random.Random(0)
    doc = Document(text="Title\n" + "".join(rng.choices(string.ascii_letters, k=2**20)), source="a.txt")
    chunker = Chunker(_words, chunk_tokens=50, overlap=5)
    _covered(doc, chunker)
    assert len(chunker.chunk(doc)) >= 2**20 // chunker.max_chars


def test_a_document_beyond_the_maximum_is_refused_and_the_rest_goes_in(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "aaa.txt").write_text("Asthma\n\nAsthma is diagnosed by spirometry.\n", encoding="utf-8")
    (d / "big.txt").write_text("Big\n" + "word " * (MAX_DOCUMENT_CHARS // 5 + 1) + "\n", encoding="utf-8")
    (d / "zzz.txt").write_text("Gout\n\nGout is treated with colchicine.\n", encoding="utf-8")
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        report = kb.ingest([d])
        assert (report.added, report.failed) == (2, 1)
        ((source, reason),) = kb.failures()
        assert source == str(d / "big.txt")
        assert f"more than the {MAX_DOCUMENT_CHARS:,} medkb ingests as one document" in reason
        assert kb.stats()["documents"] == 2
