"""What the stages share: the candidates' names, JSON reports and plain values, and scoring a
saved model. How a training run is finished and recorded is :mod:`level1.stages.training`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The two candidates the pipeline trains, in the order reports list them.
CANDIDATES = ("custom", "automl")


def plain(value: Any) -> Any:
    """numpy scalars and arrays, and Paths, as plain Python values (JSON, MLflow params)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def _json_default(value: Any) -> Any:
    converted = plain(value)
    if converted is value:
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")
    return converted


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON (parents created), so that git diffs stay readable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON report written by an earlier stage."""
    return json.loads(Path(path).read_text())


def fraud_scores(model: Any, df: pd.DataFrame) -> np.ndarray:
    """P(fraud) for every row of ``df`` (only the feature columns are passed to the model)."""
    from fraudops.split import xy

    x, _ = xy(df)
    return model.predict_proba(x)[:, 1]
