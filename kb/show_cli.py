"""``medkb show``: open a cited document or passage; ``medkb facets``: the metadata values documents carry.

``show`` accepts the ids ``search`` and ``ask`` print (a chunk or document id, whole or a unique prefix), a PMID, a
DOI or a source key, and marks the passage in its document: « » around it, or reverse video on a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable
from typing import Any

#: Characters of the document shown on each side of a passage.
CONTEXT_CHARS = 600


def add_show_parsers(sub: Any, with_kb: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    p = with_kb(
        sub.add_parser(
            "show",
            help="a document, or a passage in its context, by an id that search or ask printed",
            description="ID: a chunk or document id as `medkb search` and `medkb ask` print them (whole, or a unique "
            "prefix of 6 or more characters), a PMID (pmid:123), a DOI, or a source key. A document id shows the "
            "document (metadata and text); a chunk id shows the passage within its document, marked.",
        )
    )
    p.add_argument("id")
    p.add_argument("--chunk", action="store_true", help="ID must name a passage (a chunk id)")
    p.add_argument("--around", metavar="CHUNK", help="show the document around this passage, marked")
    p.add_argument("--context", type=int, default=CONTEXT_CHARS, help="characters shown each side of a passage")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_show)

    p = with_kb(
        sub.add_parser(
            "facets",
            help="the metadata keys documents carry, or the values of one key with their document counts",
            description="Without KEY: every metadata key and how many documents carry it. With KEY: its values "
            "and how many documents have each (the values `--source` and `--filter KEY=VALUE` match exactly).",
        )
    )
    p.add_argument("key", nargs="?", help="a metadata key (source, language, journal, ...)")
    p.add_argument("--limit", type=int, default=50, help="values shown (default 50; most frequent first)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_facets)


def run_show(args: argparse.Namespace) -> int:
    from kb.core.errors import DocumentNotFound
    from kb.knowledge_base import KnowledgeBase

    with KnowledgeBase.open(args.kb) as kb:
        where = kb.locate(args.around or args.id)
        if args.around:
            doc_id = kb.locate(args.id).doc_id
            if where.chunk is None or where.chunk.doc_id != doc_id:
                raise DocumentNotFound(f"--around {args.around!r}: not a passage of document {doc_id}")
        if args.chunk and where.chunk is None:
            raise DocumentNotFound(f"{args.id!r} names a document, not a passage; drop --chunk to show it")
        document, chunks = kb.document(where.doc_id)
    chunk = where.chunk
    if args.json:
        print(
            json.dumps(
                {
                    "doc_id": where.doc_id,
                    "title": document.title,
                    "source": document.source,
                    "metadata": document.metadata,
                    "chunk": None
                    if chunk is None
                    else {
                        "chunk_id": chunk.id,
                        "start": chunk.start,
                        "end": chunk.end,
                        "section": chunk.section,
                        "text": chunk.text,
                    },
                    "text": document.text,
                    "chunks": [
                        {"chunk_id": c.id, "start": c.start, "end": c.end, "section": c.section} for c in chunks
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    print(f"{document.title or '(untitled)'}")
    print(f"document {where.doc_id}  source {document.source}")
    for key, value in sorted(document.metadata.items()):
        if key not in ("title",) and value not in (None, "", [], {}):
            print(f"  {key}: {value if not isinstance(value, list) else '; '.join(map(str, value))}")
    if chunk is None:
        print(f"{len(chunks)} passages; sections: " + ", ".join(dict.fromkeys(c.section or "text" for c in chunks)))
        print()
        print(document.text)
        return 0
    print(f"passage {chunk.id}  {chunk.section or 'text'}, chars {chunk.start}-{chunk.end}")
    print()
    before = max(0, chunk.start - args.context)
    after = min(len(document.text), chunk.end + args.context)
    print(
        ("... " if before else "")
        + _marked(document.text, before, chunk.start, chunk.end, after)
        + (" ..." if after < len(document.text) else "")
    )
    return 0


def _marked(text: str, before: int, start: int, end: int, after: int) -> str:
    """``text[before:after]`` with ``text[start:end]`` marked: reverse video on a terminal, « » otherwise."""
    on, off = ("\x1b[7m", "\x1b[0m") if sys.stdout.isatty() else ("«", "»")
    return f"{text[before:start]}{on}{text[start:end]}{off}{text[end:after]}"


def run_facets(args: argparse.Namespace) -> int:
    from kb.knowledge_base import KnowledgeBase

    with KnowledgeBase.open(args.kb) as kb:
        counts = kb.facets(args.key, limit=args.limit)
    if args.json:
        print(json.dumps({"key": args.key, "counts": counts}, ensure_ascii=False, indent=2))
        return 0
    if not counts:
        print(f"no document has metadata {args.key!r}" if args.key else "no document has metadata")
        return 0
    print(f"{'documents':>9}  {'value' if args.key else 'key'}")
    for value, count in counts.items():
        print(f"{count:>9}  {textwrap.shorten(value, 100)}")
    return 0
