"""``medkb serve``'s command line: the arguments, the loopback rule, and uvicorn over `kb.service.app`.

FastAPI and uvicorn (the ``serve`` extra) are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from kb.core.errors import MedkbError


def add_serve_parser(sub: Any, with_kb: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    """Add ``serve`` to the ``medkb`` subcommands."""
    p = with_kb(sub.add_parser("serve", help="the knowledge base over HTTP: OpenAI-compatible chat API and a web page"))
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--queue",
        type=int,
        default=4,
        help="answers that may wait for the generator (default 4); more are refused with 503 and Retry-After",
    )
    p.add_argument("--generator", default=None, help="generator backend: auto, llama, local, echo (default: settings)")
    p.add_argument("--model", default=None, help="generator model name (default: the backend's)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding to an address other than loopback (the service has no access control)",
    )
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    if not _is_loopback_host(args.host) and not args.allow_remote:
        raise MedkbError(
            f"--host {args.host}: the service has no access control, so it binds to loopback only "
            "(127.0.0.1, ::1, localhost); pass --allow-remote to bind elsewhere, behind your own access control"
        )
    if not 1 <= args.port <= 65535:
        raise MedkbError(f"--port {args.port}: expected a port number from 1 to 65535")
    try:
        import uvicorn

        from kb.service.app import create_app
    except ImportError as exc:
        raise MedkbError(f"medkb serve needs the serve extra: pip install 'medkb[serve]' ({exc})") from exc
    from kb.knowledge_base import KnowledgeBase

    kb = KnowledgeBase.open(args.kb)
    overrides = {"generator": args.generator, "generator_model": args.model}
    kb.settings = replace(kb.settings, **{k: v for k, v in overrides.items() if v is not None})
    logging.getLogger("kb.service").setLevel(logging.INFO)
    print(f"medkb: serving {args.kb} on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        uvicorn.run(create_app(kb, queue_size=args.queue), host=args.host, port=args.port, log_level="warning")
    finally:
        kb.close()
    return 0


def _is_loopback_host(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
