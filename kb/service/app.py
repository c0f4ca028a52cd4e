"""``medkb serve``: the knowledge base over HTTP, as an OpenAI-compatible chat API, REST endpoints and a web page.

Endpoints (the OpenAPI schema is at ``/openapi.json``, browsable at ``/docs``):

- ``GET /v1/models``, ``POST /v1/chat/completions`` (streaming or not): OpenAI's chat API; the evidence travels
  in the extra field ``medkb`` (`kb.service.chat`), the patient in the request's ``medkb.patient``;
- ``POST /v1/search``, ``POST /v1/ask`` (``medkb ask --json``), ``GET /v1/documents/{id}`` (text, metadata and
  chunk spans), ``GET /v1/stats``, ``GET /healthz``;
- ``GET /``: the page for clinicians (`kb.service.static`).

Answers are made one at a time by one generator (`kb.service.jobs.AnswerWorker`); a full queue answers 503 with
``Retry-After``. Searches run beside them. Every error is JSON, OpenAI's shape: ``{"error": {"message", "type",
"param", "code"}}``; a request's error is never logged as a traceback (an unexpected one is, as a bug).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from kb.core.errors import DocumentNotFound, MedkbError
from kb.core.types import Answer
from kb.knowledge_base import MAX_QUERY_CHARS, KnowledgeBase
from kb.service.chat import (
    MODEL_ID,
    assistant_content,
    chunk,
    completion,
    completion_id,
    content_pieces,
    medkb_field,
)
from kb.service.jobs import AnswerWorker, Busy, Job
from kb.service.schemas import AskRequest, ChatRequest, SearchRequest

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")


class ServiceError(Exception):
    """A request that cannot be served: its status, message, and the request field at fault."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def create_app(kb: KnowledgeBase, *, queue_size: int = 4, warm: bool = True) -> FastAPI:
    """The service over an open knowledge base. ``warm`` loads the embedder, indexes and generator at start-up, so
    that the first request does not pay for them.

    Example::

        app = create_app(KnowledgeBase.open("my-kb"))
        uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    worker = AnswerWorker(queue_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm:
            await asyncio.to_thread(_warm, kb)
        yield
        worker.close()

    app = FastAPI(
        title="medkb",
        summary="Cited answers from medical literature, offline. Not medical advice.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.kb = kb
    app.state.worker = worker
    _errors(app)

    @app.get("/healthz", summary="liveness: the knowledge base is open")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "documents": kb.storage.store.counts()["documents"]}

    @app.get("/v1/stats", summary="the knowledge base's counts and settings, and the answer queue")
    def stats() -> dict[str, Any]:
        return {**kb.stats(), "generator": generator_label(kb), "queue": worker.status()}

    @app.get("/v1/models", summary="the model this service answers as (OpenAI's list)")
    def models() -> dict[str, Any]:
        entry = {
            "id": MODEL_ID,
            "object": "model",
            "created": 0,
            "owned_by": "medkb",
            "medkb": {"knowledge_base": str(kb.directory), "generator": generator_label(kb)},
        }
        return {"object": "list", "data": [entry]}

    @app.post("/v1/search", summary="the passages that best match a query")
    def search(body: SearchRequest) -> list[dict[str, Any]]:
        hits = kb.search(body.query, body.k, body.filters, mode=body.mode)
        return [h.to_dict() for h in hits]

    @app.get("/v1/documents/{doc_id:path}", summary="a document's full text, metadata and chunk spans")
    def document(doc_id: str) -> dict[str, Any]:
        doc, chunks = kb.document(doc_id)
        return {
            "id": doc_id,
            "title": doc.title,
            "source": doc.source,
            "metadata": doc.metadata,
            "text": doc.text,
            "sections": [{"title": s.title, "start": s.start, "end": s.end, "page": s.page} for s in doc.sections],
            "chunks": [{"chunk_id": c.id, "start": c.start, "end": c.end, "section": c.section} for c in chunks],
        }

    @app.post("/v1/ask", summary="a cited answer, as `medkb ask --json` prints it")
    async def ask(body: AskRequest, request: Request) -> dict[str, Any]:
        standalone = kb.standalone_question(body.question, body.history) if body.history else body.question
        patient = body.patient.to_context() if body.patient else None
        work = _asking(kb, standalone, body.k, body.filters, body.task, patient)
        answer = await _finished(_submit(worker, work), request)
        return medkb_field(answer, standalone if standalone != body.question else None)

    @app.post("/v1/chat/completions", summary="OpenAI's chat completion, answered from the knowledge base")
    async def chat(body: ChatRequest, request: Request) -> Any:
        question, history = _question_and_history(body)
        options = body.medkb
        rewrite = options.rewrite if options else True
        standalone = kb.standalone_question(question, history) if rewrite and history else question
        patient = options.patient.to_context() if options and options.patient else None
        work = _asking(
            kb,
            standalone,
            options.k if options else None,
            options.filters if options else None,
            options.task if options else None,
            patient,
        )
        job = _submit(worker, work)
        rewritten = standalone if standalone != question else None
        if not body.stream:
            answer = await _finished(job, request)
            return completion(answer, rewritten, model=MODEL_ID, cid=completion_id())
        return StreamingResponse(_stream(job, rewritten), media_type="text/event-stream")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


#: The runtime of each built-in generator, for the label the service reports.
_RUNTIMES = {"LlamaCppGenerator": "llama", "TransformersGenerator": "local", "OpenAICompatibleGenerator": "openai"}


def generator_label(kb: KnowledgeBase) -> str:
    """``runtime:model`` of the generator answering (e.g. ``llama:qwen2.5-coder-1.5b-instruct``); loads it."""
    generator = kb.generator
    runtime = _RUNTIMES.get(type(generator).__name__)
    return f"{runtime}:{generator.name}" if runtime else generator.name


def _version() -> str:
    from importlib.metadata import version

    return version("medkb")


def _warm(kb: KnowledgeBase) -> None:
    kb.search("warm up", 1)
    _ = kb.generator
    log.info("medkb serve: %s ready (generator %s)", kb.directory, generator_label(kb))


def _question_and_history(body: ChatRequest) -> tuple[str, list[str]]:
    users = [m.text().strip() for m in body.messages if m.role == "user"]
    if not body.messages:
        raise ServiceError(400, "messages: empty; expected at least one user message", param="messages")
    if body.messages[-1].role != "user":
        raise ServiceError(400, "messages: expected the last message to be the user's question", param="messages")
    question = users[-1]
    if not question:
        raise ServiceError(400, "messages: the last user message is empty; expected a question", param="messages")
    if len(question) > MAX_QUERY_CHARS:
        raise ServiceError(
            400,
            f"messages: a question of {len(question):,} characters; expected at most {MAX_QUERY_CHARS:,}",
            param="messages",
            kind="invalid_request_error",
        )
    return question, [u for u in users[:-1] if u]


def _asking(kb: KnowledgeBase, question: str, k: int | None, filters: Any, task: Any, patient: Any) -> Callable:
    def work(on_text: Callable[[str], None]) -> Answer:
        return kb.ask(question, k=k, filters=filters, task=task, patient=patient, on_text=on_text)

    return work


def _submit(worker: AnswerWorker, work: Callable) -> Job:
    try:
        return worker.submit(work, asyncio.get_running_loop())
    except Busy as busy:
        raise ServiceError(503, str(busy), kind="server_busy") from busy


async def _finished(job: Job, request: Request) -> Answer:
    """The job's answer; cancels it if the client disconnects while it waits or drafts."""
    try:
        while True:
            try:
                kind, value = await asyncio.wait_for(job.events.get(), timeout=0.5)
            except TimeoutError:
                if await request.is_disconnected():
                    job.cancel()
                    raise ServiceError(499, "the client closed the request", kind="cancelled") from None
                continue
            if kind == "done":
                return value
            if kind == "error":
                raise value
            if kind == "cancelled":
                raise ServiceError(499, "the client closed the request", kind="cancelled")
    except asyncio.CancelledError:
        job.cancel()
        raise


async def _stream(job: Job, rewritten: str | None) -> AsyncIterator[str]:
    """Server-sent events in OpenAI's chunk format; the draft in ``medkb.draft``, then the verified content."""
    cid = completion_id()
    try:
        yield _event(chunk(cid, MODEL_ID, {"role": "assistant", "content": ""}))
        while True:
            kind, value = await job.events.get()
            if kind == "draft":
                yield _event(chunk(cid, MODEL_ID, {}, medkb={"draft": value}))
            elif kind == "done":
                for piece in content_pieces(assistant_content(value)):
                    yield _event(chunk(cid, MODEL_ID, {"content": piece}))
                yield _event(chunk(cid, MODEL_ID, {}, finish_reason="stop", medkb=medkb_field(value, rewritten)))
                break
            elif kind == "error":
                status, body = _error_response(value)
                yield _event({**body, "status": status})
                break
            else:
                break
        yield "data: [DONE]\n\n"
    finally:
        job.cancel()  # a no-op once done; stops the draft when the client went away


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _error_response(exc: BaseException) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, ServiceError):
        return exc.status, error_body(exc.message, exc.kind, exc.param)
    if isinstance(exc, DocumentNotFound):
        return 404, error_body(str(exc), "not_found_error")
    if isinstance(exc, MedkbError):
        return 400, error_body(str(exc), "invalid_request_error")
    log.error("unexpected error", exc_info=exc)
    return 500, error_body(f"{type(exc).__name__}: {exc} (a bug in medkb)", "server_error")


def _union_member(part: object) -> bool:
    """A location part that names which type of a union pydantic tried (``constrained-str``, ``list[...]``)."""
    return isinstance(part, str) and (part in ("str", "int", "constrained-str") or "[" in part or "-" in part)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        status, body = _error_response(exc)
        headers = {"Retry-After": str(app.state.worker.retry_after())} if status == 503 else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(MedkbError)
    async def medkb_error(request: Request, exc: MedkbError) -> JSONResponse:
        status, body = _error_response(exc)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: Sequence[Any] = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body" and not _union_member(p))
        if first.get("type") == "json_invalid":
            message = f"malformed JSON: {first.get('ctx', {}).get('error', 'could not be parsed')}"
            return JSONResponse(error_body(message, "invalid_request_error"), status_code=400)
        message = f"{where or 'body'}: {first.get('msg', 'invalid')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        return JSONResponse(error_body(message, "invalid_request_error", where or None), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return JSONResponse(error_body(str(exc.detail), kind), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        status, body = _error_response(exc)
        return JSONResponse(body, status_code=status)
