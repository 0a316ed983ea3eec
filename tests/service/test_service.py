"""The Level 2 scoring service: in process, served over HTTP, and built into a Bento.

The session's registry of two small models (``tests/served.py``) and its one HTTP instance,
shared with the fuzz tests, serve every test here; the Bento is built and served once. The
champion-change test runs last among the HTTP tests because it moves ``@champion`` (and puts
it back).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fraudops import registry, tracking
from fraudops.predlog import PredictionLog
from fraudops.serving import BatchResponse, Feedback, Transaction

from tests.served import ADMIN_TOKEN, MAX_BATCH

ROOT = Path(__file__).resolve().parents[2]


def bodies(X, n: int, prefix: str | None = None, start: int = 0) -> list[dict]:
    """``n`` request bodies from the rows of ``X`` (cycling), with ids ``prefix-i`` if given."""
    out = []
    for i in range(start, start + n):
        body = {name: float(v) for name, v in X.iloc[i % len(X)].items()}
        if prefix is not None:
            body["transaction_id"] = f"{prefix}-{i}"
        out.append(body)
    return out


def expected_scores(version: str, rows: list[dict]) -> np.ndarray:
    """What the registry's model scores for ``rows``, computed outside the service."""
    import pandas as pd
    from fraudops.schema import FEATURES

    frame = pd.DataFrame([[r[f] for f in FEATURES] for r in rows], columns=list(FEATURES))
    return registry.load_model(version).predict_proba(frame)[:, 1]


def logged_ids(url: str) -> list[str]:
    log = PredictionLog(url)
    try:
        return log.window()["transaction_id"].tolist()
    finally:
        log.close()


# -- in process: the service class called directly ---------------------------------------------


@pytest.fixture(scope="module")
def service_module(models):
    """``level2.service.service``, imported once the environment points at the test registry."""
    from level2.service import service

    return service


def make_service(service_module, state_dir: Path, name: str, **settings):
    from level2.service.settings import Settings

    # ``FraudDetector`` is BentoML's Service wrapper; ``.inner`` is the class we wrote.
    return service_module.FraudDetector.inner(
        Settings(
            prediction_log=f"sqlite:///{state_dir / name}.sqlite", reload_interval=0, **settings
        )
    )


@pytest.fixture(scope="module")
def inproc(service_module, state_dir: Path) -> Iterator:
    svc = make_service(service_module, state_dir, "inproc")
    yield svc
    svc.close()


def test_in_process_scores_like_the_registry_champion(inproc, models) -> None:
    rows = bodies(models.X, 20)
    predictions = [asyncio.run(inproc.predict(Transaction(**r))) for r in rows]
    expected = expected_scores(models.champion, rows)
    threshold = models.thresholds[models.champion]
    assert [p.model_version for p in predictions] == [models.champion] * 20
    assert [p.threshold for p in predictions] == [threshold] * 20
    np.testing.assert_allclose([p.fraud_probability for p in predictions], expected, rtol=1e-9)
    assert [p.is_fraud for p in predictions] == [bool(s >= threshold) for s in expected]


def test_the_service_makes_bentoml_build_its_own_request_timeout(service_module) -> None:
    """BentoML imports its TimeoutMiddleware from ``traffic`` when it assembles a worker's app:
    after the service module is imported, that name is the timeout that cancels its timer."""
    from bentoml._internal.server.http import traffic

    from level2.service.http import RequestTimeout

    assert traffic.TimeoutMiddleware is RequestTimeout
    assert RequestTimeout.replaced is not None and RequestTimeout.replaced is not RequestTimeout


def test_missing_ids_are_generated_and_given_ids_kept(inproc, models) -> None:
    (anonymous, named) = bodies(models.X, 2)
    named["transaction_id"] = "card-42:tx.7"

    async def both():
        return await asyncio.gather(
            *(inproc.predict(Transaction(**anonymous)) for _ in range(5)),
            inproc.predict(Transaction(**named)),
        )

    *generated, kept = asyncio.run(both())
    assert all(re.fullmatch(r"[0-9a-f]{32}", p.transaction_id) for p in generated)
    # Time-ordered UUIDv7s (fraudops.serving.ids): unique, and the prediction log's index cheap.
    assert {uuid.UUID(hex=p.transaction_id).version for p in generated} == {7}
    assert len({p.transaction_id for p in generated}) == 5
    assert kept.transaction_id == "card-42:tx.7"


def test_batch_keeps_request_order_and_matches_single_scores(inproc, models) -> None:
    rows = bodies(models.X, 30, prefix="order")
    batch = BatchResponse.model_validate_json(
        asyncio.run(inproc.predict_batch([Transaction(**r) for r in rows[::-1]])).body
    )
    assert [p.transaction_id for p in batch.predictions] == [
        r["transaction_id"] for r in rows[::-1]
    ]
    np.testing.assert_allclose(
        [p.fraud_probability for p in batch.predictions],
        expected_scores(models.champion, rows[::-1]),
        rtol=1e-9,
    )


@pytest.mark.parametrize(
    ("fast_scorer", "batching"),
    [(True, "on"), (False, "auto"), (False, "off")],
    ids=["fast-micro-batched", "pipeline-micro-batched", "pipeline-alone"],
)
def test_every_scoring_mode_gives_the_fast_inline_predictions(
    service_module, state_dir: Path, models, inproc, fast_scorer: bool, batching: str
) -> None:
    """Fast scorer on the event loop (the default, ``inproc``) against the other three modes."""
    rows = bodies(models.X, 40, prefix=f"mode-{fast_scorer}-{batching}")
    svc = make_service(
        service_module,
        state_dir,
        f"mode-{fast_scorer}-{batching}",
        batching=batching,
        fast_scorer=fast_scorer,
    )

    async def burst(svc):
        return await asyncio.gather(*(svc.predict(Transaction(**r)) for r in rows))

    try:
        assert svc.model_info().scorer.path == (
            "pipeline" if not fast_scorer else "numpy+numpy-linear"
        )
        other = asyncio.run(burst(svc))
    finally:
        svc.close()
    default = asyncio.run(burst(inproc))
    assert inproc.model_info().scorer.path == "numpy+numpy-linear"
    assert [p.transaction_id for p in other] == [p.transaction_id for p in default]
    assert [(p.is_fraud, p.threshold, p.model_version) for p in other] == [
        (p.is_fraud, p.threshold, p.model_version) for p in default
    ]
    # Another code path and batch size: equal up to floating-point summation order.
    np.testing.assert_allclose(
        [p.fraud_probability for p in other], [p.fraud_probability for p in default], rtol=1e-9
    )


def test_a_version_whose_fast_path_disagrees_is_served_by_its_pipeline(
    service_module, state_dir: Path, models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parity gate at load time: a broken fast path never serves, and the metric says so."""
    from fraudops.serving import scorer as scoring
    from prometheus_client import REGISTRY

    real_backend = scoring._backend

    def float32_backend(model):  # what a float32 export (ONNX trees) would compute
        backend = real_backend(model)
        return scoring._Backend(
            backend.name,
            lambda z: backend.predict(z.astype(np.float32).astype(np.float64)),
            backend.large_from,
        )

    monkeypatch.setattr(scoring, "_backend", float32_backend)
    svc = make_service(service_module, state_dir, "disagrees")
    try:
        info = svc.model_info()
        (row,) = bodies(models.X, 1)
        prediction = asyncio.run(svc.predict(Transaction(**row)))
    finally:
        svc.close()
    assert info.scorer.path == "pipeline"
    assert "differs from the pipeline" in info.scorer.fallback_reason
    assert info.scorer.parity["max_abs_diff"] > info.scorer.parity["tolerance"]
    labels = {"version": models.champion}
    assert REGISTRY.get_sample_value("fraudops_scorer_fallback", labels) == 1
    np.testing.assert_allclose(
        prediction.fraud_probability, expected_scores(models.champion, [row]), rtol=1e-12
    )


def test_a_failed_reload_keeps_the_old_version_and_is_counted(
    service_module, state_dir: Path, models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What FraudopsModelReloadFailing (level2/prometheus/alerts.yml) fires on."""
    from prometheus_client import REGISTRY

    from level2.service import champion as watching

    alias = "reload-test"
    registry.set_alias(alias, models.champion)
    svc = make_service(service_module, state_dir, "reload-fails", model_alias=alias)
    before = REGISTRY.get_sample_value("fraudops_model_reload_failures_total") or 0.0

    def unreachable(version, **kwargs):
        raise OSError(f"artifact store unreachable while loading version {version}")

    try:
        monkeypatch.setattr(watching, "load_version", unreachable)
        registry.set_alias(alias, models.challenger)
        assert svc.watcher.refresh() is False
        served = svc.model_info().version
        reason = svc.watcher.last_error
    finally:
        svc.close()
        tracking.connect().delete_registered_model_alias(registry.MODEL_NAME, alias)
    assert served == models.champion
    assert f"unreachable while loading version {models.challenger}" in reason
    assert REGISTRY.get_sample_value("fraudops_model_reload_failures_total") == before + 1


def test_feedback_needs_a_logged_id_and_is_idempotent(inproc, models) -> None:
    unknown = asyncio.run(inproc.feedback(Feedback(transaction_id="never-scored", is_fraud=True)))
    assert unknown.status_code == 404
    assert "never-scored" in json.loads(unknown.body)["error"]

    (row,) = bodies(models.X, 1, prefix="fb-inproc")
    asyncio.run(inproc.predict(Transaction(**row)))
    label = Feedback(transaction_id=row["transaction_id"], is_fraud=True)
    statuses = [asyncio.run(inproc.feedback(label)).status for _ in range(2)]
    flipped = asyncio.run(
        inproc.feedback(Feedback(transaction_id=label.transaction_id, is_fraud=False))
    )
    assert statuses == ["created", "unchanged"]
    assert flipped.status == "updated"


def test_model_info_reports_the_registry_version(inproc, models) -> None:
    info = inproc.model_info()
    registered = registry.version_info(models.champion)
    assert (info.version, info.alias) == (models.champion, "champion")
    assert info.threshold == registered["threshold"]
    assert info.run_id == registered["run_id"]
    assert info.metrics["average_precision"] == registered["metrics"]["average_precision"]


def test_close_flushes_every_prediction_to_the_log(service_module, state_dir: Path, models) -> None:
    svc = make_service(service_module, state_dir, "flush")
    rows = bodies(models.X, 60, prefix="flush")

    async def burst():
        return await asyncio.gather(*(svc.predict(Transaction(**r)) for r in rows))

    asyncio.run(burst())
    svc.close()
    assert sorted(logged_ids(f"sqlite:///{state_dir / 'flush'}.sqlite")) == sorted(
        r["transaction_id"] for r in rows
    )


def test_without_a_champion_the_service_is_not_ready_and_says_why(
    service_module, state_dir: Path, models
) -> None:
    from level2.service.champion import ModelNotReady

    svc = make_service(service_module, state_dir, "not-ready", model_alias="nobody")
    try:
        assert asyncio.run(svc.__is_ready__()) is False
        response = asyncio.run(svc.predict(Transaction(**bodies(models.X, 1)[0])))
        assert response.status_code == 503
        assert "@nobody" in json.loads(response.body)["error"]
        with pytest.raises(ModelNotReady, match="@nobody"):
            svc.model_info()
    finally:
        svc.close()


# -- served over HTTP (`fraudops serve`, i.e. `bentoml serve` of the source) ------------------


@dataclass
class BuiltBento:
    """``bentoml build`` run in the background, then the built Bento served."""

    build: subprocess.CompletedProcess | None = None
    server: object | None = None
    thread: threading.Thread | None = None


@pytest.fixture(scope="module")
def built_bento(models, state_dir: Path, launch) -> Iterator[BuiltBento]:
    """Build the Bento, then serve ``fraud_detector:latest``, in a background thread."""
    built = BuiltBento()

    def build_then_serve() -> None:
        built.build = subprocess.run(
            [
                sys.executable,
                "-m",
                "bentoml",
                "build",
                "-f",
                "level2/bentofile.yaml",
                ".",
                "-o",
                "tag",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if built.build.returncode == 0:
            built.server = launch(
                "bento",
                "--bento",
                "fraud_detector:latest",
                "--reload-interval",
                "1",
                FRAUDOPS_PREDICTION_LOG=f"sqlite:///{state_dir / 'bento.sqlite'}",
            )

    built.thread = threading.Thread(target=build_then_serve, daemon=True)
    built.thread.start()
    yield built
    # Even when the test using it was not selected: no server may outlive the module.
    built.thread.join()
    if built.server is not None:
        built.server.stop()


@pytest.fixture(scope="module", autouse=True)
def _slow_starts_first(http_server, built_bento) -> None:
    """Start the servers and the Bento build before the in-process tests: each takes a minute
    or more (imports, model loads) and the waits overlap."""


@pytest.fixture(scope="module")
def served(http_server):
    return http_server.ready()


@pytest.fixture
def client(served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=30) as c:
        yield c


@pytest.mark.slow
def test_served_health_readiness_and_prediction(client: httpx.Client, models) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    rows = bodies(models.X, 5, prefix="http")
    answers = [client.post("/predict", json=r) for r in rows]
    assert [a.status_code for a in answers] == [200] * 5
    got = [a.json() for a in answers]
    assert [g["transaction_id"] for g in got] == [r["transaction_id"] for r in rows]
    assert {g["model_version"] for g in got} == {models.champion}
    np.testing.assert_allclose(
        [g["fraud_probability"] for g in got], expected_scores(models.champion, rows), rtol=1e-9
    )


def test_scoring_routes_make_no_trace_spans_by_default(client: httpx.Client, models) -> None:
    # FRAUDOPS_TRACE_SCORING=0 (the default): no OpenTelemetry span for /predict, whose cost
    # was a third of the request's CPU; BentoML names the span in X-BentoML-Request-ID.
    # Other BentoML routes keep their spans.
    scored = client.post("/predict", json=bodies(models.X, 1, prefix="untraced")[0])
    assert scored.status_code == 200 and "x-bentoml-request-id" not in scored.headers
    other = client.post("/admin/reload")
    assert other.status_code in (401, 403) and "x-bentoml-request-id" in other.headers


def _row(models, **changes) -> dict:
    row = bodies(models.X, 1)[0]
    row.update(changes)
    return row


INVALID = {
    # name: (path, body builder, expected loc, words of the reason)
    "missing field": (
        "/predict",
        lambda m: {k: v for k, v in _row(m).items() if k != "V3"},
        ["V3"],
        "required",
    ),
    "wrong type": ("/predict", lambda m: _row(m, V5="abc"), ["V5"], "valid number"),
    "NaN": (
        "/predict",
        lambda m: json.dumps(_row(m, V7=0.25)).replace("0.25", "NaN"),
        ["V7"],
        "finite",
    ),
    "infinity": (
        "/predict",
        lambda m: json.dumps(_row(m, V7=0.25)).replace("0.25", "-Infinity"),
        ["V7"],
        "finite",
    ),
    "negative Amount": (
        "/predict",
        lambda m: _row(m, Amount=-5.0),
        ["Amount"],
        "greater than or equal to 0",
    ),
    "unknown field": ("/predict", lambda m: _row(m, Amonut=1.0), ["Amonut"], "not permitted"),
    "bad id": (
        "/predict",
        lambda m: _row(m, transaction_id="a b/c"),
        ["transaction_id"],
        "pattern",
    ),
    "empty batch": (
        "/predict_batch",
        lambda m: {"transactions": []},
        ["transactions"],
        "at least 1",
    ),
    "oversized batch": (
        "/predict_batch",
        lambda m: {"transactions": bodies(m.X, MAX_BATCH + 1)},
        ["transactions"],
        f"at most {MAX_BATCH}",
    ),
    "bad row in batch": (
        "/predict_batch",
        lambda m: {"transactions": [_row(m), _row(m, V1=None)]},
        ["transactions", 1, "V1"],
        "valid number",
    ),
    "feedback label not boolean": (
        "/feedback",
        lambda m: {"transaction_id": "x", "is_fraud": "yes"},
        ["is_fraud"],
        "valid boolean",
    ),
    "malformed JSON": ("/predict", lambda m: '{"Time": 1,', [], "Invalid JSON"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_requests_get_400_naming_field_and_reason(
    case: str, client: httpx.Client, models
) -> None:
    path, build, loc, reason = INVALID[case]
    body = build(models)
    content = body if isinstance(body, str) else json.dumps(body)
    answer = client.post(path, content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == loc
    assert reason.lower() in problem["msg"].lower()
    # The service is still up and scoring.
    assert client.post("/predict", json=_row(models)).status_code == 200


@pytest.mark.slow
def test_a_body_over_the_size_limit_gets_413(client: httpx.Client, models) -> None:
    huge = json.dumps({"transactions": bodies(models.X, MAX_BATCH)}) + " " * 200_000
    answer = client.post(
        "/predict_batch", content=huge, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert "FRAUDOPS_MAX_BODY_BYTES" in answer.json()["error"]
    assert client.post("/predict", json=_row(models)).status_code == 200


@pytest.mark.slow
def test_feedback_over_http(client: httpx.Client, models) -> None:
    unknown = client.post("/feedback", json={"transaction_id": "nope-1", "is_fraud": True})
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "transaction_id" and "nope-1" in unknown.json()["error"]
    (row,) = bodies(models.X, 1, prefix="fb-http")
    assert client.post("/predict", json=row).status_code == 200
    label = {"transaction_id": row["transaction_id"], "is_fraud": True}
    answers = [client.post("/feedback", json=label) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["status"] for a in answers] == ["created", "unchanged"]


@pytest.mark.slow
def test_model_endpoint_and_custom_metrics(client: httpx.Client, models) -> None:
    info = client.get("/model").json()
    assert info["version"] == models.champion
    assert info["threshold"] == models.thresholds[models.champion]
    assert "average_precision" in info["metrics"]

    client.post("/predict", json=_row(models))
    metrics = client.get("/metrics").text
    assert re.search(rf'fraudops_model_info\{{.*version="{models.champion}".*\}} 1\.0', metrics)
    assert re.search(
        rf'fraudops_fraud_score_count\{{model_version="{models.champion}"\}} [1-9]', metrics
    )
    assert re.search(
        r'fraudops_predictions_total\{[^}]*is_fraud="(true|false)"[^}]*\} [1-9]', metrics
    )
    assert "fraudops_feedback_total" in metrics


@pytest.mark.slow
def test_admin_reload_needs_the_token(client: httpx.Client, models) -> None:
    assert client.post("/admin/reload", json={}).status_code == 401
    wrong = client.post("/admin/reload", json={}, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403
    ok = client.post("/admin/reload", json={}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200
    assert ok.json()["version"] == registry.version_of("champion")


@pytest.mark.slow
def test_concurrent_requests_are_each_logged_exactly_once(
    client: httpx.Client, models, state_dir: Path
) -> None:
    threads, per_thread = 32, 12
    ok: list[str] = []
    failures: list[str] = []

    def worker(t: int) -> None:
        with httpx.Client(base_url=client.base_url, timeout=60) as c:
            for body in bodies(models.X, per_thread, prefix=f"conc{t}", start=t * per_thread):
                answer = c.post("/predict", json=body)
                if answer.status_code == 200:
                    ok.append(answer.json()["transaction_id"])
                else:
                    failures.append(f"{answer.status_code} {answer.text}")

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert failures == []
    assert len(ok) == threads * per_thread

    url = f"sqlite:///{state_dir / 'http.sqlite'}"
    deadline = time.monotonic() + 30  # the writer thread stores rows in the background
    while True:
        logged = [i for i in logged_ids(url) if i.startswith("conc")]
        if len(logged) >= len(ok) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sorted(logged) == sorted(ok)  # one row per success: none lost, none doubled


@pytest.mark.slow
def test_promotion_then_rollback_during_traffic_drop_nothing(client: httpx.Client, models) -> None:
    old, new = models.champion, models.challenger
    stop = threading.Event()
    seen: dict[int, list[str]] = {}
    failures: list[str] = []

    def worker(t: int) -> None:
        seen[t] = []
        with httpx.Client(base_url=client.base_url, timeout=60) as c:
            i = 0
            while not stop.is_set():
                answer = c.post("/predict", json=bodies(models.X, 1, start=t * 10_000 + i)[0])
                i += 1
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text}")
                    continue
                seen[t].append(answer.json()["model_version"])

    def until_every_client_is_on(version: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(s and s[-1] == version for s in seen.values()):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # keep going on that version for a while

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in pool:
        th.start()
    try:
        time.sleep(1.0)
        registry.promote(new, reason="service test: swap under traffic")
        until_every_client_is_on(new)
        on_new = client.post("/predict", json=_row(models)).json()
        # A bad model found in production: the previous champion comes back, traffic continues.
        registry.rollback(reason="service test: rollback under traffic")
        until_every_client_is_on(old)
    finally:
        stop.set()
        for th in pool:
            th.join()
        if registry.version_of(registry.CHAMPION) != old:
            registry.rollback(reason="service test: restore")
    assert failures == []
    assert (on_new["model_version"], on_new["threshold"]) == (new, models.thresholds[new])
    for versions in seen.values():
        assert set(versions) <= {old, new}
        # Each client's versions switch twice, never back and forth: old... new... old...
        runs = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
        assert runs == [old, new, old]
    answer = client.post("/predict", json=_row(models)).json()
    assert (answer["model_version"], answer["threshold"]) == (old, models.thresholds[old])
    assert client.get("/model").json()["version"] == old


# -- built into a Bento, exported, then served ---------------------------------------------------


@pytest.mark.slow
def test_built_bento_serves_the_champion_and_flushes_on_shutdown(
    models, state_dir: Path, built_bento: BuiltBento
) -> None:
    built_bento.thread.join()
    build = built_bento.build
    assert build.returncode == 0, build.stderr[-3000:]
    tag = build.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    assert tag.startswith("fraud_detector:")
    bento = state_dir / "bentoml" / "bentos" / "fraud_detector" / tag.split(":")[1]
    # Code, not a model: the service fetches @champion from the registry when it starts.
    assert (bento / "src/level2/service/service.py").is_file()
    assert (bento / "src/shared/fraudops/serving/schemas.py").is_file()
    assert not list(bento.rglob("*.skops")) and not list(bento.rglob("MLmodel"))

    exported = state_dir / "bentos" / "fraud_detector.bento"
    exported.parent.mkdir()
    export = subprocess.run(
        [sys.executable, "-m", "bentoml", "export", tag, str(exported)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert export.returncode == 0, export.stderr[-3000:]
    assert exported.stat().st_size > 0

    server = built_bento.server.ready()
    rows = bodies(models.X, 40, prefix="bento")
    champion = registry.version_of("champion")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            # It may have started while another test had moved @champion: let it catch up.
            deadline = time.monotonic() + 30
            while c.get("/model").json()["version"] != champion and time.monotonic() < deadline:
                time.sleep(0.2)
            answers = [c.post("/predict", json=r) for r in rows]
            assert {a.json()["model_version"] for a in answers} == {champion}
            assert c.get("/model").json()["version"] == champion
        assert [a.status_code for a in answers] == [200] * len(rows)
    finally:
        assert server.stop() is not None
    # SIGTERM shuts down gracefully: every prediction made it to the log.
    assert sorted(logged_ids(f"sqlite:///{state_dir / 'bento.sqlite'}")) == sorted(
        r["transaction_id"] for r in rows
    )
