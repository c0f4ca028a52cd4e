"""``medkb ingest``'s progress by record: a tqdm bar on a terminal, plain lines otherwise, nothing with --quiet.

The total is the records the input files likely hold (`ingest.readers.counting.count_records`, one scan of each
file before the run); the bar moves with every record processed, and when a file is done it is set to the counts
of the files done so far, so a file skipped as unchanged, or one that held fewer records than estimated, keeps the
time left honest. The rate is records per second since the start.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

#: Seconds between two plain progress lines.
PLAIN_EVERY_S = 30.0


class RecordProgress:
    """An `ingest.progress.IngestProgress` that shows records done of the estimated total, the rate, the time left
    and the file being read. ``estimates`` maps each input file (as the run names it) to its record estimate."""

    def __init__(self, estimates: Mapping[str, int | None], *, stream: IO[str] | None = None, quiet: bool = False):
        self.estimates = {path: (n if n is not None else 1) for path, n in estimates.items()}
        self.total = sum(self.estimates.values()) or 1
        self.files = len(self.estimates)
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.done_files = 0
        self.base = 0  # records of the files done (their estimates, or their counts where larger)
        self.in_file = 0
        self.records = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self._bar: Any = None
        if not quiet and self.stream.isatty():
            from tqdm import tqdm

            size = shutil.get_terminal_size((100, 24))  # a terminal may report 0 x 0: tqdm then draws nothing
            self._bar = tqdm(
                total=self.total,
                unit="record",
                file=self.stream,
                ncols=size.columns or 100,
                nrows=size.lines or 24,
                smoothing=0.05,
            )

    def record(self) -> None:
        self.records += 1
        self.in_file += 1
        self._show()

    def item_done(self, path: str | None) -> None:
        if path is not None:
            self.done_files += 1
            self.base += max(self.estimates.get(path, 1), self.in_file)
        else:
            self.base += self.in_file
        self.in_file = 0
        self._show(force=self.done_files == self.files)

    @property
    def position(self) -> int:
        return self.base + self.in_file

    def line(self) -> str:
        """``1,234/5,000 records (24.7%), 9.1 records/s, about 6.9 min left; files 3/40``."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        total = max(self.total, self.position)
        rate = self.records / elapsed
        left = (total - self.position) / rate if rate > 0 else None
        if self.files and self.done_files == self.files:
            eta = f", done in {_duration(elapsed)}"
        else:
            eta = "" if left is None else f", about {_duration(left)} left"
        return (
            f"ingest: {self.position:,}/{total:,} records ({self.position / total:.1%}), {rate:.1f} records/s{eta};"
            f" files {self.done_files}/{self.files}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif not self.quiet and self.records:
            print(self.line(), file=self.stream, flush=True)

    def _show(self, force: bool = False) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.total = max(self.total, self.position)
            self._bar.n = self.position
            self._bar.set_postfix_str(f"files {self.done_files}/{self.files}", refresh=False)
            self._bar.refresh() if force else self._bar.update(0)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY_S:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)


def estimate_records(files: list[Path], skipped: Callable[[Path], bool]) -> dict[str, int | None]:
    """Each file's record estimate, keyed as the ingest run names it (``str(path)``); a file the run will skip
    unread (``skipped``: stored as it is now) counts 0 and is not scanned, so that a rerun over a large unchanged
    corpus does not read it all just to count."""
    from ingest.readers.counting import count_records

    return {str(f): 0 if skipped(f) else count_records(f) for f in files}


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
