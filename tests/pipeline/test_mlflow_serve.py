"""Level 1 serving: MLflow's own server on ``models:/fraud-detector@champion``, offline.

The champion registered by the session's pipeline run (see ``test_dvc_pipeline.py``) is
served with ``mlflow models serve --env-manager local`` and scored over HTTP, the way a
Level 1 team hands a model to an application before Level 2's BentoML service exists.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from fraudops.schema import FEATURES

from tests.pipeline.test_dvc_pipeline import BIN, Project, build_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    # The same directory as test_dvc_pipeline's fixture: the pipeline runs once per session.
    return build_project(tmp_path_factory.getbasetemp() / "level1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def server(project: Project, tmp_path):
    """``mlflow models serve`` on the champion, started in its own process group."""
    port = free_port()
    env = {**project.env, "MLFLOW_TRACKING_URI": f"sqlite:///{project.state / 'mlflow.db'}"}
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            str(BIN / "mlflow"), "models", "serve",
            "-m", "models:/fraud-detector@champion",
            "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
        ],
        cwd=project.path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"mlflow models serve did not come up:\n{log.read()[-4000:]}")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_champion_serves_fraud_probabilities_over_http(project, server):
    from fraudops import registry
    from fraudops.data import load

    rows = load(project.path / "data/split/test.parquet").head(25)[list(FEATURES)]
    payload = {"dataframe_split": rows.to_dict(orient="split", index=False)}

    predictions = post_json(f"{server}/invocations", payload)["predictions"]

    # predict_proba: one [P(legit), P(fraud)] pair per transaction.
    assert len(predictions) == len(rows)
    for pair in predictions:
        assert len(pair) == 2 and all(0.0 <= p <= 1.0 for p in pair)
        assert abs(sum(pair) - 1.0) < 1e-6
    # The server scores with the champion itself, not some other copy of a model.
    champion = project.registry(registry.load_model, registry.CHAMPION)
    expected = champion.predict_proba(rows)[:, 1]
    assert [pair[1] for pair in predictions] == pytest.approx(expected.tolist(), abs=1e-9)
