"""Token-aware chunking that keeps each chunk's section and exact character span.

Splitting is done by langchain-text-splitters' recursive splitter, measuring length in the embedder's own tokens
and preferring paragraph, then line, then sentence boundaries; spans are then located in the document text so that
``document.text[chunk.start:chunk.end] == chunk.text`` always holds.

The work is bounded whatever the text: a section longer than `WINDOW_CHARS` is cut into windows at a paragraph,
line, sentence or word boundary before splitting, and a chunk that is short in tokens but long in characters (a
run of one "word" the tokenizer reads as one unknown token) is cut to at most ``chunk_tokens * CHARS_PER_TOKEN``
characters. Documents longer than `MAX_DOCUMENT_CHARS` are refused (`oversize_reason`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from kb.core.types import Chunk, Document

#: Paragraphs, lines, then sentence ends (English and Chinese), then clauses, words, characters.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "。", "？", "！", "; ", "；", ", ", "，", " ", ""]

#: The longest document ingested, in characters (about 8 MiB, some 3,000 pages of prose). A document's chunks are
#: embedded and committed together, so its size bounds the memory an ingest needs; a longer one is refused with one
#: failure line and should be split into files of its parts.
MAX_DOCUMENT_CHARS = 8 * 2**20
#: Sections longer than this are split window by window (cut at the last paragraph, line, sentence or word boundary
#: inside the window), so splitting costs time in proportion to the text, never more.
WINDOW_CHARS = 64 * 2**10
#: A chunk holds at most ``chunk_tokens`` times this many characters, whatever its token count.
CHARS_PER_TOKEN = 24
_WINDOW_CUTS = ("\n\n", "\n", ". ", "。", "? ", "! ", "; ", " ")


def oversize_reason(doc: Document) -> str | None:
    """Why ``doc`` is too long to ingest (naming it, its length and the limit), or None when it is not."""
    if len(doc.text) <= MAX_DOCUMENT_CHARS:
        return None
    return (
        f"{doc.source}: document has {len(doc.text):,} characters, more than the {MAX_DOCUMENT_CHARS:,} medkb "
        "ingests as one document; split it into smaller files"
    )


class Chunker:
    """Splits documents into chunks of at most ``chunk_tokens`` tokens with ``overlap`` tokens of overlap."""

    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int, overlap: int) -> None:
        self.count_tokens = count_tokens
        self.max_chars = chunk_tokens * CHARS_PER_TOKEN
        # imported here: it brings langchain-core, about 0.4 s that a question (which chunks nothing) need not pay
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=overlap,
            length_function=count_tokens,
            separators=SEPARATORS,
            keep_separator="end",
            strip_whitespace=True,
        )

    def chunk(self, doc: Document) -> list[Chunk]:
        """Chunks of every section of ``doc``, in document order; a chunk never crosses a section boundary."""
        chunks: list[Chunk] = []
        doc_id = doc.id
        for section in doc.section_spans():
            for start, end in _windows(doc.text, section.start, section.end):
                body = doc.text[start:end]
                if not body.strip():
                    continue
                cursor = 0
                for text in self._splitter.split_text(body):
                    found = body.find(text, cursor)
                    if found < 0:  # the splitter never rewrites text, but never trust a span we did not check
                        found = body.find(text)
                    if found < 0:
                        continue
                    cursor = found + 1
                    for offset, piece in _cut(text, self.max_chars):
                        chunks.append(
                            Chunk(
                                doc_id=doc_id,
                                text=piece,
                                start=start + found + offset,
                                end=start + found + offset + len(piece),
                                section=section.title,
                                page=section.page,
                                token_count=self.count_tokens(piece),
                            )
                        )
        return chunks


def _windows(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``text[start:end]`` as consecutive spans of at most `WINDOW_CHARS`, each cut after the strongest boundary in
    its second half (a hard cut where there is none)."""
    while end - start > WINDOW_CHARS:
        limit = start + WINDOW_CHARS
        cut = limit
        for mark in _WINDOW_CUTS:
            found = text.rfind(mark, start + WINDOW_CHARS // 2, limit)
            if found >= 0:
                cut = found + len(mark)
                break
        yield start, cut
        start = cut
    yield start, end


def _cut(text: str, max_chars: int) -> Iterator[tuple[int, str]]:
    """``text`` in (offset, piece) pairs of at most ``max_chars`` characters, cut after a space where one is near
    the end and stripped of surrounding whitespace; ``text`` itself when it is short enough."""
    offset = 0
    while len(text) - offset > max_chars:
        space = text.rfind(" ", offset + max_chars // 2, offset + max_chars)
        cut = space + 1 if space >= 0 else offset + max_chars
        yield from _stripped(text, offset, cut)
        offset = cut
    yield from _stripped(text, offset, len(text))


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    if piece := piece.strip():
        yield start + lead, piece
