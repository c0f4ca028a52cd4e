"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from generation.backends import make_generator
from generation.openai import OpenAICompatibleGenerator
from kb.core.errors import GenerationError


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if body["model"] == "broken":
            payload, status = {"error": "model not loaded"}, 503
        else:
            payload, status = {"choices": [{"message": {"role": "assistant", "content": " It is [1]. "}}]}, 200
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_chat_completion_round_trip(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDKB_OPENAI_API_KEY", "secret")
    gen = make_generator(f"openai:{server}", model="served-model")
    messages = [{"role": "user", "content": "hi"}]
    assert gen.generate(messages, max_tokens=12) == "It is [1]."
    sent = _Handler.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"] == {"model": "served-model", "messages": messages, "max_tokens": 12, "temperature": 0.0}
    assert sent["auth"] == "Bearer secret"


def test_http_error_is_a_clear_generation_error(server: str) -> None:
    with pytest.raises(GenerationError, match="HTTP 503.*model not loaded"):
        OpenAICompatibleGenerator(server, model="broken").generate([{"role": "user", "content": "x"}])


def test_unreachable_endpoint(server: str) -> None:
    dead = "http://127.0.0.1:9/v1"
    with pytest.raises(GenerationError, match="unreachable"):
        OpenAICompatibleGenerator(dead, model="m", timeout=2).generate([{"role": "user", "content": "x"}])
    with pytest.raises(GenerationError, match="expected an http"):
        OpenAICompatibleGenerator("ftp://x", model="m")
