"""Streaming at scale: records/s and peak RSS of parsing alone and of full ingestion, at 10k and 100k records.

    python benchmarks/streaming.py [--records 10000 100000] [--work DIR] [--embedder NAME] [--skip-ingest]

A synthetic PubMed baseline file (``.xml.gz``) of N records is built from the structure of the real PubMed
fixtures in ``$MEDKB_DATA_DIR/pubmed_xml/`` (the same elements, a fresh PMID per record, and each record's title and
abstract sentences reshuffled so that every record is distinct). Abstracts are cut to about 120 words so one
record is about one 200-token chunk, which keeps the 100k ingest within half an hour on 2 cores.

Each measurement runs in its own child process, so its peak RSS (``ru_maxrss``) is its own. Memory bounded by the
batch size shows as ``rss_ratio_100k_vs_10k`` close to 1. Writes ``benchmarks/results/streaming.json``.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kb.core.offline import use_offline_environment

use_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("MEDKB_DATA_DIR", "MEDKB_DATA_DIR-not-set")) / "pubmed_xml"  # the evaluation data sets
RESULTS = ROOT / "benchmarks" / "results"
MAX_ABSTRACT_WORDS = 120
HEADER = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)


def _templates() -> list[object]:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    out = []
    for path in sorted(FIXTURES.rglob("*.xml")):
        root = etree.parse(str(path), parser).getroot()
        if root.tag != "PubmedArticleSet":
            continue
        out += [a for a in root.iter("PubmedArticle") if a.find(".//AbstractText") is not None]
    if not out:
        raise SystemExit(f"no PubMed records with abstracts under {FIXTURES}")
    return out


def build(n: int, path: Path) -> None:
    """Write a synthetic PubMed file of ``n`` distinct records, streaming (never all in memory)."""
    from lxml import etree

    templates = _templates()
    rng = random.Random(n)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(HEADER)
        for i in range(n):
            article = copy.deepcopy(templates[i % len(templates)])
            article.find(".//PMID").text = str(40_000_000 + i)
            title = article.find(".//ArticleTitle")
            words = "".join(title.itertext()).split()
            rng.shuffle(words)
            for child in list(title):
                title.remove(child)
            title.text = f"{' '.join(words)} ({i})"
            budget = MAX_ABSTRACT_WORDS
            for part in article.iterfind(".//AbstractText"):
                sentences = "".join(part.itertext()).split(". ")
                rng.shuffle(sentences)
                words = ". ".join(sentences).split()[: max(budget, 0)]
                budget -= len(words)
                for child in list(part):
                    part.remove(child)
                part.text = " ".join(words) or "."
            for ids in article.iterfind(".//ArticleIdList"):
                ids.getparent().remove(ids)
            out.write(etree.tostring(article) + b"\n")
        out.write(b"</PubmedArticleSet>\n")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_parse(path: Path) -> dict[str, float]:
    from ingest.readers.pubmed import PubmedReader
    from kb.core.types import Document

    started = time.perf_counter()
    records = sum(isinstance(item, Document) for item in PubmedReader().read(path))
    seconds = time.perf_counter() - started
    return {"records": records, "seconds": seconds, "records_per_s": records / seconds, "peak_rss_mb": _peak_rss_mb()}


def child_ingest(path: Path, embedder: str) -> dict[str, float]:
    from kb import KnowledgeBase, Settings

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with KnowledgeBase.create(Path(tmp) / "kb", Settings(embedder=embedder)) as kb:
            report = kb.ingest([path])
            problems = kb.check()
        seconds = time.perf_counter() - started
    return {
        "records": report.added,
        "chunks": report.chunks,
        "failed": report.failed,
        "consistent": not problems,
        "seconds": seconds,
        "records_per_s": report.added / seconds,
        "chunks_per_s": report.chunks / seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _run_child(*args: str) -> dict[str, float]:
    # -P: do not put benchmarks/ on sys.path, where ingest.py would shadow the ``ingest`` package
    out = subprocess.run([sys.executable, "-P", __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--work", type=Path, default=None, help="where the synthetic files go (default: a temp dir)")
    parser.add_argument("--embedder", default="all-MiniLM-L6-v2")
    parser.add_argument("--skip-ingest", action="store_true", help="parse only")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, file = args.child
        result = child_parse(Path(file)) if kind == "parse" else child_ingest(Path(file), args.embedder)
        print(json.dumps(result))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="medkb-streaming-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, object]] = {}
    for n in args.records:
        path = work / f"synthetic-pubmed-{n}.xml.gz"
        if not path.exists():
            started = time.perf_counter()
            build(n, path)
            print(f"built {path} ({path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - started:.0f} s")
        entry: dict[str, object] = {"file_mib": round(path.stat().st_size / 2**20, 1)}
        entry["parse"] = _run_child("--child", "parse", str(path))
        print(f"{n:>7} records  parse  {json.dumps(entry['parse'])}")
        if not args.skip_ingest:
            entry["ingest"] = _run_child("--child", "ingest", str(path), "--embedder", args.embedder)
            print(f"{n:>7} records  ingest {json.dumps(entry['ingest'])}")
        results[str(n)] = entry

    summary: dict[str, object] = {
        "command": "python benchmarks/streaming.py " + " ".join(sys.argv[1:]),
        "embedder": args.embedder,
        "max_abstract_words": MAX_ABSTRACT_WORDS,
        "cpus": os.cpu_count(),
        "results": results,
    }
    sizes = sorted(int(n) for n in results)
    if len(sizes) >= 2:
        small, large = str(sizes[0]), str(sizes[-1])
        ratios: dict[str, float] = {}
        for kind in ("parse", "ingest"):
            if kind in results[small] and kind in results[large]:
                a, b = results[small][kind], results[large][kind]
                ratios[f"{kind}_rss_ratio_{large}_vs_{small}"] = b["peak_rss_mb"] / a["peak_rss_mb"]  # type: ignore[index]
                ratios[f"{kind}_rate_ratio_{large}_vs_{small}"] = b["records_per_s"] / a["records_per_s"]  # type: ignore[index]
        summary["ratios"] = ratios
        print(json.dumps(ratios, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "streaming.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        # `python benchmarks/x.py` puts benchmarks/ first on sys.path, where ingest.py would shadow the ``ingest``
        # package: run again with -P, which leaves the script's folder off sys.path.
        os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
    main()
