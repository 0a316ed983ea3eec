"""``fraudops demo``: the whole maturity tour, offline, on embedded defaults.

The tour runs each level the way its users would: Level 0 by hand-run scripts, Level 1 through
DVC and the MLflow registry, Level 2 through the BentoML service, monitoring and retraining.
Each step prints what it does and how long it took; the tour ends with a summary table.

``--quick`` runs the same steps on small data in a scratch copy of the project, for the tests.

The Level 2 part is the closed loop: the service is built (full size) and served, the simulator
sends pre-drift traffic, then traffic with a new fraud pattern (concept drift), with labels
coming back in bulk through ``/feedback_batch``; ``fraudops monitor`` flags the drop in live
recall, ``fraudops retrain`` turns the labeled traffic into a new data version, retrains, gates on
the latest production window and promotes; the service reloads, and live recall on drifted traffic
recovers. Two retrainings are started at once to show that only one of them can promote. The
tour ends with a summary table and ``var/reports/demo.html``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from fraudops.schema import FULL_FRAUD_RATE, FULL_ROWS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: What ``--quick`` changes in params.yaml: small data and budgets, same pipeline.
QUICK_PARAMS = {
    # 2 % fraud: every split of 20,000 rows still holds enough frauds for stable figures.
    "ingest": {"rows": 20_000, "fraud_rate": 0.02},
    # One small budget for both trainers; two folds, as at full size (params.yaml): each still
    # holds ~140 frauds.
    "budget": {"seconds": 4, "trials": 2, "cv_folds": 2},
    # Small windows and a small holdout make the figures noisier: a wider recall bound keeps
    # calm traffic calm, and a concept drift that costs two thirds of recall still trips it.
    "monitor": {"window": 3_000, "reference_rows": 5_000, "recall_drop": 0.25},
}


@dataclass(frozen=True)
class Traffic:
    """The Level 2 traffic: pre-drift, drifted (before retraining), drifted (after).

    The new fraud pattern comes as a wave: ``drift_fraud_rate`` is the fraud rate once it
    has started (a fraud ring that found a blind spot uses it).
    """

    before: int
    drifted: int
    after: int
    fraud_rate: float
    drift_fraud_rate: float
    batch_size: int = 250


#: Production starts two days after the base data ends: the hour of day lines up.
PRODUCTION_START = 4 * 86_400.0
QUICK_TRAFFIC = Traffic(
    before=3_000, drifted=14_000, after=4_000, fraud_rate=0.02, drift_fraud_rate=0.03
)
FULL_TRAFFIC = Traffic(
    before=5_000, drifted=20_000, after=6_000, fraud_rate=0.01, drift_fraud_rate=0.02
)


@dataclass
class Tour:
    """What the tour runs on and what it found, step by step."""

    workdir: Path
    rows: int
    fraud_rate: float
    quick: bool
    traffic: Traffic = QUICK_TRAFFIC
    results: dict[str, Any] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)
    #: What the simulator sent in each Level 2 phase (DataFrames; not in ``results``).
    sent: dict[str, Any] = field(default_factory=dict)
    server: subprocess.Popen | None = None

    @property
    def scratch(self) -> Path:
        return self.workdir / "var" / "demo"

    def step(self, title: str, fn: Callable[[Tour], None]) -> None:
        """Run one step with a banner and its wall time."""
        print(f"\n=== {title}", flush=True)
        start = time.perf_counter()
        fn(self)
        seconds = time.perf_counter() - start
        self.timings.append((title, seconds))
        print(f"--- {title}: {seconds:.1f}s", flush=True)

    @property
    def env(self) -> dict[str, str]:
        """The tools' environment: this project's state folder and virtualenv, offline."""
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "FRAUDOPS_STATE_DIR": str(self.workdir / "var"),
            "DVC_NO_ANALYTICS": "1",
            "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            # Our own BentoML home: a server start empties its metrics folder, which must not
            # be another server's.
            "BENTOML_HOME": str(self.workdir / "var" / "bentoml"),
        }
        env.pop("MLFLOW_TRACKING_URI", None)  # the state folder's SQLite store
        return env

    def run(self, *cmd: str, ok: tuple[int, ...] = (0,)) -> str:
        """Run a command in the work directory, streaming its output; fail the tour on error."""
        print("$ " + " ".join(str(c) for c in cmd), flush=True)
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            print("  " + line, end="", flush=True)
            lines.append(line)
        if proc.wait() not in ok:
            raise SystemExit(
                f"demo step failed: {' '.join(map(str, cmd))} (exit {proc.returncode})"
            )
        return "".join(lines)

    def json(self, relative: str) -> Any:
        return json.loads((self.workdir / relative).read_text())

    def start(self, *cmd: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a background command (its own process group), output to ``log``."""
        print("$ " + " ".join(str(c) for c in cmd) + " &", flush=True)
        with open(log, "wb") as out:
            return subprocess.Popen(
                [str(c) for c in cmd],
                cwd=self.workdir,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def level0(tour: Tour) -> None:
    """Level 0: generate data, train by hand, hand the file over, score a batch with it."""
    data = tour.scratch / "transactions.csv"
    model = tour.scratch / "level0-model.joblib"
    tour.run(
        BIN / "fraudops",
        "data",
        "generate",
        "--rows",
        str(tour.rows),
        "--seed",
        "0",
        "--fraud-rate",
        str(tour.fraud_rate),
        "--out",
        data,
    )
    tour.run(sys.executable, str(ROOT / "level0/train.py"), str(data), "--out", str(model))
    tour.run(
        sys.executable,
        str(ROOT / "level0/predict.py"),
        str(data),
        "--out",
        str(tour.scratch / "scored.csv"),
        "--model",
        str(model),
    )
    import joblib

    tour.results["level0"] = joblib.load(model)["metrics"]


def level1(tour: Tour) -> None:
    """Level 1: the DVC pipeline trains, compares custom ML with AutoML, and registers."""
    from fraudops.scratch import make_data_folders

    make_data_folders(tour.workdir)
    tour.run(BIN / "dvc", "repro")
    tour.run(BIN / "dvc", "metrics", "show")
    tour.run(BIN / "fraudops", "registry", "list")
    metrics = tour.json("reports/metrics.json")
    tour.results["level1"] = metrics[metrics["winner"]]
    tour.results["level1_champion"] = tour.json("reports/registration.json")["champion_after"]


def level1_ct(tour: Tour) -> None:
    """Level 1: the continuous-training trigger refuses a broken batch before any training.

    A good batch goes through the very same trigger in Level 2: ``fraudops retrain`` hands the
    labeled production data to :func:`level1.ct.check`, which versions it and runs
    ``dvc repro``. A third full-size pipeline run here would add three minutes and show
    nothing new, so this step shows the other branch: the one that protects the champion.
    """
    import pandas as pd

    incoming = tour.workdir / "data/incoming"
    batch = incoming / "batch-broken.csv"
    tour.run(
        BIN / "fraudops",
        "data",
        "generate",
        "--rows",
        "2000",
        "--seed",
        "1",
        "--fraud-rate",
        str(tour.fraud_rate),
        "--out",
        batch,
    )
    # What a broken extract looks like: a column lost on the way, a refund with a negative
    # amount.
    broken = pd.read_csv(batch).drop(columns=["V7"])
    broken.loc[3, "Amount"] = -25.0
    broken.to_csv(batch, index=False)
    champion_before = tour.json("reports/registration.json")["champion_after"]
    output = tour.run(BIN / "fraudops", "ct", "--once", ok=(1,))
    tour.run(BIN / "fraudops", "ct", "--once")  # the incoming folder is empty again
    champion_after = tour.json("reports/registration.json")["champion_after"]
    tour.results["level1_ct"] = {
        "rejected": "REJECTED" in output,
        "champion": [champion_before, champion_after],
        "reason": next(
            (line.strip() for line in output.splitlines() if "V7" in line), "see the output"
        ),
    }


# -- Level 2: the closed loop -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def level2_serve(tour: Tour) -> None:
    """Level 2: build the Bento (full size) and serve @champion with BentoML."""
    import httpx

    cmd: list[Any] = [BIN / "fraudops", "serve", "--reload-interval", "5"]
    if not tour.quick:
        # The Bento holds code, not a model: it serves whatever @champion is when it starts.
        tour.run(BIN / "bentoml", "build", "-f", "level2/bentofile.yaml", ".")
        cmd += ["--bento", "fraud_detector:latest"]
    port = _free_port()
    token = secrets.token_hex(16)
    tour.results["service"] = {"url": f"http://127.0.0.1:{port}", "token": token}
    tour.server = tour.start(
        *cmd,
        "--port",
        str(port),
        log=tour.scratch / "service.log",
        env={"FRAUDOPS_ADMIN_TOKEN": token},
    )
    url = tour.results["service"]["url"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if tour.server.poll() is not None:
            raise SystemExit(
                f"the service exited with {tour.server.returncode}; see {tour.scratch}/service.log"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    else:
        raise SystemExit(f"the service was not ready after 300 s; see {tour.scratch}/service.log")
    model = httpx.get(f"{url}/model", timeout=10).json()
    print(f"serving {url}: fraud-detector version {model['version']}", flush=True)
    tour.results["served_before"] = model["version"]


def _simulate(
    tour: Tour, name: str, rows: int, *, scenario: str, seed: int, start: float, fraud_rate: float
) -> Any:
    """One ``fraudops simulate`` run; returns what it sent (a DataFrame)."""
    out = tour.scratch / f"traffic-{name}.parquet"
    tour.run(
        BIN / "fraudops",
        "simulate",
        "--url",
        tour.results["service"]["url"],
        "--rows",
        str(rows),
        "--scenario",
        scenario,
        "--drift-at",
        "0",
        "--fraud-rate",
        str(fraud_rate),
        "--start-time",
        str(start),
        "--seed",
        str(seed),
        "--batch-size",
        str(tour.traffic.batch_size),
        "--concurrency",
        "4",
        "--label-delay",
        "0.5",
        "--out",
        out,
    )
    sent = load_sent(out)
    sent["phase"] = name
    tour.sent[name] = sent
    return sent


def load_sent(path: Path) -> Any:
    """What a simulation saved (Parquet keeps the ids, statuses and versions as they were)."""
    import pandas as pd

    return pd.read_parquet(path)


def _monitor(tour: Tour, name: str) -> dict[str, Any]:
    """One ``fraudops monitor`` run on the latest window; returns its summary."""
    out = tour.workdir / "var/reports/monitoring"
    tour.run(BIN / "fraudops", "monitor", "--out", out, ok=(0, 3))
    summary = json.loads((out / "history.jsonl").read_text().splitlines()[-1])
    summary["phase"] = name
    tour.results.setdefault("monitoring", []).append(
        {
            "phase": name,
            "retrain": summary["retrain"],
            "drift_detected": summary["drift_detected"],
            "drift_share": (summary["drift"] or {}).get("drift_share"),
            "score_distance": (summary["drift"] or {}).get("score_distance"),
            "recall": summary["performance"]["recall"],
            "n_labels": summary["performance"]["n_labels"],
            "reasons": summary["reasons"],
            "model_version": summary["model_version"],
            "seconds": summary["seconds"],
            "report": str(Path(summary["report_dir"]) / "report.html"),
            "published": _published(Path(summary["report_dir"])),
        }
    )
    return summary


def _published(report_dir: Path) -> dict[str, Any]:
    """Where the monitor run published itself (Evidently, MLflow), or why it could not."""
    path = report_dir / "published.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def dashboard_facts(tour: Tour) -> dict[str, Any]:
    """How to open the Evidently dashboard of the tour's monitoring runs, and at what address."""
    from level2.demo_page import DASHBOARD_DEFAULT

    boards = [
        m.get("published", {}).get("evidently", {}) for m in tour.results.get("monitoring", [])
    ]
    boards = [b for b in boards if b.get("project_id")]
    if not boards:
        return {}
    workspace = Path(boards[-1]["workspace"])
    default = tour.workdir == ROOT and workspace == ROOT / "var" / "evidently"
    start = "make dashboard" if default else f"{BIN / 'fraudops'} dashboard --workspace {workspace}"
    return {
        "dashboard": {
            "workspace": str(workspace),
            "project_id": boards[-1]["project_id"],
            "runs": len(boards),
            "start": start,
            "url": f"{DASHBOARD_DEFAULT}/projects/{boards[-1]['project_id']}",
        }
    }


def _recall(sent: Any) -> float | None:
    from level2.simulate import recall

    return recall(sent)


def level2_loop(tour: Tour) -> None:
    """Level 2: traffic, concept drift, the monitor flags it, retraining, reload, recovery."""
    t = tour.traffic
    before = _simulate(
        tour,
        "before",
        t.before,
        scenario="none",
        seed=11,
        start=PRODUCTION_START,
        fraud_rate=t.fraud_rate,
    )
    _monitor(tour, "before drift")
    start = float(before["Time"].max()) + 1.0
    drifted = _simulate(
        tour,
        "drifted",
        t.drifted,
        scenario="concept",
        seed=13,
        start=start,
        fraud_rate=t.drift_fraud_rate,
    )
    flagged = _monitor(tour, "concept drift")
    tour.results["flagged"] = flagged["retrain"]
    if not flagged["retrain"]:
        print("the monitor did not ask for retraining; retraining anyway to show the loop")

    # Two retrainings at once (a scheduled one and a monitor-triggered one, say): they share
    # a lock, so the second waits, then finds the labels already used and does nothing.
    url = tour.results["service"]["url"]
    procs = [
        tour.start(
            BIN / "fraudops",
            "retrain",
            "--service-url",
            url,
            log=tour.scratch / f"retrain-{k}.log",
            env={
                "FRAUDOPS_ADMIN_TOKEN": tour.results["service"]["token"],
                "GITHUB_OUTPUT": str(tour.scratch / f"retrain-{k}.out"),
            },
        )
        for k in (1, 2)
    ]
    codes = [proc.wait() for proc in procs]
    outcomes = []
    for k, code in zip((1, 2), codes, strict=True):
        log = (tour.scratch / f"retrain-{k}.log").read_text()
        print(f"--- retrain #{k} (exit {code}):")
        print("".join(f"  {line}\n" for line in log.splitlines()), end="", flush=True)
        if code != 0:
            raise SystemExit(f"retrain #{k} failed (exit {code}); see {tour.scratch}")
        outputs = dict(
            line.split("=", 1)
            for line in (tour.scratch / f"retrain-{k}.out").read_text().splitlines()
        )
        outcomes.append(outputs)
    promoted = [o for o in outcomes if o["promoted"] == "true"]
    tour.results["retrain"] = {
        "runs": outcomes,
        "retrainings": sum(o["status"] in ("promoted", "refused") for o in outcomes),
        "promotions": len(promoted),
        "champion": promoted[0]["champion"] if promoted else None,
    }

    start = float(drifted["Time"].max()) + 1.0
    after = _simulate(
        tour,
        "after",
        t.after,
        scenario="concept",
        seed=17,
        start=start,
        fraud_rate=t.drift_fraud_rate,
    )
    recovered = _monitor(tour, "after retraining")
    served = sorted(after["model_version"].dropna().astype(str).unique())
    tour.results["served_after"] = served
    tour.results["live_recall"] = {
        "before_drift": _recall(before),
        "drifted_before_retraining": _recall(drifted),
        "drifted_after_retraining": _recall(after),
        "monitor_after": recovered["performance"]["recall"],
    }
    # The same post-drift rows, scored offline by the old and the new champion.
    tour.results["same_rows"] = _same_rows(tour, after)


def _same_rows(tour: Tour, sent: Any) -> dict[str, Any]:
    """Recall of the old and the new champion on the same drifted transactions."""
    from fraudops import registry
    from fraudops.schema import FEATURES, TARGET

    old = tour.results["served_before"]
    new = tour.results["retrain"]["champion"]
    out: dict[str, Any] = {"rows": len(sent), "frauds": int(sent[TARGET].sum())}
    with _tour_env(tour):
        for name, version in (("old_champion", old), ("new_champion", new)):
            if version is None:
                continue
            info = registry.version_info(version)
            scores = registry.load_model(version).predict_proba(sent[list(FEATURES)])[:, 1]
            caught = (scores >= info["threshold"])[sent[TARGET].to_numpy() == 1]
            out[name] = {"version": version, "recall": float(caught.mean())}
    return out


@contextmanager
def _tour_env(tour: Tour) -> Iterator[None]:
    """In this process, the registry and tracking store are the tour's, not the caller's."""
    env = {k: v for k, v in tour.env.items() if k in ("FRAUDOPS_STATE_DIR",)}
    saved = {k: os.environ.get(k) for k in (*env, "MLFLOW_TRACKING_URI")}
    os.environ.update(env)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def stop_service(tour: Tour) -> None:
    """SIGTERM the service (a graceful stop flushes its prediction log)."""
    server = getattr(tour, "server", None)
    if server is None or server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)


STEPS: list[tuple[str, Callable[[Tour], None]]] = [
    ("Level 0: manual scripts and a model file handed over", level0),
    ("Level 1: dvc repro, MLflow tracking and the model registry", level1),
    ("Level 1: the CT trigger refuses a broken batch (fraudops ct)", level1_ct),
    ("Level 2: build and serve the champion (BentoML)", level2_serve),
    ("Level 2: traffic, concept drift, monitor, retrain, promote, reload", level2_loop),
]


def summary(tour: Tour) -> str:
    """The closing table: the headline metrics by level and the time each step took."""
    lines = [
        "",
        "=== Summary",
        f"{'level':<10}{'AP':>8}{'ROC-AUC':>9}{'precision':>11}{'recall':>8}",
    ]
    for level in ("level0", "level1"):
        if level not in tour.results:
            continue
        m = tour.results[level]
        lines.append(
            f"{level:<10}{m['average_precision']:>8.3f}{m['roc_auc']:>9.4f}"
            f"{m['precision']:>11.3f}{m['recall']:>8.3f}"
        )
    if "level1_ct" in tour.results:
        ct = tour.results["level1_ct"]
        before, after = ct["champion"]
        lines.append(
            f"continuous training: a broken batch was "
            f"{'rejected before training' if ct['rejected'] else 'NOT rejected'} "
            f"({ct['reason']}); champion v{before} -> v{after}"
        )
    lines += level2_summary(tour)
    lines.append("")
    lines += [f"{seconds:7.1f}s  {title}" for title, seconds in tour.timings]
    lines.append(f"{sum(s for _, s in tour.timings):7.1f}s  in all")
    return "\n".join(lines)


def scratch_project(dest: Path, params: dict[str, dict[str, Any]]) -> Path:
    """Copy the project (as git sees it) to ``dest`` as a fresh git repo, with ``params``.

    ``--quick`` runs there, so small-data runs never touch the real checkout's data, DVC lock
    or registry.
    """
    import yaml
    from fraudops.scratch import copy_project

    def small_params(copy: Path) -> None:
        values = yaml.safe_load((copy / "params.yaml").read_text())
        for section, overrides in params.items():
            values[section].update(overrides)
        (copy / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))

    return copy_project(
        ROOT, dest, message="scratch copy for fraudops demo --quick", edit=small_params
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def level2_summary(tour: Tour) -> list[str]:
    """The closed loop's lines of the summary: monitoring, retraining, live recall."""
    r = tour.results
    if "monitoring" not in r:
        return []
    lines = ["", "closed loop (Level 2):"]
    for m in r["monitoring"]:
        verdict = "RETRAIN" if m["retrain"] else "ok"
        lines.append(
            f"  monitor [{m['phase']:<16}] v{m['model_version']}: {verdict:<7} live recall "
            f"{_pct(m['recall'])} on {m['n_labels']:,} labels; drift share "
            f"{_pct(m['drift_share'])}; {m['reasons'][-1]}"
        )
    if "retrain" in r:
        rt = r["retrain"]
        lines.append(
            f"  retrain: {rt['retrainings']} retraining(s), {rt['promotions']} promotion(s) from "
            f"2 concurrent runs ({', '.join(o['status'] for o in rt['runs'])}); "
            + (
                f"champion v{r['served_before']} -> v{rt['champion']}"
                if rt["champion"]
                else f"champion v{r['served_before']} unchanged"
            )
        )
    if "live_recall" in r:
        lr = r["live_recall"]
        lines.append(
            f"  live recall: before drift {_pct(lr['before_drift'])}, drifted "
            f"{_pct(lr['drifted_before_retraining'])} -> after retraining "
            f"{_pct(lr['drifted_after_retraining'])} (served by v{', v'.join(r['served_after'])})"
        )
        same = r["same_rows"]
        if "new_champion" in same:
            lines.append(
                f"  same {same['rows']:,} drifted rows ({same['frauds']} frauds): old champion "
                f"v{same['old_champion']['version']} recall {same['old_champion']['recall']:.3f}, "
                f"new champion v{same['new_champion']['version']} recall "
                f"{same['new_champion']['recall']:.3f}"
            )
        lines.append(f"  recovered: {r['recovered']}")
    return lines


def report_facts(tour: Tour) -> dict[str, Any]:
    """What the page shows beyond the summary: the traffic as a series, the registry's
    versions with their MLflow runs, and the files the tour wrote (those that exist)."""
    from fraudops import registry, tracking

    from level2.demo_page import traffic_series

    facts: dict[str, Any] = {
        "data": {"rows": tour.rows, "fraud_rate": tour.fraud_rate, "quick": tour.quick},
        "traffic": traffic_series(
            {k: tour.sent[k] for k in ("before", "drifted", "after") if k in tour.sent}
        ),
    }
    metrics = tour.workdir / "reports/metrics.json"
    if metrics.is_file():
        m = json.loads(metrics.read_text())
        facts["level1_comparison"] = {
            "winner": m["winner"],
            **{name: m[name]["average_precision"] for name in ("custom", "automl") if name in m},
            "better": m.get("better"),
            "ap_difference": m.get("ap_difference"),
            "budget": m.get("budget"),
        }
    files = {
        "Level 0 model file": tour.scratch / "level0-model.joblib",
        "scored batch": tour.scratch / "scored.csv",
        "comparison table": tour.workdir / "reports/comparison.md",
        "metrics.json": metrics,
        "registration.json": tour.workdir / "reports/registration.json",
        "promotion log": tour.workdir / "var/promotion_log.jsonl",
    }
    facts["files"] = {label: str(path) for label, path in files.items() if path.exists()}
    # run_demo writes the tour's results right after the page.
    facts["files"]["tour results (summary.json)"] = str(tour.scratch / "summary.json")
    with _tour_env(tour):
        uri = tracking.tracking_uri()
        local = not uri.startswith(("http://", "https://"))
        facts["mlflow"] = {
            # The UI's default address (level1/README.md), or the tracking server itself.
            "ui": "http://127.0.0.1:5000" if local else uri,
            "start": f"mlflow ui --backend-store-uri {uri}" if local else None,
        }
        client = tracking.connect()
        versions = []
        for v in registry.list_versions():
            entry = {k: v[k] for k in ("version", "aliases", "run_id")}
            entry["experiment_id"] = entry["artifacts"] = None
            if v["run_id"]:
                info = client.get_run(v["run_id"]).info
                entry["experiment_id"] = info.experiment_id
                if info.artifact_uri.startswith("file:"):
                    folder = Path(unquote(urlparse(info.artifact_uri).path))
                    entry["artifacts"] = str(folder) if folder.is_dir() else None
            versions.append(entry)
        facts["registry"] = versions
    return facts


def write_report(tour: Tour, path: Path) -> Path:
    """Write ``demo.html`` (:func:`level2.demo_page.page_html`) from the tour's results."""
    from level2.demo_page import page_html

    page = page_html(tour.results, tour.timings, page_dir=path.parent, summary_text=summary(tour))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def run_demo(workdir: Path, *, quick: bool) -> Tour:
    """Run every step of the tour in ``workdir`` and return what it found."""
    rows, fraud_rate = (20_000, 0.02) if quick else (FULL_ROWS, FULL_FRAUD_RATE)
    tour = Tour(
        workdir=workdir,
        rows=rows,
        fraud_rate=fraud_rate,
        quick=quick,
        traffic=QUICK_TRAFFIC if quick else FULL_TRAFFIC,
    )
    tour.scratch.mkdir(parents=True, exist_ok=True)
    print(
        f"fraudops demo: {rows:,} transactions, {'quick' if quick else 'full size'}, in {workdir}"
    )
    try:
        for title, fn in STEPS:
            tour.step(title, fn)
    finally:
        stop_service(tour)
    tour.results["recovered"] = recovered(tour.results)
    tour.results.update(report_facts(tour))
    tour.results.update(dashboard_facts(tour))
    print(summary(tour))
    report = write_report(tour, workdir / "var/reports/demo.html")
    print(f"report: {report}")
    board = tour.results.get("dashboard")
    if board:
        print(
            f"dashboard: {board['runs']} monitoring runs over time; `{board['start']}` "
            f"serves them at {board['url']}"
        )
    results = {k: v for k, v in tour.results.items() if k != "service"}  # no token on disk
    (tour.scratch / "summary.json").write_text(
        json.dumps({"results": results, "timings": tour.timings}, indent=2, default=float)
    )
    return tour


#: Live recall on drifted traffic after retraining must be within this of pre-drift recall.
RECOVERY_TOLERANCE = 0.05


def recovered(results: dict[str, Any]) -> bool:
    """Did live recall on drifted traffic come back to within 5 points of pre-drift recall?"""
    recall = results.get("live_recall") or {}
    before, after = recall.get("before_drift"), recall.get("drifted_after_retraining")
    return before is not None and after is not None and after >= before - RECOVERY_TOLERANCE


def _cmd(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    if args.quick:
        workdir = scratch_project(workdir / "var" / "demo-quick", QUICK_PARAMS)
    tour = run_demo(workdir, quick=args.quick)
    board = tour.results.get("dashboard")
    if args.dashboard and board:
        # The tour's own state folder, so the dashboard shows this tour's runs; Ctrl-C stops it.
        cmd = [str(BIN / "fraudops"), "dashboard", "--workspace", board["workspace"]]
        return subprocess.call(cmd, env=tour.env)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fraudops demo`` to the command line."""
    p = subparsers.add_parser(
        "demo",
        help="run the whole maturity tour (Level 0 -> 1 -> 2), offline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small data (seconds, for tests)")
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="at the end, serve the Evidently dashboard of the tour's monitoring runs "
        "(fraudops dashboard) until Ctrl-C",
    )
    p.add_argument(
        "--workdir",
        default=str(ROOT),
        help="project folder to run in (default: this checkout; --quick copies it to "
        "WORKDIR/var/demo-quick first)",
    )
    p.set_defaults(func=_cmd)
