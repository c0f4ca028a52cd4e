"""A local HTTP server for download tests: serves files from a folder, logs requests, can serve directory listings,
drop a connection midway or ignore ``Range``. Bound to 127.0.0.1; proxies are cleared for the test."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corpora.catalog import REGISTRY_ENV


@dataclass
class Request:
    path: str
    range: str | None
    user_agent: str | None


@dataclass
class Server:
    root: Path
    url: str = ""
    log: list[Request] = field(default_factory=list)
    listings: dict[str, str] = field(default_factory=dict)  # "/dir/" -> HTML
    drop_after: dict[str, int] = field(default_factory=dict)  # "/file" -> bytes sent before hanging up, once
    ignore_range: set[str] = field(default_factory=set)

    def gets(self, name: str) -> list[Request]:
        return [r for r in self.log if r.path.rsplit("/", 1)[-1] == name]


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        state.log.append(Request(self.path, self.headers.get("Range"), self.headers.get("User-Agent")))
        if self.path in state.listings:
            self._send(200, state.listings[self.path].encode(), {"Content-Type": "text/html; charset=utf-8"})
            return
        file = state.root / self.path.lstrip("/")
        if ".." in self.path or not file.is_file():
            self._send(404, b"not found")
            return
        body = file.read_bytes()
        size, start, status, headers = len(body), 0, 200, {}
        requested = self.headers.get("Range")
        if requested and self.path not in state.ignore_range:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= size:
                self._send(416, b"", {"Content-Range": f"bytes */{size}"})
                return
            status, headers = 206, {"Content-Range": f"bytes {start}-{size - 1}/{size}"}
        body = body[start:]
        if (cut := state.drop_after.pop(self.path, None)) is not None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True  # the client sees a body shorter than Content-Length
            return
        self._send(status, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {**(headers or {}), "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv(REGISTRY_ENV, raising=False)
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    state = Server(root, url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def put(server: Server, relative: str, data: bytes) -> str:
    """Serve ``data`` at ``relative``; returns its sha256."""
    path = server.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()
