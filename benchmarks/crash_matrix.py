"""Crash matrix for ingestion (issue 23): ``medkb ingest`` killed (SIGKILL) at each write stage and then run again to
the end must leave the knowledge base an uninterrupted ingest leaves.

    python benchmarks/crash_matrix.py [--quick] [--out FILE] [--stages fts,flush] [--keep DIR]

The corpus is written to a scratch directory in two parts, giving two scenarios per kill point: ``empty`` (the killed
ingest creates the knowledge base from the whole corpus) and ``incremental`` (the knowledge base holds part 1, one of
whose files has changed since, and the killed ingest is the second one, over the whole corpus: it adds, replaces and
deletes). Full run: the 40 sample documents (``corpora/sample``) and 160 PubMedQA abstracts
(``$MEDKB_DATA_DIR/pubmedqa``) in 44 files, batches of 32 chunks. ``--quick``, the
CI-sized run of ``tests/e2e/test_crash_matrix.py``: 14 sample documents, batches of 8 chunks, the kill points in
`QUICK`. Default settings both: MiniLM plus the cross-lingual USEM index.

For each kill point (``KILL_POINTS`` in ``benchmarks/crash_kill.py``) and scenario, the ingest runs under that
script, which kills it the middle one of the times an uninterrupted run reaches that stage (counted on the
reference, which is that uninterrupted run). Then the same ``medkb ingest`` command runs to the end, and the
knowledge base is compared with the reference: document ids, chunk ids, ``medkb check`` (exit status and output)
and the top 10 chunk ids of each of `QUERIES`. Searching happens in a copy, since loading a vector shard repairs it
and the check must see the files as the rerun left them. Leftover ``*.tmp`` files are listed. Where a row differs,
``medkb reindex`` runs and the comparison is repeated (column "after reindex"). Prints a table; writes
``benchmarks/results/crash_matrix.json`` (a ``--quick`` run writes only to ``--out``).
"""

from __future__ import annotations

import os

from kb.core.offline import use_offline_environment

use_offline_environment()

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
KILLER = ROOT / "benchmarks" / "crash_kill.py"
SAMPLE = ROOT / "corpora" / "sample"
SCENARIOS = ("empty", "incremental")

#: The CI-sized run: mid-transaction, committed but not indexed, and a half-written shard of each index.
QUICK = (
    ("fts", "empty"),
    ("after-commit", "incremental"),
    ("shard-partial", "empty"),
    ("xl-shard-partial", "incremental"),
)
#: Searched on every knowledge base: English questions over the sample and PubMedQA text, and two Chinese ones that
#: go through the cross-lingual index.
QUERIES = (
    "What are the contraindications of metformin?",
    "How is type 2 diabetes diagnosed?",
    "warfarin bleeding risk with NSAIDs",
    "first-line antibiotic for community-acquired pneumonia",
    "penicillin allergy and amoxicillin",
    "inhaled corticosteroids for asthma",
    "storage temperature of vaccines in general practice refrigerators",
    "Wells score for deep vein thrombosis",
    "二甲双胍的禁忌症是什么？",
    "青霉素过敏的患者可以使用头孢菌素吗？",
)
#: The sample documents of the quick run, by part (the first of part 1 changes before the incremental ingest).
QUICK_FILES = (
    (
        "metformin",
        "asthma",
        "warfarin-interactions",
        "amoxicillin-penicillin-allergy",
        "gout",
        "zh-metformin-contraindications",
        "migraine",
    ),
    (
        "type2-diabetes-diagnosis",
        "community-acquired-pneumonia",
        "dvt-wells-score",
        "heart-failure",
        "hypothyroidism",
        "zh-penicillin-cephalosporin-allergy",
        "influenza",
    ),
)
#: What the changed Markdown file gains in its second version.
ADDED_SECTION = "\n## Monitoring\n\nRenal function should be checked before starting metformin and at least yearly.\n"


# -- the corpus ----------------------------------------------------------------------------------------------------


def _pubmedqa_record(raw: dict[str, Any], revised: bool = False) -> str:
    text = " ".join(raw["contexts"]) + (" Erratum: the sample size was corrected." if revised else "")
    record = {"id": raw["pmid"], "pmid": raw["pmid"], "text": text, "published": raw["year"], "source": "pubmedqa"}
    return json.dumps(record) + "\n"


def write_corpus(root: Path, quick: bool) -> dict[Path, str]:
    """Write ``root/part1`` and ``root/part2``, the changed files in their first version; returns the second version
    of each changed file, written once the incremental scenario's base is built."""
    if quick:
        parts = [[SAMPLE / f"{name}.md" for name in names] for names in QUICK_FILES]
    else:
        sample = sorted(SAMPLE.glob("*.md"))
        parts = [sample[0::2], sample[1::2]]
    for part, files in zip(("part1", "part2"), parts, strict=True):
        (root / part).mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, root / part / path.name)
    changed_md = root / "part1" / parts[0][0].name
    second = {changed_md: changed_md.read_text(encoding="utf-8") + ADDED_SECTION}
    if quick:
        return second
    from kb.core.data_dir import data_dir

    with (data_dir() / "pubmedqa" / "corpus.jsonl").open(encoding="utf-8") as lines:
        raw = [json.loads(next(lines)) for _ in range(162)]
    for n, part in ((1, "part1"), (2, "part1"), (3, "part2"), (4, "part2")):
        block = raw[(n - 1) * 40 : n * 40]
        (root / part / f"pubmedqa-{n}.jsonl").write_text("".join(map(_pubmedqa_record, block)), encoding="utf-8")
    # pubmedqa-2's second version: three records revised, three dropped, two added
    block = raw[40:80]
    revised = [_pubmedqa_record(r, revised=i < 3) for i, r in enumerate(block[:37])]
    second[root / "part1" / "pubmedqa-2.jsonl"] = "".join(revised + [_pubmedqa_record(r) for r in raw[160:162]])
    return second


# -- running medkb -------------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _medkb() -> list[str]:
    script = Path(sys.executable).with_name("medkb")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "kb.cli"]


def medkb(args: list[str], *, kill: str | None = None, count: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``medkb args``: plainly, or under crash_kill with ``kill`` (``STAGE:N``) armed or counting to ``count``."""
    if kill is None and count is None:
        cmd = _medkb() + args
    else:
        how = ["--kill", kill] if kill else ["--count", str(count)]
        cmd = [sys.executable, "-P", str(KILLER), *how, "--", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=900, check=False)


def ingest_args(corpus: Path, kb: Path, batch_size: int) -> list[str]:
    return ["ingest", str(corpus), "--kb", str(kb), "--batch-size", str(batch_size), "--no-progress"]


def _must(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# -- comparing knowledge bases -------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """What is compared between a knowledge base and the reference."""

    documents: list[str]
    chunks: list[str]
    check_rc: int
    check_output: str
    top10: dict[str, list[str]]
    stale_tmp: list[str]


class Inspector:
    """Takes snapshots, holding the encoders (loaded once) for the searches."""

    def __init__(self) -> None:
        self.embedder: Any = None
        self.cross_embedder: Any = None

    def snapshot(self, kb_dir: Path) -> Snapshot:
        stale = sorted(str(p.relative_to(kb_dir)) for p in kb_dir.rglob("*.tmp"))
        check = medkb(["check", "--kb", str(kb_dir)])
        copy = kb_dir.with_name(kb_dir.name + "-searched")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(kb_dir, copy)
        try:
            documents, chunks = _ids(copy)
            top10 = self._search(copy)
        finally:
            shutil.rmtree(copy)
        return Snapshot(documents, chunks, check.returncode, (check.stdout + check.stderr).strip(), top10, stale)

    def _search(self, kb_dir: Path) -> dict[str, list[str]]:
        from kb import KnowledgeBase

        with KnowledgeBase.open(kb_dir, embedder=self.embedder, cross_embedder=self.cross_embedder) as kb:
            self.embedder, self.cross_embedder = kb.embedder, kb.cross_embedder
            return {query: [hit.chunk_id for hit in kb.search(query, k=10)] for query in QUERIES}


def _ids(kb_dir: Path) -> tuple[list[str], list[str]]:
    db = sqlite3.connect(kb_dir / "kb.sqlite")
    try:
        documents = sorted(r[0] for r in db.execute("SELECT id FROM documents"))
        chunks = sorted(r[0] for r in db.execute("SELECT id FROM chunks"))
    finally:
        db.close()
    return documents, chunks


def compare(reference: Snapshot, got: Snapshot) -> dict[str, Any]:
    """Which of the compared things match the reference, and how the others differ."""
    missing = sorted(set(reference.documents) - set(got.documents))
    extra = sorted(set(got.documents) - set(reference.documents))
    return {
        "docs_match": got.documents == reference.documents,
        "chunks_match": got.chunks == reference.chunks,
        "check_ok": got.check_rc == 0 and got.check_output == reference.check_output,
        "top10_match": got.top10 == reference.top10,
        "documents": len(got.documents),
        "chunks": len(got.chunks),
        "documents_missing": len(missing),
        "documents_extra": len(extra),
        "chunks_missing": len(set(reference.chunks) - set(got.chunks)),
        "chunks_extra": len(set(got.chunks) - set(reference.chunks)),
        "check_rc": got.check_rc,
        "check_output": got.check_output,
        "queries_differing": [q for q in QUERIES if got.top10.get(q) != reference.top10.get(q)],
        "stale_tmp": got.stale_tmp,
    }


def _matches(result: dict[str, Any]) -> bool:
    return all(result[k] for k in ("docs_match", "chunks_match", "check_ok", "top10_match")) and not result["stale_tmp"]


# -- the matrix ----------------------------------------------------------------------------------------------------


@dataclass
class Reference:
    kb: Path
    counts: dict[str, int]
    snapshot: Snapshot


@dataclass
class Row:
    stage: str
    scenario: str
    at: int
    killed: bool
    kill_rc: int
    rerun_rc: int
    rerun_summary: str
    result: dict[str, Any]
    after_reindex: dict[str, Any] | None = None
    seconds: float = 0.0
    ok: bool = field(init=False)

    def __post_init__(self) -> None:
        self.ok = self.killed and self.rerun_rc == 0 and _matches(self.result)


def build_references(
    work: Path, corpus: Path, second: dict[Path, str], batch_size: int, inspector: Inspector
) -> dict[str, Any]:
    """The base of the incremental scenario (part 1, first versions), then each scenario's uninterrupted ingest,
    which also counts the kill points."""
    base = work / "base"
    _must(medkb(ingest_args(corpus / "part1", base, batch_size)), "ingest of part 1")
    for path, text in second.items():
        path.write_text(text, encoding="utf-8")
    references: dict[str, Any] = {"base": base}
    for scenario in SCENARIOS:
        kb = work / f"reference-{scenario}" / "kb"
        kb.parent.mkdir()
        if scenario == "incremental":
            shutil.copytree(base, kb)
        counts_file = kb.parent / "counts.json"
        done = medkb(ingest_args(corpus, kb, batch_size), count=counts_file)
        _must(done, f"reference ingest ({scenario})")
        snap = inspector.snapshot(kb)
        if snap.check_rc != 0 or snap.stale_tmp:
            raise SystemExit(f"the reference ({scenario}) is not consistent: {snap.check_output} {snap.stale_tmp}")
        counts = json.loads(counts_file.read_text(encoding="utf-8"))
        references[scenario] = Reference(kb, counts, snap)
        print(f"reference {scenario}: {_last_line(done.stdout)}; kill points reached: {counts}", flush=True)
    return references


def run_row(
    stage: str,
    scenario: str,
    work: Path,
    corpus: Path,
    batch_size: int,
    references: dict[str, Any],
    inspector: Inspector,
) -> Row:
    started = time.perf_counter()
    reference: Reference = references[scenario]
    at = (reference.counts.get(stage, 0) + 1) // 2
    kb = work / "rows" / f"{stage}-{scenario}" / "kb"
    kb.parent.mkdir(parents=True)
    if scenario == "incremental":
        shutil.copytree(references["base"], kb)
    args = ingest_args(corpus, kb, batch_size)
    killed = medkb(args, kill=f"{stage}:{at}")
    rerun = medkb(args)
    result = compare(reference.snapshot, inspector.snapshot(kb))
    row = Row(
        stage,
        scenario,
        at,
        killed.returncode == -signal.SIGKILL,
        killed.returncode,
        rerun.returncode,
        _last_line(rerun.stdout) or _last_line(rerun.stderr),
        result,
    )
    if not row.ok and row.killed:
        reindex = medkb(["reindex", "--kb", str(kb), "--no-progress"])
        row.after_reindex = {"reindex_rc": reindex.returncode, **compare(reference.snapshot, inspector.snapshot(kb))}
    row.seconds = round(time.perf_counter() - started, 1)
    return row


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _reindex_cell(row: Row) -> str:
    if row.after_reindex is None:
        return "-" if row.ok else "(not run)"
    after = row.after_reindex
    return "all match" if _matches(after) else "still: " + ", ".join(_differences(after))


def _differences(result: dict[str, Any]) -> list[str]:
    out = [
        name
        for name, key in (("docs", "docs_match"), ("chunks", "chunks_match"), ("check", "check_ok"))
        if not result[key]
    ]
    out += [f"top-10 ({len(result['queries_differing'])} queries)"] if not result["top10_match"] else []
    return out + ([f"{len(result['stale_tmp'])} .tmp"] if result["stale_tmp"] else [])


def table(rows: list[Row]) -> str:
    head = (
        "stage",
        "scenario",
        "N",
        "killed",
        "rerun",
        "docs",
        "chunks",
        "check",
        "top-10",
        "stale .tmp",
        "after reindex",
    )
    lines = [head]
    for r in rows:
        res = r.result
        lines.append((
            r.stage, r.scenario, str(r.at), _yes(r.killed), str(r.rerun_rc), _yes(res["docs_match"]),
            _yes(res["chunks_match"]), "ok" if res["check_ok"] else f"NO (rc {res['check_rc']})",
            _yes(res["top10_match"]), ", ".join(res["stale_tmp"]) or "-", _reindex_cell(r),
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    return {"head": git("rev-parse", "HEAD"), "uncommitted": git("status", "--short", "kb", "ingest").splitlines()}


def _kill_points() -> dict[str, str]:
    """`crash_kill.KILL_POINTS`, from the file beside this one (``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location("crash_kill", KILLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.KILL_POINTS)


def main() -> None:
    kill_points = _kill_points()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized subset")
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/crash_matrix.json)")
    parser.add_argument("--stages", help="only these kill points, comma-separated")
    parser.add_argument("--keep", type=Path, help="work in this (new) directory and keep it")
    args = parser.parse_args()
    planned = list(QUICK) if args.quick else [(stage, scenario) for stage in kill_points for scenario in SCENARIOS]
    if args.stages:
        wanted = args.stages.split(",")
        if unknown := set(wanted) - set(kill_points):
            parser.error(f"unknown kill points {sorted(unknown)}; expected some of {', '.join(kill_points)}")
        planned = [(stage, scenario) for stage, scenario in planned if stage in wanted]
    out = args.out or (None if args.quick else RESULTS / "crash_matrix.json")
    batch_size = 8 if args.quick else 32

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="medkb-crash-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=args.keep is None)
        corpus = work / "corpus"
        second = write_corpus(corpus, args.quick)
        inspector = Inspector()
        references = build_references(work, corpus, second, batch_size, inspector)
        rows: list[Row] = []
        for stage, scenario in planned:
            if not references[scenario].counts.get(stage):
                print(f"{stage} / {scenario}: never reached by an uninterrupted run; no row", flush=True)
                continue
            row = run_row(stage, scenario, work, corpus, batch_size, references, inspector)
            print(f"{stage} / {scenario}: {'matches' if row.ok else 'DIFFERS'} ({row.seconds} s)", flush=True)
            rows.append(row)
    seconds = time.perf_counter() - started

    print()
    print(table(rows))
    failing = [r for r in rows if not r.ok]
    for r in failing:
        print(f"\n{r.stage} / {r.scenario}: kill rc {r.kill_rc}; rerun: {r.rerun_summary}")
        for line in r.result["check_output"].splitlines():
            print(f"  check: {line}")
        if r.result["queries_differing"]:
            print(f"  top-10 differs for: {r.result['queries_differing']}")
    print(f"\n{len(rows) - len(failing)} of {len(rows)} rows match the uninterrupted ingest; {seconds:.0f} s")

    reference = {s: references[s] for s in SCENARIOS}
    result = {
        "command": " ".join(["python", "benchmarks/crash_matrix.py", *sys.argv[1:]]),
        "quick": args.quick,
        "batch_size": batch_size,
        "corpus": {
            scenario: {
                "documents": len(r.snapshot.documents),
                "chunks": len(r.snapshot.chunks),
                "kill_points": r.counts,
            }
            for scenario, r in reference.items()
        },
        "queries": list(QUERIES),
        "kill_points": kill_points,
        "rows": [asdict(r) for r in rows],
        "matching_rows": len(rows) - len(failing),
        "seconds": round(seconds, 1),
        "code": _git_state(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    if not sys.flags.safe_path:
        # Run again with -P: benchmarks/ on sys.path (the script's directory) would let benchmarks/ingest.py shadow
        # the ``ingest`` package.
        os.execv(sys.executable, [sys.executable, "-P", __file__, *sys.argv[1:]])
    main()
