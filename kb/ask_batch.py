"""``medkb ask --file QUESTIONS [--out answers.jsonl]``: many questions, the models loaded once, each answer written
as it finishes.

The file holds one question per line, or JSON Lines: ``{"id": ..., "question": ..., "task": ..., "k": ...,
"patient": {"age": 67, "allergies": ["penicillin"], ...}}`` (only ``question`` is required; a line of JSON and a
line of plain text may not be mixed). Blank lines and lines starting with ``#`` in a plain file are skipped. Each
answer is one JSON line: the question's ``id`` (its line number when none is given) and the answer as ``medkb ask
--json`` prints it; a question that cannot be answered (a bad patient field, a question too long) gets an ``error``
instead, and the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kb.core.errors import MedkbError
from kb.core.types import TASKS, PatientContext

#: The keys a JSON question line may carry.
KEYS = frozenset({"id", "question", "task", "k", "patient"})


@dataclass(frozen=True)
class BatchQuestion:
    id: str
    question: str
    task: str | None = None
    k: int | None = None
    patient: dict[str, Any] | None = None


def read_questions(path: Path) -> list[BatchQuestion]:
    """The questions of ``path``; `MedkbError` naming the file and line of the first malformed one."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise MedkbError(f"{path}: cannot read the questions file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise MedkbError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    as_json = bool(numbered) and numbered[0][1].startswith("{")
    questions = []
    for n, line in numbered:
        if not as_json:
            if line.startswith("#"):
                continue
            if line.startswith("{"):
                raise MedkbError(f"{path}:{n}: a JSON line in a file of plain questions; use one format")
            questions.append(BatchQuestion(str(n), line))
            continue
        questions.append(_json_question(path, n, line))
    if not questions:
        raise MedkbError(f"{path}: no questions (expected one question per line, or JSON Lines with 'question')")
    return questions


def _json_question(path: Path, n: int, line: str) -> BatchQuestion:
    where = f"{path}:{n}"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MedkbError(f"{where}: not JSON ({exc.msg}); expected a JSON object per line") from exc
    if not isinstance(obj, dict):
        raise MedkbError(f"{where}: expected a JSON object with 'question', got {type(obj).__name__}")
    if unknown := set(obj) - KEYS:
        raise MedkbError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(KEYS))}")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise MedkbError(f"{where}: 'question' must be a non-empty string")
    task = obj.get("task")
    if task is not None and task not in TASKS:
        raise MedkbError(f"{where}: task={task!r}; expected one of {', '.join(TASKS)}")
    k = obj.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
        raise MedkbError(f"{where}: k={k!r}; expected a whole number")
    patient = obj.get("patient")
    if patient is not None and not isinstance(patient, dict):
        raise MedkbError(f"{where}: 'patient' must be an object of patient fields")
    return BatchQuestion(str(obj.get("id", n)), question.strip(), task, k, patient)


def answer_all(
    questions: list[BatchQuestion],
    ask: Callable[..., Any],
    out: IO[str],
    *,
    progress: IO[str] | None = None,
) -> int:
    """Asks each question in turn (``ask(question, k=, task=, patient=)``, a `KnowledgeBase.ask`), writes each
    answer to ``out`` as it finishes, and reports progress on ``progress``; returns how many failed."""
    failed = 0
    started = time.perf_counter()
    for done, item in enumerate(questions, start=1):
        began = time.perf_counter()
        try:
            answer = ask(item.question, k=item.k, task=item.task, patient=_patient(item.patient))
            row = {"id": item.id, **answer.to_dict()}
            status = "abstained" if answer.abstained else "answered"
        except MedkbError as exc:
            failed += 1
            row = {"id": item.id, "question": item.question, "error": str(exc)}
            status = "failed"
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()
        if progress is not None:
            took = time.perf_counter() - began
            left = (time.perf_counter() - started) / done * (len(questions) - done)
            print(
                f"[{done}/{len(questions)}] {status} in {took:.1f} s (about {left:.0f} s left): {item.question[:70]}",
                file=progress,
                flush=True,
            )
    return failed


def _patient(fields: dict[str, Any] | None) -> PatientContext | None:
    """The question's patient; an unknown field is the question's error, as a bad value is."""
    if not fields:
        return None
    known = {f.name for f in dataclasses.fields(PatientContext)}
    if unknown := sorted(set(fields) - known):
        raise MedkbError(f"patient field(s) {', '.join(unknown)}: expected some of {', '.join(sorted(known))}")
    return PatientContext(**fields)


def open_out(path: Path | None) -> IO[str]:
    """``path`` for writing (its folder made), or standard output."""
    if path is None:
        return sys.stdout
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")
