"""Prompts for cited answers, and the task a question belongs to.

The prompts are medkb's own wording. They ask the model to answer only from numbered passages and to cite them;
the composer checks the result afterwards rather than trusting it.
"""

from __future__ import annotations

import re

from kb.types import Hit, Task

SYSTEM = (
    "You are a careful medical assistant. Using only the passages below, answer the question in two or three "
    "sentences. Put the passage number in square brackets after each sentence, for example: "
    "Metformin is contraindicated in severe kidney disease [2]. Do not add doses or facts that the passages do not "
    "state. If the passages do not answer the question, say: The passages do not contain the answer."
)

TASK_HINTS: dict[Task, str] = {
    "drug": "Mention indications, contraindications, interactions or allergy warnings that the passages state.",
    "diagnosis": "State the findings, tests or diagnostic thresholds that the passages give.",
    "treatment": "State the recommended treatments and the conditions for them that the passages give.",
    "general": "",
}

_TASK_WORDS: list[tuple[Task, re.Pattern[str]]] = [
    (
        "drug",
        re.compile(
            r"\b(drug|dose|dosing|dosage|contraindicat\w*|interact\w*|side effects?|adverse|allerg\w*|"
            r"mg|tablet|take|taking|prescrib\w*|safe to)\b|药|剂量|禁忌|相互作用|副作用|过敏|服用",
            re.I,
        ),
    ),
    (
        "diagnosis",
        re.compile(
            r"\b(diagnos\w*|criteria|symptoms?|signs?|present\w*|test\w*|screen\w*|detect\w*|how is .+ confirmed)\b"
            r"|诊断|症状|检查|筛查|表现",
            re.I,
        ),
    ),
    (
        "treatment",
        re.compile(r"\b(treat\w*|therap\w*|manage\w*|first[- ]line|cure|surgery)\b|治疗|疗法|用药方案", re.I),
    ),
]


def classify_task(question: str) -> Task:
    """The task a question asks for, by its wording; ``general`` when nothing matches."""
    for task, pattern in _TASK_WORDS:
        if pattern.search(question):
            return task
    return "general"


def format_passages(hits: list[Hit]) -> str:
    """Numbered passages, each headed by its title and section."""
    blocks = []
    for number, hit in enumerate(hits, start=1):
        head = " - ".join(part for part in (hit.title, hit.section) if part)
        blocks.append(f"[{number}] {head}\n{hit.text.strip()}")
    return "\n\n".join(blocks)


def build_messages(question: str, hits: list[Hit], task: Task) -> list[dict[str, str]]:
    system = SYSTEM + (" " + TASK_HINTS[task] if TASK_HINTS[task] else "")
    user = f"Passages:\n\n{format_passages(hits)}\n\nQuestion: {question}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
