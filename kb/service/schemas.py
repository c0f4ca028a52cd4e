"""The service's request bodies, as pydantic models (FastAPI reads and documents them in the OpenAPI schema).

The chat request follows OpenAI's ``POST /v1/chat/completions``; what medkb adds travels in the extra field
``medkb`` (`MedkbOptions`): the patient, the number of passages, the task and metadata filters. Limits are the
library's own (`kb.knowledge_base`), so that the service refuses what ``kb.ask`` would refuse, before it queues.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kb.core.types import PatientContext, Task
from kb.knowledge_base import MAX_ASK_K, MAX_QUERY_CHARS

#: The most chat messages one request may carry (earlier turns beyond the last few are not used anyway).
MAX_MESSAGES = 64
#: The longest one message may be (earlier answers with their sources are long); the last user message, the
#: question, is held to ``MAX_QUERY_CHARS``.
MAX_MESSAGE_CHARS = 20_000
#: The most passages one search over HTTP returns (the library allows more, for batch work in Python).
MAX_SERVICE_K = 200


class Patient(BaseModel):
    """What is known about the patient (all optional); never stored."""

    model_config = ConfigDict(extra="forbid")

    age: int | None = Field(default=None, ge=0, le=130)
    sex: Literal["female", "male", "other", "F", "M", "f", "m"] | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    allergies: list[str] = Field(default_factory=list, max_length=50)
    medications: list[str] = Field(default_factory=list, max_length=50)
    conditions: list[str] = Field(default_factory=list, max_length=50)
    notes: str = Field(default="", max_length=2000)

    def to_context(self) -> PatientContext | None:
        context = PatientContext(**self.model_dump())
        return None if context.is_empty() else context


class MedkbOptions(BaseModel):
    """medkb's extra request field: ``{"medkb": {"patient": {...}, "k": 5, "task": "drug", "filters": {...}}}``."""

    model_config = ConfigDict(extra="forbid")

    patient: Patient | None = None
    k: int | None = Field(default=None, ge=1, le=MAX_ASK_K)
    task: Task | None = None
    filters: dict[str, str] | None = Field(default=None, max_length=20)
    rewrite: bool = Field(default=True, description="rewrite a follow-up into a standalone question from the turns")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)] | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text: a string, or the text parts of a list of content parts."""
        if isinstance(self.content, str):
            return self.content
        parts = self.content or []
        return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text")


class ChatRequest(BaseModel):
    """OpenAI's chat completion request; fields medkb does not use (temperature, tools, ...) are accepted and
    ignored, since the answer is verified against passages rather than sampled."""

    model_config = ConfigDict(extra="allow")

    model: str = "medkb"
    messages: list[ChatMessage] = Field(max_length=MAX_MESSAGES)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    medkb: MedkbOptions | None = None


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(default=10, ge=1, le=MAX_SERVICE_K)
    mode: Literal["dense", "lexical", "hybrid"] | None = None
    filters: dict[str, str] | None = Field(default=None, max_length=20)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int | None = Field(default=None, ge=1, le=MAX_ASK_K)
    task: Task | None = None
    patient: Patient | None = None
    filters: dict[str, str] | None = Field(default=None, max_length=20)
    history: list[Annotated[str, Field(max_length=MAX_QUERY_CHARS)]] = Field(
        default_factory=list, max_length=MAX_MESSAGES, description="earlier questions of the conversation, oldest first"
    )
