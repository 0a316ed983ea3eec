"""Level 0 as a person runs it: the scripts by hand, and the notebooks top to bottom."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import nbformat
import pandas as pd
import pytest
from fraudops.data import save
from fraudops.schema import FEATURES
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "level0/notebooks").glob("*.ipynb"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory, small_data: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("level0") / "transactions.csv"
    save(small_data, path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_csv: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """``level0/train.py`` run once by hand (both tests below use its model file)."""
    folder = tmp_path_factory.mktemp("level0-model")
    model_path = folder / "model.joblib"
    done = run(str(ROOT / "level0/train.py"), str(data_csv), "--out", str(model_path), cwd=folder)
    return done, model_path


def test_train_then_predict_by_hand(data_csv: Path, trained, tmp_path: Path):
    trained, model_path = trained
    assert trained.returncode == 0, trained.stderr
    assert "average precision" in trained.stdout
    bundle = joblib.load(model_path)
    assert 0.0 < bundle["threshold"] < 1.0
    # On generated data with 1 % fraud the hand-trained model must be far above the 0.01 prior.
    assert bundle["metrics"]["average_precision"] > 0.5

    scored_path = tmp_path / "scored.csv"
    scored = run(
        str(ROOT / "level0/predict.py"),
        str(data_csv),
        "--out",
        str(scored_path),
        "--model",
        str(model_path),
        cwd=tmp_path,
    )
    assert scored.returncode == 0, scored.stderr
    out = pd.read_csv(scored_path)
    assert len(out) == pd.read_csv(data_csv).shape[0]
    assert out["fraud_probability"].between(0, 1).all()
    # Frauds score higher than legitimate rows on average: the file carries a working model.
    means = out.groupby("Class")["fraud_probability"].mean()
    assert means[1] > 10 * means[0]


def test_train_refuses_invalid_data(tmp_path: Path, small_data: pd.DataFrame):
    bad = small_data.drop(columns=["V14"])
    path = tmp_path / "bad.csv"
    save(bad, path)
    result = run(
        str(ROOT / "level0/train.py"), str(path), "--out", str(tmp_path / "m.joblib"), cwd=tmp_path
    )
    assert result.returncode != 0
    assert "V14" in result.stderr
    assert not (tmp_path / "m.joblib").exists()


def test_predict_names_missing_columns(tmp_path: Path, trained, small_data: pd.DataFrame):
    done, model_path = trained
    assert done.returncode == 0, done.stderr
    path = tmp_path / "no_amount.csv"
    save(small_data[[c for c in FEATURES if c != "Amount"]], path)
    result = run(
        str(ROOT / "level0/predict.py"),
        str(path),
        "--out",
        str(tmp_path / "o.csv"),
        "--model",
        str(model_path),
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "Amount" in result.stderr


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook: Path, tmp_path: Path, monkeypatch):
    assert "output_type" not in notebook.read_text(), "notebooks are committed without outputs"
    monkeypatch.setenv("FRAUDOPS_ROWS", "15000")
    monkeypatch.setenv("FRAUDOPS_FRAUD_RATE", "0.01")
    monkeypatch.setenv("FRAUDOPS_MODEL_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors
    if notebook.name.startswith("02"):
        assert (tmp_path / "model.joblib").is_file()
