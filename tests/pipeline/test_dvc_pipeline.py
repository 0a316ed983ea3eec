"""Level 1 as a user runs it: ``dvc repro`` in a copy of the project, on small data, offline.

One copy of the project (its git-tracked and untracked-but-not-ignored files, in a fresh git
repository) is built and run once per session; ``test_ct.py`` and ``test_mlflow_serve.py``
work in the same copy, so the whole folder pays for one cold pipeline run. Every test states
what it expects relative to the state it finds, so the order the tests run in does not matter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraudops.scratch import copy_project, make_data_folders

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGES = ("ingest", "validate", "split", "train_custom", "train_automl", "evaluate", "register")
#: Small data and short searches: the whole folder has to stay within a few minutes.
SMALL_PARAMS = {
    "ingest": {"rows": 20_000, "seed": 7, "fraud_rate": 0.01},
    "budget": {"seconds": 5, "trials": 2, "cv_folds": 2},
    "train_custom": {"estimator": "logreg", "search": "random"},
    "train_automl": {"estimator_list": ["lgbm", "lrl1"]},
}

pytestmark = pytest.mark.slow


def ran_stages(output: str) -> set[str]:
    """The stages DVC ran, from its ``Running stage 'NAME':`` lines."""
    return set(re.findall(r"Running stage '([^']+)'", output))


@dataclass
class Project:
    """A scratch copy of the project with its own git repo, DVC cache and MLflow store."""

    path: Path

    @property
    def state(self) -> Path:
        return self.path / "var"

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "FRAUDOPS_STATE_DIR": str(self.state),
            "DVC_NO_ANALYTICS": "1",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
        # An MLFLOW_TRACKING_URI left by another test would point the stages at its store.
        env.pop("MLFLOW_TRACKING_URI", None)
        return env

    def run(
        self, *cmd: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """Run a command in the copy; stdout and stderr together, as a user sees them."""
        proc = subprocess.run(
            cmd,
            cwd=self.path,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{proc.stdout[-6000:]}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, check=check)

    def fraudops(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "fraudops"), *args, check=check)

    def json(self, relative: str) -> Any:
        return json.loads((self.path / relative).read_text())

    @contextmanager
    def store(self) -> Iterator[None]:
        """Point this process's ``fraudops.tracking`` at the copy's store, then restore."""
        keys = ("FRAUDOPS_STATE_DIR", "MLFLOW_TRACKING_URI")
        saved = {k: os.environ.get(k) for k in keys}
        os.environ["FRAUDOPS_STATE_DIR"] = str(self.state)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def registry(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a :mod:`fraudops.registry` function against the copy's store."""
        with self.store():
            return fn(*args)

    def snapshot(self) -> dict[str, Any]:
        """What a no-op must leave alone: the lock file, the data version and the registry."""
        from fraudops import registry

        return {
            "dvc.lock": (self.path / "dvc.lock").read_text(),
            "data/batches.dvc": (self.path / "data/batches.dvc").read_text(),
            "versions": [v["version"] for v in self.registry(registry.list_versions)],
            "champion": self.registry(registry.version_of, registry.CHAMPION),
        }


def _small_params(path: Path) -> None:
    params = yaml.safe_load(path.read_text())
    for section, values in SMALL_PARAMS.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def build_project(base: Path) -> Project:
    """Copy the project to ``base``, commit it, and run the pipeline once (once per session).

    The first ``dvc repro``'s output is kept in ``base/first-repro.log``.
    """
    project = Project(base / "project")
    done = base / "first-repro.log"
    if done.exists():
        return project
    copy_project(  # replaces a half-built copy from a failed attempt
        ROOT,
        project.path,
        message="project as cloned",
        edit=lambda dest: _small_params(dest / "params.yaml"),
    )
    project.run("git", "config", "user.email", "tests@example.com")
    project.run("git", "config", "user.name", "fraudops tests")
    first = project.dvc("repro")
    # Commit the results, as the walkthrough does, so `dvc metrics diff` has a baseline.
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "first pipeline run")
    done.write_text(first.stdout)
    return project


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The session's copy of the project, after one cold ``dvc repro``."""
    return build_project(tmp_path_factory.getbasetemp() / "level1")


@pytest.fixture(scope="session")
def first_repro(project: Project) -> str:
    """The output of the copy's first, cold ``dvc repro``."""
    return (project.path.parent / "first-repro.log").read_text()


def test_repro_from_clean_runs_every_stage_and_promotes_a_champion(project, first_repro):
    from fraudops import registry

    assert ran_stages(first_repro) == set(STAGES)
    champion = project.registry(registry.version_of, registry.CHAMPION)
    assert champion is not None
    # The first model met no champion, so the gate promoted it, and the log says so.
    first = project.registry(registry.promotion_log)[0]
    assert first["action"] == "promote" and first["actor"] == "gate"
    info = project.registry(registry.version_info, champion)
    assert 0.0 < info["threshold"] < 1.0
    # Lineage: the version names the data it was trained on by the hash DVC recorded for it.
    lock = yaml.safe_load((project.path / "dvc.lock").read_text())
    outs = lock["stages"]["ingest"]["outs"]
    raw = next(o for o in outs if o["path"] == "data/raw/transactions.parquet")
    tagged = [v["tags"]["data_md5"] for v in project.registry(registry.list_versions)]
    assert raw["md5"] in tagged


def test_metrics_compare_both_candidates_and_name_a_winner(project):
    metrics = project.json("reports/metrics.json")
    assert metrics["winner"] in ("custom", "automl")
    for candidate in ("custom", "automl"):
        # Generated data with 1 % fraud is easy to rank: far above the 0.01 no-skill AP.
        assert 0.3 < metrics[candidate]["average_precision"] <= 1.0
        assert 0.0 <= metrics[candidate]["recall"] <= 1.0
    winner_ap = metrics[metrics["winner"]]["average_precision"]
    assert winner_ap == max(metrics[c]["average_precision"] for c in ("custom", "automl"))
    table = (project.path / "reports/comparison.md").read_text()
    assert f"Chosen model: **{metrics['winner']}**" in table
    for png in ("custom_pr.png", "automl_roc.png", "custom_confusion.png"):
        assert (project.path / "reports/figures" / png).stat().st_size > 1000


def test_second_repro_changes_nothing(project):
    before = project.snapshot()
    again = project.dvc("repro")
    assert ran_stages(again.stdout) == set()
    assert "Data and pipelines are up to date" in again.stdout
    assert project.snapshot() == before


def test_bad_data_stops_the_pipeline_at_validate(project):
    """A file that bypasses ``fraudops ct`` still cannot reach training."""
    from fraudops.data import generate, save

    before = project.snapshot()
    bad = generate(rows=500, seed=3, fraud_rate=0.01, start_time=10_000_000.0)
    bad.loc[bad.index[5], "Amount"] = -12.5
    sneaked = project.path / "data/batches/sneaked-in.csv"
    save(bad, sneaked)
    try:
        failed = project.dvc("repro", check=False)
        assert failed.returncode != 0
        assert ran_stages(failed.stdout) == {"ingest", "validate"}
        assert "Amount" in failed.stdout  # the report names the column
        assert not project.json("reports/validation.json")["ok"]
        assert project.snapshot()["champion"] == before["champion"]
        assert project.snapshot()["versions"] == before["versions"]
    finally:
        sneaked.unlink()
    # With the file gone the data is what it was: only ingest and validate redo their work.
    assert ran_stages(project.dvc("repro").stdout) <= {"ingest", "validate"}
    assert project.snapshot() == before


def test_changed_parameter_reruns_only_the_stages_it_feeds(project):
    from fraudops import registry

    # Commit what earlier tests left, as a user would before an experiment: the baseline.
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "--allow-empty", "-m", "baseline")
    # The folders of accepted batches and feedback are DVC dependencies; git keeps no empty
    # folder.
    make_data_folders(project.path)
    experiment = project.dvc("exp", "run", "-S", "train_custom.imbalance=undersample")
    assert ran_stages(experiment.stdout) == {"train_custom", "evaluate", "register"}
    report = project.json("reports/train_custom.json")
    assert report["params"]["train_custom.imbalance"] == "undersample"
    # Whichever candidate won is registered, exactly once, and judged by the gate.
    registration = project.json("reports/registration.json")
    winner = project.json("reports/metrics.json")["winner"]
    assert registration["run_id"] == project.json(f"reports/train_{winner}.json")["run_id"]
    versions = project.registry(registry.list_versions)
    assert [v["tags"]["run_id"] for v in versions].count(registration["run_id"]) == 1
    # Against the baseline, DVC reports the custom candidate's figures as changed, and
    # none of the AutoML candidate's: it was not retrained.
    diff = json.loads(project.dvc("metrics", "diff", "--json").stdout)
    changed = set(diff["reports/metrics.json"])
    assert "custom.cv_average_precision" in changed
    assert not {key for key in changed if key.startswith("automl.")}


def test_metrics_and_plots_show(project, tmp_path):
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    (workspace,) = shown.values()
    metrics = workspace["data"]["reports/metrics.json"]["data"]
    assert metrics == project.json("reports/metrics.json")

    project.dvc("plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots/index.html").read_text()
    for title in ("Precision-recall", "ROC", "Confusion matrix"):
        assert title in html
