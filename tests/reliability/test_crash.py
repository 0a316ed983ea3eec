"""Killing the served service in the middle of load: what the prediction log keeps.

Short versions (a few seconds of load each) of ``benchmarks/reliability.py``: every request
carries its own ``transaction_id``, and each successful response is looked up in the log file.

- ``SIGTERM`` (what a process manager sends): a graceful shutdown; nothing answered is lost.
- ``SIGKILL`` of the whole process tree (the worker included): the log file passes SQLite's integrity check, the
  loss stays within the documented bound (:mod:`fraudops.predlog`), and a restarted service on
  the same log scores, takes feedback for logged ids and answers 404 for ids it never logged.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from fraudops.predlog import PredictionLog

from benchmarks.reliability import (
    CRASH_BOUND_RECORDS,
    integrity,
    load_with_ids,
    logged_ids,
    signal_later,
)

pytestmark = pytest.mark.slow

CLIENTS, LOAD_SECONDS, SIGNAL_AFTER = 8, 3.0, 1.5


@pytest.fixture(scope="module")
def records(models) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in r.items()} for r in models.X.head(200).to_dict("records")]


def serve(launch, state_dir: Path, name: str, log: Path):
    return launch(
        name,
        FRAUDOPS_PREDICTION_LOG=f"sqlite:///{log}",
        BENTOML_HOME=str(state_dir / f"bentoml-{name}"),
    )


def test_sigterm_under_load_loses_no_answered_prediction(launch, state_dir: Path, records) -> None:
    log = state_dir / "term.sqlite"
    server = serve(launch, state_dir, "term", log).ready()
    sender = signal_later(server.process, signal.SIGTERM, SIGNAL_AFTER)
    load, answered = load_with_ids(server.url, records, "term", CLIENTS, LOAD_SECONDS)
    sender.join()
    server.process.wait(60)
    assert len(answered) > 50, load  # the signal came in the middle of real traffic
    assert answered - logged_ids(log, "term") == set()
    assert integrity(log) == "ok"


def test_sigkill_under_load_stays_within_the_bound_and_a_restart_recovers(
    launch, state_dir: Path, records
) -> None:
    log = state_dir / "kill.sqlite"
    server = serve(launch, state_dir, "kill", log).ready()
    sender = signal_later(server.process, signal.SIGKILL, SIGNAL_AFTER)
    load, answered = load_with_ids(server.url, records, "kill", CLIENTS, LOAD_SECONDS)
    sender.join()
    server.process.wait(30)
    assert len(answered) > 50, load

    assert integrity(log) == "ok"
    logged = logged_ids(log, "kill")
    lost = answered - logged
    assert len(lost) <= CRASH_BOUND_RECORDS
    assert logged  # what was committed before the kill survived

    restarted = serve(launch, state_dir, "kill-restart", log).ready()
    with httpx.Client(base_url=restarted.url, timeout=30) as http:
        assert http.post("/predict", json=records[0]).status_code == 200
        known = http.post("/feedback", json={"transaction_id": min(logged), "is_fraud": True})
        assert known.status_code == 200 and known.json()["status"] == "created"
        for never in sorted(lost)[:3] + ["kill-never-sent"]:
            unknown = http.post("/feedback", json={"transaction_id": never, "is_fraud": False})
            assert unknown.status_code == 404 and unknown.json()["field"] == "transaction_id"
    restarted.stop()
    with PredictionLog(f"sqlite:///{log}") as reopened:
        check = reopened.check_integrity()
    assert check["ok"] and check["feedback"] == 1
