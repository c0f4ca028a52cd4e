"""One generator, many requests: a worker thread answers jobs one at a time from a bounded queue.

The generator is one model in memory and one set of CPU threads, so answers are made one after another. A job
waits in the queue; when the queue is full, `AnswerWorker.submit` raises `Busy` at once (the service answers 503
with ``Retry-After``) rather than letting requests pile up. A job whose client went away is cancelled: if it is
still waiting it is skipped, and if it is drafting, the next draft piece stops it (`Cancelled`). Searches do not go
through the queue: they run beside the generation.

Events reach the asyncio side through ``loop.call_soon_threadsafe``: ``("draft", piece)`` while the model writes,
then one ``("done", answer)``, ``("error", exception)`` or ``("cancelled", None)``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: A job's work: given a callback for draft pieces, return the result (an answer).
Work = Callable[[Callable[[str], None]], Any]


class Busy(Exception):
    """The queue is full; ``retry_after`` is a guess, in whole seconds, at when a place frees up."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the answer queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class Cancelled(Exception):
    """Raised inside a job's draft callback once its client has gone."""


@dataclass
class Job:
    work: Work
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()

    def _emit(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop has closed: the server is stopping
            self.cancelled.set()


class AnswerWorker:
    """A single worker thread over a queue of at most ``size`` waiting jobs (the one being answered not counted).

    Example::

        worker = AnswerWorker(size=4)
        job = worker.submit(lambda on_text: kb.ask(question, on_text=on_text), asyncio.get_running_loop())
        kind, value = await job.events.get()
    """

    def __init__(self, size: int = 4) -> None:
        if size < 0:
            raise ValueError(f"queue size {size}: expected 0 or more")
        self.size = size
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._busy = False
        self._durations: deque[float] = deque(maxlen=20)
        self.served = 0
        self.rejected = 0
        self.cancelled = 0
        self._thread = threading.Thread(target=self._run, name="medkb-answer-worker", daemon=True)
        self._thread.start()

    def submit(self, work: Work, loop: asyncio.AbstractEventLoop) -> Job:
        with self._lock:
            if self._waiting + int(self._busy) > self.size:
                self.rejected += 1
                raise Busy(self.retry_after())
            self._waiting += 1
        job = Job(work, loop)
        self._queue.put(job)
        return job

    def retry_after(self) -> int:
        """Seconds until the queue has likely moved on by one answer (the median of recent answer times)."""
        typical = statistics.median(self._durations) if self._durations else 10.0
        return max(1, math.ceil(typical))

    def status(self) -> dict[str, int | bool]:
        return {
            "queue_size": self.size,
            "waiting": self._waiting,
            "answering": self._busy,
            "served": self.served,
            "rejected": self.rejected,
            "cancelled": self.cancelled,
        }

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            with self._lock:
                self._waiting -= 1
                self._busy = not job.cancelled.is_set()
            if job.cancelled.is_set():
                self.cancelled += 1
                job._emit("cancelled", None)
                continue

            def on_text(piece: str, job: Job = job) -> None:
                if job.cancelled.is_set():
                    raise Cancelled
                job._emit("draft", piece)

            started = time.perf_counter()
            try:
                result = job.work(on_text)
            except Cancelled:
                self.cancelled += 1
                job._emit("cancelled", None)
            except Exception as exc:  # the request's error, answered as JSON by the service
                job._emit("error", exc)
            else:
                self.served += 1
                self._durations.append(time.perf_counter() - started)
                job._emit("cancelled" if job.cancelled.is_set() else "done", result)
            finally:
                with self._lock:
                    self._busy = False
