"""``fraudops ct``: new data in, a new data version and model version out; bad data stopped.

These tests run the real command (DVC, MLflow) in the session's copy of the project (see
``test_dvc_pipeline.py``), after its first pipeline run made a champion.
"""

from __future__ import annotations

import fcntl
import json

import pandas as pd
import pytest
import yaml

from tests.data.test_validate import (
    _header_only,
    _latin1,
    _overflow,
    _repeated_header,
    _semicolons,
    _truncated,
    _unicode_minus,
)
from tests.pipeline.test_dvc_pipeline import Project, build_project, ran_stages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    # The same directory as test_dvc_pipeline's fixture: the pipeline runs once per session.
    return build_project(tmp_path_factory.getbasetemp() / "level1")


def incoming(project: Project):
    return project.path / "data/incoming"


def newer_batch(project: Project, rows: int, seed: int) -> pd.DataFrame:
    """Transactions that arrive after everything the project has seen so far."""
    from fraudops.data import generate, load

    latest = load(project.path / "data/raw/transactions.parquet")["Time"].max()
    return generate(rows=rows, seed=seed, fraud_rate=0.01, start_time=float(latest) + 60.0)


def batches_version(project: Project) -> dict:
    return yaml.safe_load((project.path / "data/batches.dvc").read_text())["outs"][0]


def test_no_new_data_runs_nothing(project):
    before = project.snapshot()
    out = project.fraudops("ct", "--once")
    assert "no new data" in out.stdout
    assert ran_stages(out.stdout) == set()
    assert project.snapshot() == before


def test_bad_batch_is_rejected_with_its_report_and_the_champion_stays(project):
    from fraudops.data import save

    before = project.snapshot()
    bad = newer_batch(project, rows=800, seed=21).drop(columns=["V14"])
    save(bad, incoming(project) / "broken-extract.csv")

    out = project.fraudops("ct", "--once", check=False)

    assert out.returncode == 1
    assert "REJECTED broken-extract.csv" in out.stdout
    assert ran_stages(out.stdout) == set()
    assert list(incoming(project).iterdir()) == []
    (moved,) = (project.path / "data/rejected").glob("*broken-extract.csv")
    report = json.loads(moved.with_name(moved.name + ".report.json").read_text())
    assert not report["ok"]
    assert any("V14" in json.dumps(error) for error in report["errors"])
    assert "V14" in moved.with_name(moved.name + ".report.txt").read_text()
    assert project.snapshot() == before  # no data version, no model version, same champion


#: Hostile files from the validator's tests, each dropped into data/incoming as its own batch:
#: (name, builder, words its report must contain).
HOSTILE = [
    ("huge-values.csv", _overflow, "too large for float64"),
    ("unicode-junk.csv", _unicode_minus, "U+2212 MINUS SIGN"),
    ("latin1.csv", _latin1, "not UTF-8"),
    ("semicolons.csv", _semicolons, "';'-separated"),
    ("zero-rows.csv", _header_only, "no data rows"),
    ("header-twice.csv", _repeated_header, "header line is repeated"),
    ("cut-off.csv", _truncated, "truncated"),
]


def test_every_hostile_batch_is_rejected_and_nothing_is_overwritten(project, tmp_path):
    before = project.snapshot()
    raw_before = (project.path / "data/raw/transactions.parquet").read_bytes()
    incoming(project).mkdir(parents=True, exist_ok=True)
    for name, build, _ in HOSTILE:
        (tmp_path / name).mkdir()
        build(tmp_path / name).rename(incoming(project) / name)

    out = project.fraudops("ct", "--once", check=False)

    assert out.returncode == 1
    assert ran_stages(out.stdout) == set()
    for name, _, words in HOSTILE:
        assert f"REJECTED {name}" in out.stdout, name
        (moved,) = (project.path / "data/rejected").glob(f"*{name}")
        assert words in moved.with_name(moved.name + ".report.txt").read_text(), name
    assert list(incoming(project).iterdir()) == []
    # No data version, no model version, the same champion, the same raw table.
    assert project.snapshot() == before
    assert (project.path / "data/raw/transactions.parquet").read_bytes() == raw_before


def test_good_batch_makes_a_new_data_version_and_a_new_model_version(project):
    from fraudops import registry
    from fraudops.data import save

    before = project.snapshot()
    data_before = batches_version(project)
    save(newer_batch(project, rows=4_000, seed=22), incoming(project) / "transactions.csv")

    out = project.fraudops("ct", "--once")

    assert ran_stages(out.stdout) >= {"ingest", "train_custom", "train_automl", "register"}
    data_after = batches_version(project)
    assert data_after["md5"] != data_before["md5"]
    assert data_after["nfiles"] == data_before["nfiles"] + 1
    # ... and it is in the DVC remote, so it outlives this workspace.
    md5 = data_after["md5"]
    assert (project.state / "dvc-remote/files/md5" / md5[:2] / md5[2:]).is_file()
    assert list(incoming(project).iterdir()) == []
    # The retrained winner is a new registered version, and the gate has ruled on it.
    registration = project.json("reports/registration.json")
    versions = project.registry(registry.list_versions)
    assert registration["version"] not in before["versions"]
    assert registration["version"] == versions[-1]["version"]
    assert versions[-1]["tags"]["gate.decision"] in ("promote", "refuse")
    expected = (
        registration["version"] if registration["decision"]["promote"] else before["champion"]
    )
    assert project.snapshot()["champion"] == expected
    assert f"registered    fraud-detector version {registration['version']}" in out.stdout

    # Running the trigger again with nothing new is a no-op.
    settled = project.snapshot()
    again = project.fraudops("ct", "--once")
    assert "no new data" in again.stdout
    assert project.snapshot() == settled


def test_two_runs_never_overlap(project):
    lock = project.state / "ct.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out = project.fraudops("ct", "--once", check=False)
    assert out.returncode == 1
    assert "another `fraudops ct` is running" in out.stdout
