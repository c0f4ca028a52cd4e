"""The service's endpoints, in process (FastAPI's TestClient), over the sample corpus with the fakes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb.service.app import create_app
from tests.service.conftest import open_sample

QUESTION = "What are the contraindications of metformin?"


@pytest.fixture
def client(sample_kb_dir: Path) -> Iterator[TestClient]:
    kb = open_sample(sample_kb_dir)
    with TestClient(create_app(kb)) as c:
        yield c
    kb.close()


def chat(client: TestClient, *messages: str, **extra: Any) -> Any:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": m} for i, m in enumerate(messages)]
    return client.post("/v1/chat/completions", json={"model": "medkb", "messages": turns, **extra})


def events(response: Any) -> list[Any]:
    out = []
    for block in response.text.split("\n\n"):
        if block.startswith("data: "):
            data = block.removeprefix("data: ")
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_models_health_and_stats(client: TestClient) -> None:
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == "medkb"
    assert models["data"][0]["medkb"]["generator"] == "echo"
    assert client.get("/healthz").json() == {"status": "ok", "documents": 40}
    stats = client.get("/v1/stats").json()
    assert stats["documents"] == 40 and stats["queue"]["queue_size"] == 4


def test_chat_completion_carries_the_answer_and_its_evidence(client: TestClient) -> None:
    body = chat(client, QUESTION).json()
    assert body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant" and body["choices"][0]["finish_reason"] == "stop"
    extra = body["medkb"]
    assert not extra["abstained"] and extra["citations"]
    assert message["content"].startswith(extra["answer"])
    assert "\nSources:\n[1] " in message["content"]
    for citation in extra["citations"]:  # every citation resolves to the exact words in its document
        document = client.get(f"/v1/documents/{citation['doc_id']}").json()
        assert document["text"][citation["start"] : citation["end"]] == citation["quote"]
        assert {
            "chunk_id": citation["chunk_id"],
            "start": citation["start"],
            "end": citation["end"],
            "section": citation["section"],
        } in document["chunks"]
    assert extra["sentences"] and all("support" in s for s in extra["sentences"])
    assert extra["standalone_question"] is None


def test_stream_sends_the_draft_then_the_verified_message(client: TestClient) -> None:
    whole = chat(client, QUESTION).json()
    response = chat(client, QUESTION, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = events(response)
    assert chunks[-1] == "[DONE]"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    drafts = [c["medkb"]["draft"] for c in chunks[1:-1] if "draft" in c.get("medkb", {})]
    assert drafts, "the draft streams"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[1:-1])
    assert content == whole["choices"][0]["message"]["content"]
    last = chunks[-2]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["medkb"]["citations"] == whole["medkb"]["citations"]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks[:-1])


def test_a_follow_up_is_rewritten_with_the_earlier_turn(client: TestClient) -> None:
    body = chat(client, "What is metformin?", "It is a biguanide [1].", "What are its contraindications?").json()
    assert body["medkb"]["standalone_question"] == "What are the contraindications of metformin?"
    assert body["medkb"]["question"] == "What are the contraindications of metformin?"
    plain = chat(client, "What is metformin?", "...", "What are its contraindications?", medkb={"rewrite": False})
    assert plain.json()["medkb"]["standalone_question"] is None


def test_patient_context_is_checked(client: TestClient) -> None:
    patient = {"allergies": ["penicillin"], "age": 40}
    body = chat(client, "Can I give amoxicillin for pneumonia?", medkb={"patient": patient, "task": "drug"}).json()
    warnings = body["medkb"]["drug_warnings"]
    assert any(w["drug"] == "amoxicillin" for w in warnings)
    assert body["choices"][0]["message"]["content"].startswith("Drug warnings:\n- ")


def test_search_ask_and_documents(client: TestClient) -> None:
    hits = client.post("/v1/search", json={"query": "metformin contraindications", "k": 3}).json()
    assert len(hits) == 3 and all({"doc_id", "chunk_id", "score", "start", "end"} <= set(h) for h in hits)
    only = client.post("/v1/search", json={"query": "metformin", "k": 5, "filters": {"source": "nothing-such"}})
    assert only.json() == []
    asked = client.post("/v1/ask", json={"question": QUESTION}).json()
    keys = {"answer", "citations", "sentences", "drug_warnings", "abstained", "task", "evidence", "notice"}
    assert keys <= set(asked)
    follow = client.post("/v1/ask", json={"question": "How is it diagnosed?", "history": ["What is type 2 diabetes?"]})
    assert follow.json()["standalone_question"] == "How is type 2 diabetes diagnosed?"
    doc_id = hits[0]["doc_id"]
    document = client.get(f"/v1/documents/{doc_id}").json()
    assert document["id"] == doc_id and document["text"] and document["chunks"]


def test_the_page_and_its_assets_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("post", "/v1/chat/completions", b"{not json", 400, "malformed JSON"),
        ("post", "/v1/chat/completions", {"messages": []}, 400, "at least one user message"),
        ("post", "/v1/chat/completions", {"messages": [{"role": "assistant", "content": "hi"}]}, 400, "last message"),
        ("post", "/v1/chat/completions", {"messages": [{"role": "user", "content": "  "}]}, 400, "empty"),
        ("post", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x" * 5000}]}, 400, "at most 4,000"),
        ("post", "/v1/chat/completions", {}, 422, "messages: Field required"),
        (
            "post",
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x" * 20001}]},
            422,
            "messages.0.content: String should have at most 20000 characters",
        ),
        ("post", "/v1/ask", {"question": "How?", "history": ["x" * 4001]}, 422, "history.0: String should have"),
        (
            "post",
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "q"}], "medkb": {"patient": {"age": 200}}},
            422,
            "age",
        ),
        ("post", "/v1/chat/completions", {"messages": [{"role": "user", "content": "q"}], "medkb": {"x": 1}}, 422, "x"),
        ("post", "/v1/search", {"query": ""}, 422, "query"),
        ("post", "/v1/search", {"query": "x", "k": 0}, 422, "k"),
        ("post", "/v1/search", {"query": "x", "filters": {"published_from": "last year"}}, 400, "published_from"),
        ("post", "/v1/ask", {"question": "x" * 4001}, 422, "question"),
        ("get", "/v1/documents/no-such-document", None, 404, "no-such-document"),
        ("get", "/v1/nothing-here", None, 404, "Not Found"),
    ],
)
def test_bad_input_gets_a_clear_json_error_and_no_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, method: str, path: str, body: Any, status: int, says: str
) -> None:
    caplog.set_level(logging.DEBUG)
    if isinstance(body, bytes):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert response.status_code == status
    error = response.json()["error"]
    assert says in error["message"] and error["type"]
    assert not [r for r in caplog.records if r.exc_info], "a bad request is not a bug: no traceback"


def test_serve_refuses_a_missing_knowledge_base_and_a_public_address(tmp_path: Path, capsys: Any) -> None:
    from kb.cli import main

    assert main(["serve", "--kb", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such knowledge base directory" in capsys.readouterr().err
    assert main(["serve", "--kb", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
