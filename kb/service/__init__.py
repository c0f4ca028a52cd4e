"""``medkb serve``: the knowledge base as an HTTP service (OpenAI-compatible chat API, REST endpoints, a web page).

Needs the ``serve`` extra (FastAPI and uvicorn); nothing else in medkb imports this package.
"""
