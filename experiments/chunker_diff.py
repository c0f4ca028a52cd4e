"""Whether the chunker cuts documents as it did at an earlier commit: if not, ``CHUNKER_VERSION`` must change, so that
a knowledge base never mixes chunks of the two.

    python -m experiments.chunker_diff --rev 8109ed8 corpora/sample "$MEDKB_DATA_DIR"/{dailymed_spl,pubmed_xml}

Reads every file under the paths with its reader (the first ``--per-file`` documents of each), chunks each document
with ``ingest/chunking.py`` as it is and as it was at ``--rev`` (its source from git, loaded as a module of its own),
both measuring tokens with the bundled MiniLM tokenizer at 200 tokens and 30 of overlap, and prints each document
whose chunks differ, then the count.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from ingest.chunking import Chunker
from ingest.readers import iter_files, reader_for
from kb.core.errors import ReaderError
from kb.core.types import Document
from retrieval.embedders import make_embedder

ROOT = Path(__file__).resolve().parents[1]
#: Modules renamed since older commits, as their imports in ``ingest/chunking.py`` name them.
MOVED = {"from kb.types import": "from kb.core.types import"}


def chunking_at(rev: str) -> ModuleType:
    """``ingest/chunking.py`` as it was at ``rev``, as a module."""
    source = subprocess.run(
        ["git", "show", f"{rev}:ingest/chunking.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for old, new in MOVED.items():
        source = source.replace(old, new)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chunking_then.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("chunking_then", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--rev", required=True, help="the commit to compare with")
    parser.add_argument("--per-file", type=int, default=50, help="documents read from each file")
    args = parser.parse_args()
    tokens = make_embedder("all-MiniLM-L6-v2").count_tokens
    then = chunking_at(args.rev).Chunker(tokens, 200, 30)
    now = Chunker(tokens, 200, 30)
    documents = differ = 0
    for file in iter_files(args.paths, []):
        try:
            docs = [item for item in reader_for(file).read(file) if isinstance(item, Document)][: args.per_file]
        except ReaderError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        for doc in docs:
            documents += 1
            if then.chunk(doc) != now.chunk(doc):
                differ += 1
                print(f"differs: {doc.source} ({len(doc.text):,} characters)")
    print(f"{documents} documents, {differ} chunked differently than at {args.rev}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
