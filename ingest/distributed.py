"""Distributed ingestion on Dask: workers read, de-identify, chunk and embed files; this process alone writes.

What runs where:

- **Workers** (``dask worker``) each get one file per task: :func:`prepare_file` reads it with the reader the
  coordinator chose for it (sent with the task, so readers registered only there work), applies the
  transform (de-identification), chunks every document with the knowledge base's chunk settings and embeds the
  chunks (main encoder, and the cross-lingual one when configured). The file's items come back in order, documents
  as `ingest.pipeline.Prepared`, with the sha256 of the bytes the worker read.
- **The coordinator** (the process that runs ``medkb ingest``) is an ordinary `ingest.pipeline.Ingestor` with all
  of its bookkeeping: it skips unchanged files before sending anything (a stat, then a hash), dedupes by content
  hash, orders versions, applies deletions, records failures, and commits one SQLite transaction per batch. It
  consumes the workers' results in the order the files were given, so a run stores exactly what a local run
  stores; only the parsing and embedding moved. SQLite and the vector index stay on this machine (one writer).

Documents given as `kb.core.types.Document` objects (not files) are chunked and embedded on the coordinator: they are
already in its memory, and shipping them out and back would cost more than it saves for most callers.

Dask is optional (``pip install 'medkb[dask]'``) and imported only when a run starts, so ``import ingest.pipeline``
never needs it. Inputs must be visible to every worker at the same absolute path (a shared filesystem); a worker that
reads other bytes than the coordinator hashed fails that file rather than storing a mix. A worker holds one file's
documents and vectors at a time: split very large files if worker memory is tight.

Example (through the facade, which makes the workers' encoder recipes from the knowledge base's settings)::

    with KnowledgeBase.open("/data/pubmed-kb") as kb:
        report = kb.ingest(["/shared/pubmed"], reader="pubmed", dask_scheduler="tcp://10.0.0.5:8786")
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.chunking import Chunker, oversize_reason
from ingest.pipeline import (
    IngestAborted,
    Ingestor,
    IngestReport,
    Item,
    Prepared,
    Step,
    Transform,
    embed_chunks,
)
from ingest.progress import IngestProgress
from ingest.readers import Deletion, Reader, ReadItem, RecordError, reader_for
from kb.core.errors import MedkbError, ReaderError
from kb.core.model_registry import file_sha256
from kb.core.offline import use_offline_environment
from kb.core.protocols import Embedder, IngestTarget
from kb.core.types import Chunk, Document

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

DASK_EXTRA = "pip install 'medkb[dask]'"
#: Seconds to wait for the scheduler to answer, and then for a first worker to join it.
CONNECT_TIMEOUT_S = 10.0
#: Steps the coordinator holds while it looks ahead for files to send (documents and unchanged files included).
_MAX_AHEAD = 10_000
#: Texts a worker embeds per call: bounds the tokenised batch held at once for a large file.
_EMBED_SLICE = 256


@dataclass(frozen=True)
class EmbedderRecipe:
    """How a worker makes an embedder: ``make()``, a picklable callable (``functools.partial(make_embedder, name)``),
    is called once per worker process for each ``name``; the model loads on the worker, from its own packages."""

    name: str
    make: Callable[[], Embedder]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to prepare a file exactly as the coordinator would have; sent with each task."""

    embedder: EmbedderRecipe
    chunk_tokens: int
    chunk_overlap: int
    embedding_text: int
    cross_embedder: EmbedderRecipe | None = None
    transform: Transform | None = None


@dataclass
class FileResult:
    """A worker's answer for one file: the reader's items in order (documents as `Prepared`), the failure that
    stopped the reading (None when the file was read to its end), the sha256 of the bytes read, and the host."""

    items: list[Prepared | RecordError | Deletion]
    error: str | None
    sha256: str | None
    host: str


# -- on the workers --------------------------------------------------------------------------------------------------

_EMBEDDERS: dict[str, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def prepare_file(path: str, location: str, reader: Reader | None, spec: WorkerSpec) -> FileResult:
    """Read the file ``path`` names with ``reader`` (the coordinator's choice, so that readers registered there work
    here; None: the coordinator has none for it) at ``location``, its absolute path on the coordinator (a worker has
    another working directory), and prepare its documents (transform, chunk, embed) as `ingest.pipeline.Ingestor`
    would; sources and messages name it ``path``, as a local run names it.

    A file that cannot be read, or whose reader fails part-way, comes back with the items read before and the
    failure's reason, worded as a local run words it. A failing encoder raises instead: that is not the file's fault.
    """
    main, cross = _worker_embedder(spec.embedder), None
    if spec.cross_embedder is not None:
        cross = _worker_embedder(spec.cross_embedder)
    chunker = Chunker(main.count_tokens, spec.chunk_tokens, spec.chunk_overlap)
    file, host = Path(location), socket.gethostname()
    try:
        sha256 = file_sha256(file)
    except OSError as exc:
        reason = f"{path}: cannot read on Dask worker {host} ({exc.strerror or exc}); workers need the same path"
        return FileResult([], reason, None, host)
    items: list[tuple[Document, list[Chunk]] | RecordError | Deletion] = []
    error = None
    try:  # what `Ingestor._ingest_file` does around reading, transforming and chunking, worded as it words it
        for record in (reader or reader_for(file)).read(file):  # reader_for raises the coordinator's message
            record = _named_as_given(record, location, path)
            if isinstance(record, Document):
                doc = spec.transform(record) if spec.transform is not None else record
                if too_long := oversize_reason(doc):
                    items.append(RecordError(doc.source, too_long))
                else:
                    items.append((doc, chunker.chunk(doc) if doc.text.strip() else []))
            else:
                items.append(record)
    except ReaderError as exc:
        error = str(exc).replace(location, path)
    except Exception as exc:  # a reader bug: recorded with its type
        log.exception("reader crashed on %s", path)
        error = f"{path}: {type(exc).__name__}: {exc}".replace(location, path)
    return FileResult(_embedded(items, spec.embedding_text, main, cross), error, sha256, host)


def _named_as_given(record: ReadItem, location: str, path: str) -> ReadItem:
    """``record`` as a reader given ``path`` would have made it: readers name their file in sources (``path``,
    ``path#key``) and messages."""
    if location == path:
        return record
    if isinstance(record, Document):
        if record.source.startswith(location):
            return replace(record, source=path + record.source[len(location) :])
        return record
    if isinstance(record, RecordError):
        source = path + record.source[len(location) :] if record.source.startswith(location) else record.source
        return RecordError(source, record.reason.replace(location, path))
    return Deletion(record.source, record.reason.replace(location, path))


def _embedded(
    items: list[tuple[Document, list[Chunk]] | RecordError | Deletion],
    version: int,
    main: Embedder,
    cross: Embedder | None,
) -> list[Prepared | RecordError | Deletion]:
    """``items`` with every chunked document embedded, one pass per encoder over all of the file's chunks."""
    docs = [item for item in items if isinstance(item, tuple)]
    embedded = iter(embed_chunks(docs, version, main, cross, slice_size=_EMBED_SLICE))
    out: list[Prepared | RecordError | Deletion] = []
    for item in items:
        if isinstance(item, tuple):
            vectors, xvectors = next(embedded)
            out.append(Prepared(item[0], item[1], vectors, xvectors))
        else:
            out.append(item)
    return out


def _worker_embedder(recipe: EmbedderRecipe) -> Embedder:
    """This process's embedder for ``recipe``, made and loaded on first use, with one compute thread per task."""
    with _EMBEDDERS_LOCK:
        embedder = _EMBEDDERS.get(recipe.name)
        if embedder is None:
            _one_thread_per_task()
            embedder = recipe.make()
            if getattr(embedder, "threads", 0) is None:
                embedder.threads = 1  # type: ignore[attr-defined]  # OnnxEmbedder's ONNX Runtime pool, read on load
            _ = embedder.dim  # load now, under the lock, and so that a missing model fails the task, not a file
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)
            _EMBEDDERS[recipe.name] = embedder
            log.info("worker %s: loaded embedder %s", socket.gethostname(), recipe.name)
    return embedder


def _one_thread_per_task() -> None:
    """A worker runs as many tasks at once as it has threads (``--nthreads``); each task's libraries must then use
    one thread, or the cores are oversubscribed and every task slows down. Set before the libraries load."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    use_offline_environment()


# -- on the coordinator ----------------------------------------------------------------------------------------------


def connect(address: str, timeout: float | None = None) -> Client:
    """A Dask client of the scheduler at ``address`` (``tcp://HOST:PORT``) with at least one worker.

    Raises `kb.core.errors.MedkbError` naming the address when the scheduler does not answer or has no workers within
    ``timeout`` seconds (default `CONNECT_TIMEOUT_S`), and naming the extra to install when Dask is missing.
    """
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    try:
        from distributed import Client
    except ImportError as exc:
        raise MedkbError(f"distributed ingestion needs Dask: {DASK_EXTRA} ({exc})") from exc
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise MedkbError(
            f"cannot reach the Dask scheduler at {address} ({exc}); is `dask scheduler` running there, the port open?"
        ) from exc
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise MedkbError(
            f"the Dask scheduler at {address} has no workers after {timeout:g} s; "
            f"start some with `dask worker {address} --nthreads 1`"
        ) from exc
    return client


@dataclass
class _Sent:
    """A file the coordinator looked at ahead: its size, mtime and sha256 then, and its task (None: unchanged)."""

    path: Path
    size: int
    mtime_ns: int
    sha256: str
    future: Future | None


class DaskIngestor(Ingestor):
    """An `Ingestor` whose files are read, transformed, chunked and embedded on the workers of the Dask scheduler at
    ``scheduler``; everything else (skipping, dedupe, versions, deletions, failures, commits) stays here.

    ``worker_embedder`` (and ``worker_cross_embedder``, when ``cross_embedder`` is given) make on the workers the
    encoders ``embedder`` and ``cross_embedder`` are here; ``chunk_tokens`` and ``chunk_overlap`` are ``chunker``'s
    settings. Up to ``window`` files (default: twice the workers' threads) are in flight at once; ``connect_timeout``
    is `connect`'s. The other options are `Ingestor`'s.
    """

    def __init__(
        self,
        storage: IngestTarget,
        embedder: Embedder,
        chunker: Chunker,
        *,
        scheduler: str,
        worker_embedder: EmbedderRecipe,
        chunk_tokens: int,
        chunk_overlap: int,
        worker_cross_embedder: EmbedderRecipe | None = None,
        window: int | None = None,
        connect_timeout: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(storage, embedder, chunker, **options)
        if (worker_cross_embedder is None) != (self.cross_embedder is None):
            raise MedkbError("worker_cross_embedder must be given exactly when cross_embedder is")
        if window is not None and window < 1:
            raise MedkbError(f"window must be a positive integer or None, got {window!r}")
        self.scheduler = scheduler
        self.window = window
        self.connect_timeout = connect_timeout
        self.spec = WorkerSpec(
            worker_embedder,
            chunk_tokens,
            chunk_overlap,
            self.embedding_text,
            worker_cross_embedder,
            self.transform,
        )
        self._client: Client | None = None
        self._ahead: deque[_Sent] = deque()
        self._current: _Sent | None = None
        self._limit = 1

    def run(
        self,
        items: Iterable[Item],
        on_item: Callable[[], None] | None = None,
        *,
        sync: bool = False,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """`Ingestor.run` with the files prepared on the workers; connects to the scheduler for the run's length."""
        client = self._client = connect(self.scheduler, self.connect_timeout)
        try:
            threads = sum(client.nthreads().values())
            self._limit = self.window or max(2, 2 * threads)
            log.info(
                "ingesting through %s: %d worker thread(s), %d file(s) in flight", self.scheduler, threads, self._limit
            )
            return super().run(items, on_item, sync=sync, progress=progress)
        finally:
            for sent in self._ahead:
                if sent.future is not None:
                    sent.future.cancel()
            self._ahead.clear()
            self._current = None
            self._client = None
            client.close()

    def _steps(self, items: Iterable[Item], sync: bool) -> Iterator[Step]:
        """`Ingestor._steps`, looked ahead: each file that will need reading is sent to the workers as soon as it is
        walked, and a step is handed on only once ``window`` files are in flight (or at the end)."""
        held: deque[Step] = deque()
        for step in super()._steps(items, sync):
            if isinstance(step, Path):
                self._look_ahead(step)
            held.append(step)
            while held and (self._in_flight() >= self._limit or len(held) > _MAX_AHEAD):
                yield held.popleft()
        yield from held

    def _in_flight(self) -> int:
        return sum(sent.future is not None for sent in self._ahead)

    def _look_ahead(self, path: Path) -> None:
        """Send ``path`` to a worker unless the knowledge base holds it as it is (what `_ingest_file` will decide
        when it gets there; it decides again then, and a task it does not need is cancelled)."""
        try:
            stat = path.stat()
            previous = self.storage.file_state(str(path.resolve()))
            if self._same_stat(previous, stat):
                return
            digest = file_sha256(path)
        except OSError:
            return  # recorded as a failure when `_ingest_file` gets there
        unchanged = previous is not None and previous.sha256 == digest + self._mode
        future = None if unchanged else self._submit(path)
        self._ahead.append(_Sent(path, stat.st_size, stat.st_mtime_ns, digest, future))

    def _submit(self, path: Path) -> Future:
        assert self._client is not None, "DaskIngestor used outside run()"
        try:
            reader = self.reader or reader_for(path)
        except ReaderError:
            reader = None  # the worker fails the file with the same message, in its turn
        return self._client.submit(prepare_file, str(path), str(path.absolute()), reader, self.spec, pure=False)

    def _sha256(self, path: Path, stat: os.stat_result) -> str:
        """The digest taken when ``path`` was looked at ahead, if it has not changed since; it is about to be read
        (or touched), so its task becomes the current one."""
        sent = None
        if any(ahead.path == path for ahead in self._ahead):
            while (sent := self._ahead.popleft()).path != path:  # looked at ahead, then skipped here: not needed
                if sent.future is not None:
                    sent.future.cancel()
        if sent is not None and (sent.size, sent.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            if sent.future is not None:  # changed since: the worker may have read either version
                sent.future.cancel()
            sent = None
        if sent is None:
            sent = _Sent(path, stat.st_size, stat.st_mtime_ns, file_sha256(path), None)
        self._current = sent
        return sent.sha256

    def _read(self, path: Path) -> Iterator[ReadItem | Prepared]:
        """The items a worker prepared from ``path``, after checking it read the bytes hashed here."""
        sent, self._current = self._current, None
        if sent is None or sent.path != path:  # `_ingest_file` always asks `_sha256` first; this is for subclasses
            sent = _Sent(path, 0, 0, file_sha256(path), None)
        future = sent.future or self._submit(path)
        try:
            result: FileResult = future.result()
        except MedkbError as exc:
            raise IngestAborted(f"{path}: a Dask worker failed: {exc}") from exc
        except Exception as exc:  # KilledWorker, a lost scheduler, a bug on the worker: not the file's fault
            raise IngestAborted(f"{path}: a Dask worker failed ({type(exc).__name__}: {exc})") from exc
        if result.sha256 is not None and result.sha256 != sent.sha256:
            raise ReaderError(
                f"{path}: Dask worker {result.host} read other contents (sha256 {result.sha256[:12]}, here "
                f"{sent.sha256[:12]}); every worker must see the same files at the same path"
            )
        yield from result.items
        if result.error is not None:
            raise ReaderError(result.error)
