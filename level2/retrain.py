"""``fraudops retrain``: labeled production data retrains the model, the gate decides, the service
picks up the winner.

One retraining:

1. takes the lock that ``fraudops ct`` also holds (waiting up to ``--wait`` seconds), so two
   retrainings started at once run one after the other; the second then finds the labels
   already used and does nothing, so the two are never both promoted;
2. reads the labeled predictions logged since the last retraining (the logged features joined
   with their feedback labels) from the prediction log; each one is used by one retraining
   only (a watermark in ``<state dir>/retrain/state.json``);
3. keeps the newest ``--gate-fraction`` of them aside as the *production gate window*, which the
   new model never trains on, and turns the rest into a batch;
4. hands the batch to Level 1's continuous-training trigger (:func:`level1.ct.check`): the batch
   is validated, moved into ``data/feedback/`` and recorded as a new DVC data version (the
   pipeline splits that folder by time on its own, so most of it is trained on), and
   ``dvc repro`` trains, evaluates, registers and gates. The gate judges the challenger on the
   pipeline's holdout *and* on the production gate window (``$FRAUDOPS_GATE_EXTRA_HOLDOUT``) and
   promotes it only if it is not worse than the champion on both;
5. tags the new model's MLflow runs and registry version with the feedback window it learned
   from (``feedback.*``);
6. on promotion, makes the running service reload (``POST /admin/reload`` when
   ``$FRAUDOPS_ADMIN_TOKEN`` is set, else the service's own registry polling) and, with
   ``--service-url``, waits until the service answers with the new version.

Run it from the project root (where ``dvc.yaml`` is). Exit status: 0 when the retraining ran
(promoted or not) or there was not enough new labeled data; 1 when the batch was rejected or
the pipeline failed. When ``$GITHUB_OUTPUT`` is set it receives ``promoted=true|false``,
``version=N`` (the newly registered version, empty when none) and ``champion=N``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from fraudops.cli import CommandError
from fraudops.schema import COLUMNS, FEATURES, TARGET

from level1 import ct

#: Where each retraining keeps its batch, gate window and summary, under the state directory.
RETRAIN_DIR = "retrain"
#: The newest labeled prediction already used (``ts``), so the next run takes only newer ones.
STATE_FILE = "state.json"
ADMIN_TOKEN_ENV = "FRAUDOPS_ADMIN_TOKEN"


@dataclass(frozen=True)
class RetrainOptions:
    """How much new labeled data a retraining needs and how it is used.

    Attributes:
        min_labels: fewer new labeled predictions than this: nothing to learn from yet.
        min_fraud_labels: ... and at least this many frauds among them.
        gate_fraction: the newest share of them kept aside for the gate (never trained on).
    """

    min_labels: int = 500
    min_fraud_labels: int = 20
    gate_fraction: float = 0.3

    def __post_init__(self) -> None:
        if self.min_labels < 1 or self.min_fraud_labels < 1:
            raise ValueError("min_labels and min_fraud_labels must be >= 1")
        if not 0.0 < self.gate_fraction < 1.0:
            raise ValueError(f"gate_fraction must be in (0, 1), got {self.gate_fraction}")


@dataclass
class RetrainResult:
    """What one retraining did (also ``summary.json`` in its folder)."""

    status: str  # "promoted", "refused", "nothing to do", "failed"
    reason: str
    window: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    champion_before: str | None = None
    champion_after: str | None = None
    gate: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    folder: str | None = None
    seconds: float = 0.0

    @property
    def promoted(self) -> bool:
        return self.status == "promoted"

    @property
    def exit_code(self) -> int:
        return 1 if self.status == "failed" else 0


def state_folder() -> Path:
    """``<state dir>/retrain``: the watermark and one folder per retraining."""
    from fraudops import tracking

    return tracking.state_dir() / RETRAIN_DIR


def read_watermark() -> float | None:
    """The ``ts`` of the newest labeled prediction a retraining already used (None: none yet)."""
    path = state_folder() / STATE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("trained_until_ts")


def write_watermark(ts: float, run: dict[str, Any]) -> None:
    """Record that labeled predictions up to ``ts`` are now training data."""
    path = state_folder() / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"trained_until_ts": ts, "last_run": run}, indent=2) + "\n")
    partial.replace(path)  # atomic: a crash leaves the old watermark, never half a file


def new_labeled(log_url: str, since_ts: float | None) -> pd.DataFrame:
    """Labeled predictions logged after ``since_ts``, oldest first.

    Args:
        log_url: the prediction log.
        since_ts: the watermark (``None``: everything labeled).

    Returns:
        :meth:`fraudops.predlog.PredictionLog.labeled` rows (features, ``ts``, ``label``...).
    """
    from fraudops.predlog import PredictionLog

    log = PredictionLog(log_url)
    try:
        rows = log.labeled(since=since_ts)
    finally:
        log.close()
    if since_ts is not None:
        rows = rows[rows["ts"] > since_ts]
    return rows.sort_values("ts", kind="stable").reset_index(drop=True)


def as_transactions(labeled: pd.DataFrame) -> pd.DataFrame:
    """Logged features with their feedback label as ``Class``: the training data's schema."""
    out = labeled[list(FEATURES)].copy()
    out[TARGET] = labeled["label"].astype("int64").to_numpy()
    return out[list(COLUMNS)].sort_values("Time", kind="stable").reset_index(drop=True)


def split_window(labeled: pd.DataFrame, gate_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The older part (to train on) and the newest ``gate_fraction`` (for the gate), by ``ts``."""
    cut = len(labeled) - max(1, round(len(labeled) * gate_fraction))
    return labeled.iloc[:cut], labeled.iloc[cut:]


def describe_window(part: pd.DataFrame) -> dict[str, Any]:
    """Rows, frauds and the logged time span of some labeled predictions."""

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

    return {
        "rows": len(part),
        "frauds": int(part["label"].sum()),
        "from_ts": float(part["ts"].min()),
        "to_ts": float(part["ts"].max()),
        "from": iso(float(part["ts"].min())),
        "to": iso(float(part["ts"].max())),
        "model_versions": sorted(part["model_version"].dropna().astype(str).unique().tolist()),
    }


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def tag_lineage(project: Path, version: str | None, window: dict[str, Any]) -> None:
    """Record the feedback window on the candidates' MLflow runs and on the new version."""
    from fraudops import registry, tracking

    tags = {
        f"feedback.{k}": json.dumps(v) if isinstance(v, list) else str(v)
        for k, v in window.items()
        if k != "gate_window"
    }
    client = tracking.connect()
    for report in ("reports/train_custom.json", "reports/train_automl.json"):
        path = project / report
        if path.is_file():
            run_id = json.loads(path.read_text()).get("run_id")
            if run_id:
                for key, value in tags.items():
                    client.set_tag(run_id, key, value)
    if version is not None:
        registry.set_tags(version, tags)


def reload_service(url: str | None, version: str, *, timeout: float = 120.0) -> dict[str, Any]:
    """Make the service at ``url`` serve ``version``, and wait until it does.

    With ``$FRAUDOPS_ADMIN_TOKEN`` set, ``POST /admin/reload`` asks for the new champion at
    once; otherwise the service finds it at its next registry poll. Without ``url`` nothing is
    contacted (a service elsewhere polls the registry by itself).

    Returns:
        ``how`` (``admin``, ``poll`` or ``not contacted``), ``serving`` (the version the service
        answered with last) and ``seconds`` waited.
    """
    if not url:
        return {"how": "not contacted", "serving": None, "seconds": 0.0}
    import httpx

    url = url.rstrip("/")
    start = time.monotonic()
    how = "poll"
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if token:
        r = httpx.post(
            f"{url}/admin/reload", headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        if r.status_code != 200:
            raise CommandError(f"POST {url}/admin/reload answered {r.status_code}: {r.text[:300]}")
        how = "admin"
    serving = None
    while time.monotonic() - start < timeout:
        try:
            serving = str(httpx.get(f"{url}/model", timeout=10).json()["version"])
        except (httpx.HTTPError, KeyError, ValueError):
            serving = None
        if serving == version:
            break
        time.sleep(0.5)
    return {"how": how, "serving": serving, "seconds": round(time.monotonic() - start, 1)}


def retrain(
    project: Path,
    *,
    log_url: str,
    options: RetrainOptions,
    service_url: str | None = None,
    wait: float = 3600.0,
) -> RetrainResult:
    """One feedback-driven retraining (see the module docstring).

    Args:
        project: the project root (holds ``dvc.yaml``).
        log_url: the prediction log.
        options: how much data is needed and how much is kept for the gate.
        service_url: the running service, to reload and check (optional).
        wait: seconds to wait for another ct/retrain run to finish.

    Returns:
        What happened; also written to ``<state dir>/retrain/<time>/summary.json``.
    """
    from fraudops import registry
    from fraudops.data import save

    started = time.perf_counter()
    print(f"retrain: waiting for the ct/retrain lock (up to {wait:g}s)", flush=True)
    with ct.exclusive(ct.lock_path(), wait=wait, who="fraudops retrain"):
        # Read the watermark only once the lock is held: a retraining that just finished may
        # have used the very labels this one was started for.
        since = read_watermark()
        labeled = new_labeled(log_url, since)
        n, frauds = len(labeled), int(labeled["label"].sum()) if len(labeled) else 0
        print(f"retrain: {n:,} new labeled predictions ({frauds} frauds) in {log_url}", flush=True)
        champion = registry.version_of(registry.CHAMPION)
        if n < options.min_labels or frauds < options.min_fraud_labels:
            return RetrainResult(
                status="nothing to do",
                reason=(
                    f"not enough new labeled data since the last retraining: {n} labels, "
                    f"{frauds} frauds (need {options.min_labels} and {options.min_fraud_labels})"
                ),
                champion_before=champion,
                champion_after=champion,
                seconds=round(time.perf_counter() - started, 1),
            )

        train_part, gate_part = split_window(labeled, options.gate_fraction)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = state_folder() / stamp
        gate_path = save(as_transactions(gate_part), folder / "gate_window.parquet")
        batch_path = save(
            as_transactions(train_part), folder / "incoming" / f"feedback-{stamp}.parquet"
        )
        window = {
            **describe_window(train_part),
            "batch": batch_path.name,
            "gate_window": describe_window(gate_part),
        }
        print(
            f"retrain: training batch {window['rows']:,} rows ({window['frauds']} frauds, "
            f"{window['from']} .. {window['to']}); gate window {len(gate_part):,} rows "
            f"({window['gate_window']['frauds']} frauds), kept out of training",
            flush=True,
        )
        with _env("FRAUDOPS_GATE_EXTRA_HOLDOUT", str(gate_path)):
            check = ct.check(project, folder / "incoming", batches=ct.FEEDBACK)
        after = registry.version_of(registry.CHAMPION)
        summary = check.summary
        result = RetrainResult(
            status="failed",
            reason="",
            window=window,
            version=summary.get("new_version"),
            champion_before=champion,
            champion_after=after,
            folder=str(folder),
        )
        if check.rejected:
            result.reason = f"the batch was rejected by validation (see {check.rejected[0]})"
        elif not check.pipeline_ok:
            result.reason = "the Level 1 pipeline failed (output above); the champion is unchanged"
        else:
            # Every label of the window is used now, for training (a DVC data version) or for
            # the gate, promoted or not: a retraining started next finds none of them again.
            write_watermark(float(labeled["ts"].max()), {"folder": str(folder), **window})
            tag_lineage(project, result.version, window)
            registration = json.loads((project / ct.REGISTRATION).read_text())
            result.gate = registration.get("decision")
            if summary.get("promoted"):
                result.status = "promoted"
                result.reason = summary.get("reason") or ""
                result.service = reload_service(service_url, str(after))
            elif result.version is None:
                result.status = "refused"
                result.reason = "the pipeline registered no new version"
            else:
                result.status = "refused"
                result.reason = summary.get("reason") or ""
        result.seconds = round(time.perf_counter() - started, 1)
        (folder / "summary.json").write_text(
            json.dumps({**asdict(result), "promoted": result.promoted}, indent=2, default=str)
            + "\n"
        )
        return result


def _options(args: argparse.Namespace) -> RetrainOptions:
    """Options from the command line, defaulting to the monitor's label minimums."""
    from fraudops.monitoring import MonitorParams
    from fraudops.params import ParamsError, from_section, load_params

    try:
        section = load_params(args.params).get("monitor") if Path(args.params).is_file() else None
        monitor = from_section(MonitorParams, section, "monitor")
        return RetrainOptions(
            min_labels=args.min_labels or monitor.min_labels,
            min_fraud_labels=args.min_fraud_labels or monitor.min_fraud_labels,
            gate_fraction=args.gate_fraction,
        )
    except (ParamsError, ValueError) as exc:
        raise CommandError(str(exc)) from exc


def _cmd(args: argparse.Namespace) -> int:
    from fraudops.commands.monitor import default_log_url

    project = Path.cwd()
    if not (project / "dvc.yaml").is_file():
        raise CommandError(
            f"no dvc.yaml in {project}: run `fraudops retrain` from the project root"
        )
    result = retrain(
        project,
        log_url=args.log_url or default_log_url(),
        options=_options(args),
        service_url=args.service_url,
        wait=args.wait,
    )
    print(f"retrain: {result.status}: {result.reason}", flush=True)
    print(
        f"retrain: @champion {result.champion_before} -> {result.champion_after}"
        f"{'' if result.version is None else f' (new version {result.version})'}"
        f" in {result.seconds:.0f}s",
        flush=True,
    )
    if result.service:
        print(
            f"retrain: service reload ({result.service['how']}): now serving version "
            f"{result.service['serving']} after {result.service['seconds']}s",
            flush=True,
        )
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
            fh.write(f"promoted={str(result.promoted).lower()}\n")
            fh.write(f"version={result.version or ''}\n")
            fh.write(f"champion={result.champion_after or ''}\n")
            fh.write(f"status={result.status}\n")
    return result.exit_code


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fraudops retrain`` to the command line."""
    p = subparsers.add_parser(
        "retrain",
        help="retrain on labeled production data (new DVC version, dvc repro, gate, reload)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--log-url", help="prediction log URL (default: $FRAUDOPS_PREDICTION_LOG)")
    p.add_argument(
        "--min-labels", type=int, help="new labels needed to retrain (default: monitor.min_labels)"
    )
    p.add_argument(
        "--min-fraud-labels",
        type=int,
        help="... of which frauds (default: monitor.min_fraud_labels)",
    )
    p.add_argument(
        "--gate-fraction",
        type=float,
        default=0.3,
        help="newest share of the new labels kept out of training for the gate (default: 0.3)",
    )
    p.add_argument(
        "--service-url",
        help="running service to reload and check after a promotion (e.g. http://127.0.0.1:3000)",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=3600.0,
        help="seconds to wait for another ct/retrain run to finish (default: 3600)",
    )
    p.add_argument("--params", default="params.yaml", help="parameter file (section 'monitor')")
    p.set_defaults(func=_cmd)
