"""The answer queue: one job at a time, a full queue refuses at once, a cancelled job stops."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from kb.service.jobs import AnswerWorker, Busy


async def next_event(job: Any, timeout: float = 10.0) -> tuple[str, Any]:
    return await asyncio.wait_for(job.events.get(), timeout)


def test_jobs_run_one_at_a_time_and_a_full_queue_refuses() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        worker = AnswerWorker(size=1)
        release = threading.Event()
        running = threading.Event()

        def blocking(on_text: Any) -> str:
            running.set()
            release.wait(10)
            on_text("draft")
            return "first"

        first = worker.submit(blocking, loop)
        await asyncio.to_thread(running.wait, 10)
        second = worker.submit(lambda on_text: "second", loop)  # waits: the queue holds one
        with pytest.raises(Busy) as refused:
            worker.submit(lambda on_text: "third", loop)
        assert refused.value.retry_after >= 1
        assert worker.status()["answering"] and worker.status()["waiting"] == 1
        release.set()
        assert await next_event(first) == ("draft", "draft")
        assert await next_event(first) == ("done", "first")
        assert await next_event(second) == ("done", "second")
        assert worker.status()["served"] == 2 and worker.status()["rejected"] == 1
        worker.close()

    asyncio.run(scenario())


def test_a_cancelled_job_stops_at_its_next_draft_piece_and_a_waiting_one_never_runs() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        worker = AnswerWorker(size=2)
        pieces: list[int] = []
        first_piece = threading.Event()
        ran_second = threading.Event()

        def drafting(on_text: Any) -> str:
            for i in range(1000):
                on_text(str(i))
                pieces.append(i)
                first_piece.set()
                threading.Event().wait(0.01)
            return "finished"

        job = worker.submit(drafting, loop)
        waiting = worker.submit(lambda on_text: ran_second.set(), loop)
        await asyncio.to_thread(first_piece.wait, 10)
        waiting.cancel()
        job.cancel()
        kinds = []
        while (kind := (await next_event(job))[0]) == "draft":
            kinds.append(kind)
        assert kind == "cancelled" and len(pieces) < 1000
        assert (await next_event(waiting))[0] == "cancelled"
        assert not ran_second.is_set()
        assert worker.status()["cancelled"] == 2
        worker.close()

    asyncio.run(scenario())


def test_an_error_in_a_job_reaches_its_caller() -> None:
    async def scenario() -> None:
        worker = AnswerWorker(size=1)

        def failing(on_text: Any) -> None:
            raise ValueError("bad question")

        kind, value = await next_event(worker.submit(failing, asyncio.get_running_loop()))
        assert kind == "error" and isinstance(value, ValueError)
        worker.close()

    asyncio.run(scenario())
