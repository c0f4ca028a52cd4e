"""The service on a real socket (uvicorn on 127.0.0.1, started by the test): the official OpenAI client, LangChain's
ChatOpenAI, a full queue, a client that goes away, and search beside a generation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.service.conftest import Running, SlowGenerator

QUESTION = "What are the contraindications of metformin?"


def test_the_openai_client_gets_answers_and_the_extra_field(running_server: Callable[..., Running]) -> None:
    openai = pytest.importorskip("openai")
    server = running_server()
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["medkb"]
    completion = client.chat.completions.create(
        model="medkb",
        messages=[{"role": "user", "content": "Can I give amoxicillin for pneumonia?"}],
        extra_body={"medkb": {"patient": {"allergies": ["penicillin"]}}},
    )
    extra = completion.model_extra["medkb"]
    assert completion.choices[0].message.content.startswith("Drug warnings:")
    assert extra["citations"] and any(w["drug"] == "amoxicillin" for w in extra["drug_warnings"])
    stream = client.chat.completions.create(
        model="medkb", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "[1]" in content and "Sources:" in content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["medkb"]["citations"]


def test_langchain_chat_openai_talks_to_it(running_server: Callable[..., Running]) -> None:
    chat_openai = pytest.importorskip("langchain_openai").ChatOpenAI
    server = running_server()
    llm = chat_openai(model="medkb", base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    reply = llm.invoke(QUESTION)
    assert "[1]" in reply.content and "Sources:" in reply.content
    streamed = "".join(str(piece.content) for piece in llm.stream(QUESTION))
    assert streamed == reply.content


def test_a_full_queue_answers_503_with_retry_after(running_server: Callable[..., Running]) -> None:
    generator = SlowGenerator(delay=0.1)
    server = running_server(generator, queue=0)
    body = {"model": "medkb", "messages": [{"role": "user", "content": QUESTION}]}
    first = threading.Thread(target=httpx.post, args=(f"{server.url}/v1/chat/completions",),
                             kwargs={"json": body, "timeout": 120})
    first.start()
    assert generator.started.wait(60)
    refused = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["type"] == "server_busy"
    first.join(120)


def test_a_client_that_goes_away_cancels_its_generation(running_server: Callable[..., Running]) -> None:
    generator = SlowGenerator(delay=0.3)
    server = running_server(generator)
    body = {"model": "medkb", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=60) as response:
        for line in response.iter_lines():
            if '"draft"' in line:
                break  # the draft has started: hang up
    worker = server.server.config.app.state.worker  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while worker.status()["cancelled"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker.status()["cancelled"] == 1
    written = generator.written
    time.sleep(1.0)
    assert generator.written == written, "the model stopped writing"
    assert written < 20


def test_search_runs_while_an_answer_is_being_written(running_server: Callable[..., Running]) -> None:
    generator = SlowGenerator(delay=0.1)
    server = running_server(generator)
    body = {"model": "medkb", "messages": [{"role": "user", "content": QUESTION}]}
    answering = threading.Thread(target=httpx.post, args=(f"{server.url}/v1/chat/completions",),
                                 kwargs={"json": body, "timeout": 120})
    answering.start()
    assert generator.started.wait(60)
    hits: Any = httpx.post(f"{server.url}/v1/search", json={"query": "metformin", "k": 3}, timeout=30).json()
    worker = server.server.config.app.state.worker  # type: ignore[attr-defined]
    assert len(hits) == 3
    assert worker.status()["answering"], "the search came back before the answer was finished"
    answering.join(120)
