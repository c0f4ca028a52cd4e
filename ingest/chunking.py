"""Token-aware chunking that keeps each chunk's section and exact character span.

Splitting is done by langchain-text-splitters' recursive splitter, measuring length in the embedder's own tokens
and preferring paragraph, then line, then sentence boundaries; spans are then located in the document text so that
``document.text[chunk.start:chunk.end] == chunk.text`` always holds.
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from kb.types import Chunk, Document

#: Paragraphs, lines, then sentence ends (English and Chinese), then clauses, words, characters.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "。", "？", "！", "; ", "；", ", ", "，", " ", ""]


class Chunker:
    """Splits documents into chunks of at most ``chunk_tokens`` tokens with ``overlap`` tokens of overlap."""

    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int, overlap: int) -> None:
        self.count_tokens = count_tokens
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
            body = doc.text[section.start : section.end]
            if not body.strip():
                continue
            cursor = 0
            for piece in self._splitter.split_text(body):
                found = body.find(piece, cursor)
                if found < 0:  # the splitter never rewrites text, but never trust a span we did not check
                    found = body.find(piece)
                if found < 0:
                    continue
                start = section.start + found
                chunks.append(
                    Chunk(
                        doc_id=doc_id,
                        text=piece,
                        start=start,
                        end=start + len(piece),
                        section=section.title,
                        page=section.page,
                        token_count=self.count_tokens(piece),
                    )
                )
                cursor = found + 1
        return chunks
