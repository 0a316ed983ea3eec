"""Progress of a command's long steps, one line each, in the manner of DVC and MLflow.

On a terminal a step shows ``... name`` while it runs and is rewritten as ``✔ name  1.2 s`` (or
``✘``) when it ends; in a log (no terminal, or ``$CI`` set, as in GitHub Actions) only the final
line is written, once, with no carriage return or colour; ``quiet`` writes nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Steps:
    """Reports the steps of one command.

    Args:
        quiet: write nothing.
        stream: where to write (default: standard error, so standard output keeps the results).
    """

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = (
            not quiet and not os.environ.get("CI") and getattr(self.stream, "isatty", bool)()
        )

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name``; an exception marks it failed and goes on."""
        if self.live:
            self.stream.write(f"... {name}")
            self.stream.flush()
        started = time.perf_counter()
        mark = "✘"
        try:
            yield
            mark = "✔"
        finally:
            seconds = time.perf_counter() - started
            if not self.quiet:
                prefix = "\r\033[K" if self.live else ""
                self.stream.write(f"{prefix}{mark} {name}  {seconds:.1f} s\n")
                self.stream.flush()
