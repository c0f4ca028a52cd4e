"""A generator backend for any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, TGI)."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from generation.base import Messages
from kb.core.errors import GenerationError

log = logging.getLogger(__name__)


class OpenAICompatibleGenerator:
    """POSTs to ``{base_url}/chat/completions``. The API key, if the server wants one, comes from
    ``MEDKB_OPENAI_API_KEY``."""

    def __init__(self, base_url: str, *, model: str, timeout: float = 120.0, api_key: str | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise GenerationError(f"endpoint {base_url!r}: expected an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}#{model}"
        self.timeout = timeout
        self.api_key = api_key if api_key is not None else os.environ.get("MEDKB_OPENAI_API_KEY")

    def generate(
        self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0, max_time: float | None = None
    ) -> str:
        """The endpoint's reply; the request times out after ``max_time`` seconds when given (else ``timeout``)."""
        url = f"{self.base_url}/chat/completions"
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            timeout = self.timeout if max_time is None else max(min(self.timeout, max_time), 0.1)
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload: Any = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            raise GenerationError(f"{url}: HTTP {exc.code} ({detail})") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise GenerationError(f"{url}: endpoint unreachable ({exc})") from exc
        except ValueError as exc:
            raise GenerationError(f"{url}: response is not JSON ({exc})") from exc
        try:
            return str(payload["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError) as exc:
            raise GenerationError(f"{url}: expected choices[0].message.content in the response") from exc
