"""A wall-clock budget for one answer: generation, regeneration and the checks all draw on it.

A step that would start after the budget is spent is skipped, and the answer says which (`Budget.message`); a
sentence whose check was skipped is not shown, since it was not verified. Generation itself is stopped at the
deadline by backends that take a ``max_time`` (`generation.base.accepts_max_time`).

Example::

    budget = Budget(120.0)
    if budget.allows(estimate=8.0):
        ...
    else:
        budget.skip("the regeneration")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Budget:
    """``seconds`` from ``started`` (``time.perf_counter``); ``None`` for no limit. ``skipped`` names the steps
    that did not run for want of time."""

    seconds: float | None = None
    started: float = field(default_factory=time.perf_counter)
    skipped: list[str] = field(default_factory=list)

    def left(self) -> float | None:
        """Seconds left, or ``None`` without a limit."""
        return None if self.seconds is None else self.seconds - (time.perf_counter() - self.started)

    def allows(self, estimate: float = 0.0) -> bool:
        """Whether a step expected to take ``estimate`` seconds fits in what is left."""
        left = self.left()
        return left is None or left > estimate

    def skip(self, step: str) -> None:
        if step not in self.skipped:
            self.skipped.append(step)

    @property
    def message(self) -> str:
        """What the answer says when the budget ran out."""
        seconds = f"{self.seconds:g}" if self.seconds is not None else "?"
        return f"the answer reached its time budget of {seconds} s; skipped: {', '.join(self.skipped)}"
