"""Run a long command made of steps, and say which step it was in if it runs out of time.

``fraudops demo`` and ``scripts/ci/act_chain.sh`` print a ``=== TITLE`` banner as each step
starts; a test that runs one of them under a time limit fails with the step named, not with a
bare ``TimeoutExpired``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest


def last_step(output: str) -> str:
    """The step that had started last, from the ``=== TITLE`` banners in ``output``."""
    banners = [line[4:] for line in output.splitlines() if line.startswith("=== ")]
    return banners[-1] if banners else "(before the first step)"


def run_steps(cmd: Sequence[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)``; past
    ``timeout`` the test fails naming the step that was running and the output's tail."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        pytest.fail(
            f"`{' '.join(map(str, cmd))}` still running after {timeout:.0f}s, in step "
            f"'{last_step(out or '')}':\n{(out or '')[-3000:]}"
        )
