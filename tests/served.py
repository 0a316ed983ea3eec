"""Fixtures of the service and reliability tests: a real registry with two small models, and
served instances (a pytest plugin, loaded by ``tests/conftest.py``, so that each fixture is
defined once and a session-scoped one is built once).

One registry serves every service and reliability module of a test session (``make test``'s
scheduler keeps them on one worker, ``tests/conftest.py``): building it logs and registers two
models, about 6 s. Everything lives in that one temporary state directory (registry, artifacts,
prediction logs, the BentoML homes), each module's files under names of its own, pointed at
through the same environment variables a user sets; each module sets them and restores them
when it ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fraudops.schema import FEATURES, TARGET

from benchmarks._servers import kill_tree

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a served instance may take to load (imports and the model load are slow on 2 cores).
READY_TIMEOUT = 240.0


@dataclass(frozen=True)
class Models:
    """Two registered versions: ``champion`` is promoted, ``challenger`` is waiting."""

    champion: str
    challenger: str
    thresholds: dict[str, float]
    X: pd.DataFrame  # rows to send (FEATURES columns)


@contextmanager
def pointing_at(state: Path) -> Iterator[Path]:
    """The environment a user sets to run against ``state``, restored afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRAUDOPS_STATE_DIR", str(state))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{state / 'mlflow.db'}")
        mp.setenv("BENTOML_HOME", str(state / "bentoml"))
        mp.setenv("BENTOML_DO_NOT_TRACK", "true")
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        yield state


@pytest.fixture(scope="session")
def service_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state directory that the service and reliability modules share."""
    return tmp_path_factory.mktemp("service-state")


@pytest.fixture(scope="module")
def state_dir(service_state: Path) -> Iterator[Path]:
    """The shared state directory, and the environment pointing at it, for one test module."""
    with pointing_at(service_state) as state:
        yield state


@pytest.fixture(scope="session")
def models(service_state: Path, small_data: pd.DataFrame) -> Models:
    """Two logistic-regression pipelines registered through ``fraudops.registry``; the first is
    promoted to ``@champion``. Their thresholds differ so a response shows which one scored it.
    Built once per session; a test that moves ``@champion`` puts it back."""
    with pointing_at(service_state):
        return _register_two_models(small_data)


def _register_two_models(small_data: pd.DataFrame) -> Models:
    import mlflow
    from fraudops import registry, tracking
    from fraudops.models import make_model

    X, y = small_data[list(FEATURES)], small_data[TARGET]
    tracking.setup("service-tests")
    versions, thresholds = [], {}
    for C, threshold in ((1.0, 0.5), (0.01, 0.6)):
        model = make_model("logreg", "class_weight", seed=0, C=C).fit(X, y)
        with mlflow.start_run():
            mlflow.log_metric("average_precision", 0.5 + C / 10)
            info = tracking.log_model(model, X_example=X)
        version = registry.register(info.model_uri, tags={"threshold": threshold})
        versions.append(version)
        thresholds[version] = threshold
    registry.promote(versions[0], reason="service tests")
    return Models(versions[0], versions[1], thresholds, X.iloc[:2000].reset_index(drop=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A ``fraudops serve`` process in its own process group, answering on ``url`` once ready."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self, timeout: float = READY_TIMEOUT) -> Server:
        """Wait until ``/readyz`` answers 200 (fail the test with the server's log otherwise)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"server not ready after {timeout:.0f}s:\n{self.log()[-4000:]}")

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (a graceful shutdown: the prediction log is flushed); SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_tree(self.process.pid)  # the workers too: they run in sessions of their own
        return self.process.returncode


def start_server(state: Path, name: str, *args: str, **env: str) -> Server:
    """Start ``fraudops serve --port <free> ARGS`` with extra environment and return at once
    (call ``.ready()`` to wait for it); output goes to ``<state>/<name>.log``."""
    port = free_port()
    log_path = state / f"{name}.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fraudops.cli", "serve", "--port", str(port), *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a hung server can be killed whole
        )
    return Server(f"http://127.0.0.1:{port}", process, log_path)


@pytest.fixture(scope="module")
def launch(state_dir: Path) -> Iterator:
    """``launch(name, *args, **env)``: :func:`start_server` in the module's state directory, so
    slow start-ups can overlap other tests. Every server still running when the module ends is
    shut down gracefully."""
    servers: list[Server] = []

    def start(name: str, *args: str, **env: str) -> Server:
        servers.append(start_server(state_dir, name, *args, **env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


#: The shared HTTP instance's settings: a small batch limit makes an oversized batch cheap.
MAX_BATCH = 20
ADMIN_TOKEN = "test-admin-7c1e5b2f9a"


@pytest.fixture(scope="session")
def http_server(service_state: Path, models: Models) -> Iterator[Server]:
    """The one HTTP instance (``fraudops serve`` of the source, ``@champion`` of the shared
    registry) for every test that talks to a served model and does not stop it: the service's
    HTTP tests and the fuzz tests. Started here, not waited for (``.ready()``); its prediction
    log is ``http.sqlite``. A test that moves ``@champion`` puts it back."""
    with pointing_at(service_state):
        server = start_server(
            service_state,
            "http",
            "--reload-interval",
            "1",
            FRAUDOPS_MAX_BATCH=str(MAX_BATCH),
            FRAUDOPS_ADMIN_TOKEN=ADMIN_TOKEN,
            FRAUDOPS_PREDICTION_LOG=f"sqlite:///{service_state / 'http.sqlite'}",
            # BentoML wipes $BENTOML_HOME/prometheus_multiproc_dir when a server starts: the
            # other servers, started meanwhile, must not erase this one's metrics.
            BENTOML_HOME=str(service_state / "bentoml-http"),
        )
    yield server
    server.stop()
