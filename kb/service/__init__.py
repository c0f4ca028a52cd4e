"""``medkb serve``: the knowledge base as an HTTP service (OpenAI-compatible chat API, REST endpoints, a web page).

Needs the ``serve`` extra (FastAPI and uvicorn); `kb.cli` imports only `kb.service.cli`, which imports them when
the command runs.
"""
