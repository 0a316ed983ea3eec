"""Two retrainings started at once run one after the other (issue #7, safe promotion).

``fraudops retrain`` and ``fraudops ct`` share one lock in the state directory. These tests
start real processes that take it the way ``retrain`` does; that the second retraining then
finds nothing left to learn, so the two are never both promoted, is checked end to end by the
demo test (two concurrent ``fraudops retrain`` runs, one promotion).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HOLD = """
import json, sys, time
from level1 import ct
with ct.exclusive(ct.lock_path(), wait=60, who="fraudops retrain"):
    start = time.time()
    time.sleep(1.5)
    print(json.dumps([start, time.time()]))
"""


def _start(code: str, state: Path) -> subprocess.Popen:
    env = {**os.environ, "FRAUDOPS_STATE_DIR": str(state)}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_retrainings_started_together_are_serialized(tmp_path):
    procs = [_start(HOLD, tmp_path) for _ in range(2)]
    spans = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        spans.append(json.loads(out))
    (a_start, a_end), (b_start, b_end) = sorted(spans)
    assert b_start >= a_end, f"the two runs overlapped: {spans}"


def test_ct_started_during_a_retraining_is_refused_with_the_holder_named(tmp_path):
    holder = _start(HOLD, tmp_path)
    lock = tmp_path / "ct.lock"
    deadline = time.monotonic() + 60
    while not (lock.is_file() and "retrain" in lock.read_text()):
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.05)
    from fraudops.cli import CommandError

    from level1 import ct

    refused = pytest.raises(CommandError, match=r"another `fraudops retrain` is running")
    with refused, ct.exclusive(lock):  # ct's own default: do not wait
        pass
    holder.communicate(timeout=60)
    with ct.exclusive(lock):  # released when the holder ended
        pass
