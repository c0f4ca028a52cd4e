"""A knowledge base of the bundled sample, built once with the fakes, and the service over it (echo generator)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from generation.base import EchoGenerator
from kb.knowledge_base import KnowledgeBase
from tests.fakes import ingest_with_fakes

SAMPLE = Path(__file__).resolve().parents[2] / "corpora" / "sample"


@pytest.fixture(scope="session")
def sample_kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("service") / "kb"
    assert ingest_with_fakes(directory, SAMPLE) == 0
    return directory


def open_sample(directory: Path, generator: object | None = None) -> KnowledgeBase:
    return KnowledgeBase.open(directory, generator=generator or EchoGenerator())  # type: ignore[arg-type]


class SlowGenerator(EchoGenerator):
    """The echo answer, one word every ``delay`` seconds; counts the words it wrote (to see a cancelled draft stop)."""

    def __init__(self, delay: float = 0.2) -> None:
        super().__init__()
        self.delay = delay
        self.written = 0
        self.started = threading.Event()

    def stream(self, messages, *, max_tokens=256, temperature=0.0):  # type: ignore[no-untyped-def]
        for piece in super().stream(messages, max_tokens=max_tokens, temperature=temperature):
            self.started.set()
            time.sleep(self.delay)
            self.written += 1
            yield piece


@dataclass
class Running:
    url: str
    kb: KnowledgeBase
    server: object


@contextmanager
def serve(kb: KnowledgeBase, queue: int = 4) -> Iterator[Running]:
    """The service over ``kb`` with uvicorn on 127.0.0.1 (a free port), in a thread, until the block ends."""
    import uvicorn

    from kb.service.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(kb, queue_size=queue), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300  # start-up loads the models
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Running(f"http://127.0.0.1:{port}", kb, server)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def running_server(sample_kb_dir: Path) -> Iterator[Callable[..., Running]]:
    """Starts the service over the sample (fakes) on 127.0.0.1: ``start(generator=..., queue=...)``."""
    with ExitStack() as stack:

        def start(generator: object | None = None, queue: int = 4) -> Running:
            kb = open_sample(sample_kb_dir, generator)
            stack.callback(kb.close)
            return stack.enter_context(serve(kb, queue))

        yield start
