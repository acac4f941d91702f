"""A one-line progress bar for long commands (imports, bill runs): redrawn in place on a terminal,
a line every 10% otherwise (logs stay short)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping


class ProgressBar:
    """A one-line progress bar on stderr (redrawn in place on a terminal, every 10% otherwise)."""

    def __init__(self, stream=sys.stderr, width: int = 30, phases: Mapping[str, str] | None = None,
                 unit: str = "rows") -> None:
        self.stream, self.width = stream, width
        self.phases, self.unit = dict(phases or {}), unit
        self.tty = getattr(stream, "isatty", lambda: False)()
        self.last: tuple[str, int] = ("", -1)
        self.started = time.perf_counter()

    def __call__(self, phase: str, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if not self.tty and (phase, percent // 10) == (self.last[0], self.last[1] // 10):
            return
        self.last = (phase, percent)
        filled = self.width * percent // 100
        line = (f"{self.phases.get(phase, phase):<30} [{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% "
                f"{done}/{total} {self.unit}  {time.perf_counter() - self.started:.1f}s")
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last[0]:
            self.stream.write("\n")
