"""Fixtures shared by every test folder.

Tests run on small generated data (seconds, not minutes); the full-size runs live in the demo
and the benchmarks. The real sample is read from ``../shared/data/real`` beside the project and
the tests that need it skip, with the reason, on a clone that has no such folder.
"""

from __future__ import annotations

import os
from pathlib import Path

# First: importing fraudops sets OMP_WAIT_POLICY=PASSIVE (shared/fraudops/__init__.py), before
# anything loads OpenMP. Two workers each train LightGBM (2 OpenMP threads) on 2 cores, and
# threads that wait should sleep, not spin on a core the other worker needs; the pipelines,
# services and act runs the tests start inherit it.
import fraudops  # noqa: F401
import pandas as pd
import pytest

# Where the genuine rows are and what a legitimate one stands for: one place, shared with the
# benchmarks.
from benchmarks._real import REAL_LEGIT_WEIGHT, REAL_SAMPLE

ROOT = Path(__file__).resolve().parents[1]

#: The service fixtures (registry, launcher), shared by tests/service and tests/reliability.
pytest_plugins = ("tests.served",)

#: Modules that share one built project (``tests.pipeline.test_dvc_pipeline.build_project``: a
#: copy of the repo and a first ``dvc repro``, about 45 s): they run in the same pytest-xdist
#: worker, or each worker would build its own.
SHARED_PROJECT = ("test_dvc_pipeline", "test_ct", "test_mlflow_serve")
#: Modules that share one registry of two served models (``tests/served.py``).
SHARED_REGISTRY = (
    "test_service",
    "test_bulk",
    "test_contract",
    "test_fuzz",
    "test_crash",
    "test_prometheus",
)
#: The longest groups, started first so that neither worker is left with one at the end
#: (measured in .ci/run, generator 1.71 s, benchmarks/results/test_suite.md: the act chain
#: 199 s, the quick demo 190 s, the project group about 120 s; every other test under 25 s).
LONGEST_FIRST = ("test_act_chain", "test_demo_quick", "dvc-project")

# Offline and quiet, whatever the caller's environment says.
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def small_data() -> pd.DataFrame:
    """20,000 generated transactions (seed 7) with a raised fraud rate so every split has frauds."""
    from fraudops.data import generate

    return generate(rows=20_000, seed=7, fraud_rate=0.01)


@pytest.fixture(scope="session")
def real_sample() -> pd.DataFrame:
    """The genuine rows of ``creditcard.csv`` (492 frauds, 4,920 legitimate), sorted by Time."""
    if not REAL_SAMPLE.is_file():
        pytest.skip(
            f"real sample not found at {REAL_SAMPLE} (it lives beside the project, not in it)"
        )
    from fraudops.data import load

    return load(REAL_SAMPLE).sort_values("Time", kind="stable").reset_index(drop=True)


@pytest.fixture(scope="session")
def real_weights(real_sample: pd.DataFrame) -> pd.Series:
    """Sample weights that turn the real sample's metrics into full-population estimates."""
    return real_sample["Class"].map({0: REAL_LEGIT_WEIGHT, 1: 1.0})


def _group(nodeid: str) -> str:
    """The unit of work of a test for the xdist scheduler: its module, ``dvc-project`` or
    ``service-registry``."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    if module in SHARED_PROJECT:
        return "dvc-project"
    return "service-registry" if module in SHARED_REGISTRY else module


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With ``--dist loadfile`` (``make test``), one worker runs a whole module, so a module's
    fixtures (a served model, a built project) are built once; the modules of
    :data:`SHARED_PROJECT` count as one, and so do those of :data:`SHARED_REGISTRY`.

    (``--dist loadgroup`` with ``xdist_group`` marks would say the same, but pytest-xdist 3.8
    groups by rewriting ``item._nodeid``, which pytest 9 no longer reads: the marks are ignored.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return ByModule(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the longest groups first, so that neither xdist worker is left with one at the end
    (without xdist only the order changes)."""

    def rank(item: pytest.Item) -> int:
        group = _group(item.nodeid)
        return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a rank is the collection order
