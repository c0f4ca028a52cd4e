"""How many records a file holds, estimated cheaply before it is read, for an ingest's progress and time left.

One scan of the file's bytes, no parsing: lines of a JSON Lines file, rows of a CSV file, record tags of PubMed
XML and MedQuAD XML, ``PMID-`` lines of a MEDLINE export. A file of one document counts 1; an archive, or a file
that cannot be read, counts ``None`` (unknown).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

#: Bytes read at a time while counting.
BLOCK = 1 << 20
_XML_RECORDS = re.compile(rb"<(?:PubmedArticle|PubmedBookArticle|QAPair)[\s>]")
_MEDLINE_RECORD = re.compile(rb"(?:^|\n)PMID- ")
_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")


def count_records(path: Path) -> int | None:
    """The number of records ``path`` likely holds (see the module docstring)."""
    name = path.name.lower()
    try:
        if name.endswith(_ARCHIVES):
            return None
        if name.endswith(".jsonl"):
            return _count(path, lambda block: block.count(b"\n"), tail_counts=True)
        if name.endswith(".csv"):
            rows = _count(path, lambda block: block.count(b"\n"), tail_counts=True)
            return max(rows - 1, 0)
        if name.endswith((".xml", ".xml.gz", ".nxml")):
            return max(_count(path, lambda block: len(_XML_RECORDS.findall(block)), overlap=32), 1)
        if name.endswith((".nbib", ".medline", ".txt")):
            return max(_count(path, lambda block: len(_MEDLINE_RECORD.findall(block)), overlap=8), 1)
    except (OSError, EOFError, zlib.error):  # unreadable or truncated: the ingest itself reports it
        return None
    return 1


def _count(path: Path, counter: Callable[[bytes], int], *, tail_counts: bool = False, overlap: int = 0) -> int:
    """Sum of ``counter(block)`` over the file's blocks; blocks overlap by ``overlap`` bytes so that a tag cut in two
    is still seen (and not seen twice: each block's count skips what the overlap already counted). With
    ``tail_counts``, a last line without its newline counts too."""
    total = 0
    carry = b""
    last = b""
    for block in _blocks(path):
        joined = carry + block
        total += counter(joined) - (counter(carry) if carry else 0)
        carry = joined[-overlap:] if overlap else b""
        last = block or last
    if tail_counts and last and not last.endswith(b"\n"):
        total += 1
    return total


def _blocks(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        while block := handle.read(BLOCK):
            yield block
