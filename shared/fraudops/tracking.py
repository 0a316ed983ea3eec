"""MLflow tracking: where the store lives, and logging models and datasets the same way everywhere.

State lives where configuration points, never only in a job's workspace. ``FRAUDOPS_STATE_DIR``
(default ``var`` in the working directory) holds the embedded store: ``mlflow.db`` (SQLite runs and
registry) and ``mlartifacts/`` (model files). ``MLFLOW_TRACKING_URI`` switches to a server
(``http://mlflow:5000``, PostgreSQL...) without a code change.

Nothing happens at import time: :func:`setup` (or :func:`connect`) points MLflow at the store when a
stage needs it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mlflow takes a couple of seconds to import: only when a function needs it
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.models.model import ModelInfo

#: Environment variable naming the state directory (registry, artifacts, promotion log...).
STATE_DIR_ENV = "FRAUDOPS_STATE_DIR"
DEFAULT_STATE_DIR = "var"
DEFAULT_EXPERIMENT = "fraud-detection"

#: Packages whose types a logged model may contain. skops refuses to load any type it was not
#: told to trust; we trust exactly the types a model uses, and only from these packages, so a
#: model that drags in something unexpected fails at logging time instead of at serving time.
TRUSTED_PACKAGES = (
    "sklearn",
    "imblearn",
    "lightgbm",
    "flaml",
    "fraudops",
    "numpy",
    "scipy",
    "collections",
)

#: URI schemes whose server decides where artifacts go (we must not impose a local path there).
_SERVER_SCHEMES = ("http", "https", "databricks")


def state_dir() -> Path:
    """The state directory: ``$FRAUDOPS_STATE_DIR``, else ``var`` in the working directory.

    The path is made absolute so that a later ``chdir`` cannot move the store. It is not created
    here (see :func:`connect`).
    """
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).expanduser().resolve()


def tracking_uri() -> str:
    """The tracking and registry URI: ``$MLFLOW_TRACKING_URI``, else SQLite in the state directory.

    Note that :func:`connect` exports the URI it uses as ``MLFLOW_TRACKING_URI`` (MLflow does this
    so that child processes such as ``mlflow models serve`` inherit it); after that, changing
    ``FRAUDOPS_STATE_DIR`` in the same process has no effect unless that variable is removed too.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def _is_server(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in _SERVER_SCHEMES


def connect() -> MlflowClient:
    """Point MLflow's tracking and registry URIs at the configured store; return a client.

    For the embedded store the state directory is created, since SQLite cannot create the
    folder its database lives in.
    """
    import mlflow

    uri = tracking_uri()
    if not _is_server(uri):
        state_dir().mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def setup(experiment: str = DEFAULT_EXPERIMENT) -> str:
    """Connect to the store and make ``experiment`` the active experiment, creating it if needed.

    A new experiment keeps its artifacts in ``<state_dir>/mlartifacts`` (an absolute ``file://``
    URI, so runs started from any working directory find them), unless the store is a server,
    which then decides where artifacts go.

    Args:
        experiment: the experiment name.

    Returns:
        The experiment id.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = connect()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        location = None
        if not _is_server(tracking_uri()):
            location = (state_dir() / "mlartifacts").as_uri()
        try:
            client.create_experiment(experiment, artifact_location=location)
        except MlflowException as exc:
            # Another process (a parallel stage) created it first: use theirs.
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        found = client.get_experiment_by_name(experiment)
    mlflow.set_experiment(experiment_id=found.experiment_id)
    return found.experiment_id


def git_commit() -> str | None:
    """The commit checked out in the working directory, or ``None`` outside a git work tree."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def file_md5(path: str | Path) -> str:
    """The MD5 hex digest of a file (the hash DVC uses, so runs and ``dvc.lock`` agree)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def skops_types(model: Any) -> list[str]:
    """The types skops would refuse to load in ``model`` unless trusted: exactly the ones it uses.

    Raises:
        ValueError: a type comes from a package outside :data:`TRUSTED_PACKAGES`.
    """
    import skops.io

    types = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [t for t in types if t.split(".", 1)[0] not in TRUSTED_PACKAGES]
    if foreign:
        raise ValueError(
            f"the model contains type(s) {foreign} from outside the trusted packages "
            f"{list(TRUSTED_PACKAGES)}; a served model could not load them safely"
        )
    return types


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    """Module name -> installed distributions (scanning them takes about a second: once)."""
    from importlib.metadata import packages_distributions

    return packages_distributions()


def pip_requirements(types: list[str]) -> list[str]:
    """Pinned requirements of a model made of ``types``: their packages, plus what loading needs.

    MLflow would otherwise infer them by importing the model in a subprocess, which takes about
    10 s per ``log_model``; the types already say which packages the model needs.
    """
    from importlib.metadata import version

    modules = {"sklearn", "skops", "pandas", "numpy"} | {t.split(".", 1)[0] for t in types}
    distributions = _distributions()
    # Modules of the standard library (``collections``) belong to no distribution.
    names = {d for m in modules for d in distributions.get(m, [])[:1]}
    return sorted(f"{d}=={version(d)}" for d in names)


def log_model(model: Any, *, X_example: pd.DataFrame, name: str = "model") -> ModelInfo:
    """Log a fitted classifier pipeline to the active run (or as a free model when none is active).

    The model is saved with skops, trusting exactly the types it uses, with a signature inferred
    from ``X_example`` and the model's ``predict_proba`` output and pinned requirements (see
    :func:`pip_requirements`). The pyfunc flavour calls
    ``predict_proba``, so ``mlflow models serve`` and BentoML return probabilities, not labels.

    Args:
        model: a fitted estimator with ``predict_proba`` on FEATURES DataFrames.
        X_example: a few rows of input (FEATURES columns); the first five become the input example.
        name: the model's name within the run.

    Returns:
        MLflow's ``ModelInfo`` (``.model_uri`` is what :func:`fraudops.registry.register` takes).
    """
    import mlflow.sklearn
    from mlflow.models import infer_signature

    example = X_example.head(5)
    signature = infer_signature(example, model.predict_proba(example))
    types = skops_types(model)
    return mlflow.sklearn.log_model(
        model,
        name=name,
        signature=signature,
        input_example=example,
        pyfunc_predict_fn="predict_proba",
        skops_trusted_types=types,
        pip_requirements=pip_requirements(types),
    )


def log_dataset(
    df: pd.DataFrame, *, source: str, name: str, context: str = "training"
) -> PandasDataset:
    """Record a dataset (its digest, schema and source) as an input of the active run.

    Args:
        df: the data as the run used it.
        source: where it came from (a path or URI; with DVC, the tracked file).
        name: a short name shown in the MLflow UI (``train``, ``holdout``...).
        context: the role of the data in the run (``training``, ``validation``, ``test``).

    Returns:
        The logged MLflow dataset.
    """
    import mlflow

    from fraudops.schema import TARGET

    with warnings.catch_warnings():
        # Noise for a dataset: MLflow registers its local source class twice (so a path "can be
        # interpreted in multiple ways"), and hints about integer columns in *model* signatures.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        dataset = mlflow.data.from_pandas(
            df, source=source, name=name, targets=TARGET if TARGET in df.columns else None
        )
        _schema_from_head(dataset, df)
        mlflow.log_input(dataset, context=context)  # the schema is inferred here
    return dataset


def _schema_from_head(dataset: PandasDataset, df: pd.DataFrame) -> None:
    """Give ``dataset`` the schema of ``df`` inferred from its first rows, when that is exact.

    MLflow decides whether a column is "required" (has no missing value) by testing every value
    in a Python loop. On the ~200,000 training rows of a full-size run that made each training
    stage's MLflow logging (its "log the ... to MLflow" step) 13-14 s; with this, about 6 s. Column types come from the dtypes, so when no value is missing (checked here,
    vectorised) the schema of the first rows is the schema of all of them. Otherwise, or when
    MLflow's ``schema`` is no longer a cached property, MLflow infers it the slow way.
    """
    import functools

    from mlflow.models import infer_signature

    cached = isinstance(type(dataset).__dict__.get("schema"), functools.cached_property)
    if cached and len(df) > 1_000 and not df.isna().to_numpy().any():
        dataset.__dict__["schema"] = infer_signature(df.head(1_000)).inputs
