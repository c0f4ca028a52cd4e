"""What ``medkb corpus fetch`` records in a destination folder: each verified download's size, mtime and digest
(``.medkb-fetch.json``), so that a file is trusted again without hashing it while it is unchanged."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STATE_FILE = ".medkb-fetch.json"
_STATE_VERSION = 1


def verified_files(dest: Path, wanted: Callable[[str], bool]) -> list[Path]:
    """The files under ``dest`` whose names ``wanted`` accepts, that a fetch verified and that are unchanged since
    (by size and mtime)."""
    files = []
    for name, record in load_state(dest).items():
        if wanted(name) and "/" not in name and unchanged(dest / name, record):
            files.append(dest / name)
    return sorted(files)


def load_state(dest: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((dest / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable %s: %s", dest / STATE_FILE, exc)
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("version") == _STATE_VERSION else None
    return {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}


def save_state(dest: Path, state: dict[str, dict[str, Any]]) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f"{STATE_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"version": _STATE_VERSION, "files": state}, out, indent=1, sort_keys=True)
        os.replace(tmp, dest / STATE_FILE)
    finally:
        Path(tmp).unlink(missing_ok=True)


def unchanged(path: Path, record: dict[str, Any]) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns
