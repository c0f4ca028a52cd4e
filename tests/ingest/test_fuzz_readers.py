"""Fuzz every reader with mutated real fixtures (issue 23): each read ends in documents, record errors or one
`ReaderError` naming the file, in bounded time and memory; and mutated files pushed through the ingest pipeline never
stop the run, each ending as stored documents or recorded failures, with what was stored before kept.

CI tries a few dozen inputs per reader, derandomized so every run tries the same ones. More are one variable away:

    MEDKB_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/ingest/test_fuzz_readers.py

``MEDKB_FUZZ_RECORD=out.jsonl`` records crashes instead of stopping at the first (and shrinking it), and appends one
line per input tried (its outcome, failure messages, crash): ``benchmarks/fuzz_readers.py`` runs it so and sums the
lines up. ``MEDKB_FUZZ_SEED=N`` tries other inputs than the derandomized ones.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ingest.chunking import Chunker
from ingest.pipeline import Ingestor
from ingest.readers import Deletion, ReadItem, RecordError
from kb import Document, KnowledgeBase, Settings
from kb.core.errors import ReaderError
from tests.ingest.fuzz_inputs import TARGETS, Target, draw_input

EXAMPLES = int(os.environ.get("MEDKB_FUZZ_EXAMPLES", "30"))
PIPELINE_EXAMPLES = max(10, EXAMPLES // 8)
RECORD = os.environ.get("MEDKB_FUZZ_RECORD")
SEED = os.environ.get("MEDKB_FUZZ_SEED")
#: One read may take this long (hypothesis's deadline; when recording, a slower read counts as a crash) ...
DEADLINE_S = 5.0
#: ... and is stopped after this long.
HANG_S = 60.0
#: How much one target's fuzzing may raise the process's peak resident memory.
RSS_GROWTH_MIB = 512
#: A read may produce at most this many characters of text per input byte (plus `TEXT_SLACK`): more is an
#: expansion bomb. Compressed inputs (gzip, archives) are held to `MAX_TEXT_CHARS` only.
TEXT_PER_BYTE = 16
TEXT_SLACK = 64 * 2**10
MAX_TEXT_CHARS = 64 * 2**20


class ContractViolation(AssertionError):
    """A read that ended in neither documents, record errors, deletions nor one `ReaderError` naming the file."""


class Hang(BaseException):
    """A read that ran past its time limit. Not an `Exception`, so a reader's broad ``except`` cannot hide it."""


# --- the contract --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one read ended in; ``items`` are what the reader yielded before any `ReaderError`."""

    items: list[ReadItem] = field(default_factory=list)
    reader_error: ReaderError | None = None
    seconds: float = 0.0

    @property
    def documents(self) -> list[Document]:
        return [item for item in self.items if isinstance(item, Document)]

    @property
    def record_errors(self) -> list[RecordError]:
        return [item for item in self.items if isinstance(item, RecordError)]

    @property
    def kind(self) -> str:
        if self.reader_error is not None:
            return "reader error after documents" if self.documents else "reader error"
        if self.documents:
            return "documents"
        return "record errors only" if self.record_errors else "nothing"


def read_checked(target: Target, path: Path, input_size: int) -> Outcome:
    """Read ``path`` with ``target``'s reader and hold the result to the contract: `ContractViolation` if it is
    broken; any other exception (a crash) passes through."""
    limit = MAX_TEXT_CHARS if target.compressed else TEXT_PER_BYTE * input_size + TEXT_SLACK
    outcome = Outcome()
    chars = 0
    started = time.perf_counter()
    try:
        for item in target.reader_for(path).read(path):
            _check_item(item, path)
            outcome.items.append(item)
            if isinstance(item, Document):
                chars += len(item.text) + len(item.title)
                if chars > limit:
                    raise ContractViolation(f"{path}: {chars} characters read from {input_size} bytes (over {limit})")
    except ReaderError as exc:
        if path.name not in str(exc):
            raise ContractViolation(f"ReaderError does not name the file {path.name}: {exc}") from exc
        _check_text(str(exc), "ReaderError message")
        outcome.reader_error = exc
    outcome.seconds = time.perf_counter() - started
    return outcome


def _check_item(item: object, path: Path) -> None:
    if isinstance(item, Document):
        _check_document(item)
    elif isinstance(item, RecordError):
        _check_text(item.source, "RecordError.source")
        _check_text(item.reason, "RecordError.reason")
        if path.name not in item.source + item.reason:
            raise ContractViolation(f"RecordError names neither the file {path.name} nor its records: {item}")
    elif isinstance(item, Deletion):
        _check_text(item.source, "Deletion.source")
    else:
        raise ContractViolation(f"reader yielded a {type(item).__name__}; expected Document, RecordError or Deletion")


def _check_document(doc: Document) -> None:
    _check_text(doc.text, "Document.text")
    _check_text(doc.source, "Document.source")
    _check_text(doc.title, "Document.title", blank=True)
    if not isinstance(doc.metadata, dict):
        raise ContractViolation(f"{doc.source}: metadata is a {type(doc.metadata).__name__}, expected dict")
    try:  # as the store writes it
        json.dumps(doc.metadata, ensure_ascii=False, default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ContractViolation(f"{doc.source}: metadata cannot be stored ({exc}): {doc.metadata!r:.200}") from exc
    for section in doc.sections:
        if not 0 <= section.start <= section.end <= len(doc.text) or not isinstance(section.title, str):
            raise ContractViolation(f"{doc.source}: section {section} outside the text ({len(doc.text)} chars)")


def _check_text(value: object, what: str, *, blank: bool = False) -> None:
    if not isinstance(value, str) or (not blank and not value.strip()):
        raise ContractViolation(f"{what} is {value!r:.80}; expected a non-blank str")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ContractViolation(f"{what} is not storable text ({exc}): {value[:80]!r}") from exc


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `Hang` in the block once ``seconds`` have passed (main thread only: it uses SIGALRM)."""

    def expired(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the readers, one by one ---------------------------------------------------------------------------------------


def _fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None if RECORD else timedelta(seconds=DEADLINE_S),
        derandomize=SEED is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def _seeded(test: Any) -> Any:
    return seed(int(SEED))(test) if SEED is not None else test


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_reads_to_documents(name: str, tmp_path: Path) -> None:
    """The unmutated seeds are good files, so the fuzz starts from inputs that reach every stage of the reader."""
    target = TARGETS[name]
    for number, data in enumerate(target.seeds()):
        path = tmp_path / f"seed{number}{target.suffix}"
        path.write_bytes(target.packed(data))
        outcome = read_checked(target, path, len(data))
        assert outcome.reader_error is None and outcome.documents, (name, number, outcome)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutated_input_ends_in_documents_or_a_reader_error(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = TARGETS[name]
    seeds = target.seeds()
    path = tmp_path_factory.mktemp(name) / f"fuzz{target.suffix}"
    kept = Path(RECORD).with_suffix(".crashes") if RECORD else None
    crashes: list[str] = []
    rss_before = _peak_rss_mib()

    @_seeded
    @_fuzz_settings(EXAMPLES)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        raw = draw_input(data, target, seeds)
        path.write_bytes(raw)
        try:
            with time_limit(HANG_S):
                outcome = read_checked(target, path, len(raw))
            if RECORD and outcome.seconds > DEADLINE_S:
                raise Hang(f"took {outcome.seconds:.1f} s, over the {DEADLINE_S:g} s deadline")
        except (Exception, Hang) as exc:
            if not RECORD:
                raise
            crashes.append(_crash_kind(exc))
            if kept is not None and crashes.count(crashes[-1]) <= 3:  # keep a few inputs of each kind
                kept.mkdir(exist_ok=True)
                (kept / f"{name}-{len(crashes)}{target.suffix}").write_bytes(raw)
            _record(name, len(raw), crash=f"{crashes[-1]}: {str(exc)[:200]}")
            return
        _record(name, len(raw), outcome=outcome)

    fuzz()
    assert not crashes, f"{name}: {len(crashes)} crashes, first {crashes[0]}; inputs kept in {kept}"
    assert _peak_rss_mib() - rss_before < RSS_GROWTH_MIB, f"{name}: peak memory rose by over {RSS_GROWTH_MIB} MiB"


def _crash_kind(exc: BaseException) -> str:
    """``TypeName at module.py:line`` of the innermost medkb frame, so that one bug counts as one kind."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/ingest/" in f.filename]
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


def _record_pipeline_run(direct: dict[Path, Outcome], failures: list[tuple[str, str]]) -> None:
    """Append one pipeline run's line to `RECORD`: how its files ended (documents stored, failures recorded)."""
    if not RECORD:
        return
    ended: Counter[str] = Counter()
    for path, outcome in direct.items():
        failed = any(source.startswith(str(path)) for source, _ in failures)
        kinds = [kind for kind, yes in (("documents", bool(outcome.documents)), ("failures", failed)) if yes]
        ended[" and ".join(kinds) or "nothing"] += 1
    with open(RECORD, "a", encoding="utf-8") as out:
        out.write(json.dumps({"target": "(ingest pipeline)", "files": dict(ended)}) + "\n")


def _record(name: str, size: int, *, outcome: Outcome | None = None, crash: str | None = None) -> None:
    """Append one input's line to `RECORD`, when recording."""
    if not RECORD:
        return
    line: dict[str, Any] = {"target": name, "bytes": size, "peak_rss_mib": round(_peak_rss_mib(), 1)}
    if crash is not None:
        line.update(outcome="crash", crash=crash)
    else:
        assert outcome is not None
        line.update(
            outcome=outcome.kind,
            seconds=round(outcome.seconds, 4),
            documents=len(outcome.documents),
            record_errors=[error.reason for error in outcome.record_errors],
            reader_error=str(outcome.reader_error) if outcome.reader_error is not None else None,
        )
    with open(RECORD, "a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


# --- through the ingest pipeline -----------------------------------------------------------------------------------


class _CrashLog(logging.Handler):
    """Catches the pipeline's "reader crashed" records: a reader exception the ingest turned into a failure."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.getMessage()}\n{record.exc_text or ''}")


def test_mutated_files_through_the_ingest_pipeline(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A folder with one mutated file per reader, ingested by `Ingestor.run`: the run never raises, no reader
    crashes behind its back, each file ends as stored documents or recorded failures (as its reader, called
    directly, says it should), and the document stored before is still there."""
    base = tmp_path_factory.mktemp("pipeline")
    earlier = base / "earlier.md"
    earlier.write_text("# Stored before\n\nthe earlier note on metformin and eGFR.\n", encoding="utf-8")
    crash_log = _CrashLog()
    logging.getLogger("ingest.pipeline").addHandler(crash_log)
    with KnowledgeBase.create(base / "kb", Settings(embedder="hashing", cross_lingual_embedder="")) as kb:
        s = kb.manifest.settings
        ingestor = Ingestor(kb.storage, kb.embedder, Chunker(kb.embedder.count_tokens, s.chunk_tokens, s.chunk_overlap))
        first = ingestor.run([earlier])
        assert (first.added, first.failed) == (1, 0)
        [earlier_id] = kb.storage.store.documents.document_ids_for_origin(str(earlier.resolve()))
        runs = iter(range(10**6))

        @_seeded
        @_fuzz_settings(PIPELINE_EXAMPLES)
        @given(data=st.data())
        def fuzz(data: st.DataObject) -> None:
            folder = base / f"run{next(runs)}"
            folder.mkdir()
            direct: dict[Path, Outcome] = {}
            for name, target in sorted(TARGETS.items()):
                raw = draw_input(data, target, target.seeds(), label=f"{name} ")
                path = folder / f"{name}{target.suffix}"
                path.write_bytes(raw)
                # read as the pipeline reads it: by the file's extension
                direct[path] = read_checked(replace(target, reader=None), path, len(raw))
            report = ingestor.run([folder])
            assert not crash_log.records, crash_log.records[0]
            _assert_every_file_accounted_for(kb, direct, report.failures)
            assert kb.storage.store.documents.has_document(earlier_id)
            _record_pipeline_run(direct, report.failures)

        try:
            fuzz()
        finally:
            logging.getLogger("ingest.pipeline").removeHandler(crash_log)
        assert kb.check() == []


def _assert_every_file_accounted_for(
    kb: KnowledgeBase, direct: dict[Path, Outcome], failures: list[tuple[str, str]]
) -> None:
    """Each file's `ReaderError` and record errors are recorded failures, and each of its documents is stored (by
    its content, read from this file or another; or a later copy of its source is), or recorded as failed, or
    deleted by a `Deletion` of the same run."""
    failed = {source for source, _ in failures}
    deleted = {item.source for outcome in direct.values() for item in outcome.items if isinstance(item, Deletion)}
    for path, outcome in direct.items():
        if outcome.reader_error is not None:
            assert str(path) in failed, f"{path}: ReaderError not recorded: {outcome.reader_error}"
        for error in outcome.record_errors:
            assert error.source in failed, f"{path}: record error not recorded: {error}"
        for doc in outcome.documents:
            store = kb.storage.store
            stored = store.documents.has_document(doc.id) or bool(store.documents.versions_for_source(doc.source))
            assert stored or doc.source in failed or doc.source in deleted, f"{path}: {doc.source} lost"
