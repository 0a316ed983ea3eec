"""The model factory: one estimator, one way of handling the 1-in-580 imbalance, one pipeline.

Every model is an :class:`imblearn.pipeline.Pipeline` with three named steps:

``features``
    :func:`fraudops.features.make_preprocessor` (scaled V columns, log amount, hour of day).
``resample``
    SMOTE or random under-sampling, or ``"passthrough"``. imblearn's pipeline runs samplers
    during ``fit`` only: ``predict_proba`` scores every row it is given, and a cross-validation
    or search over the whole pipeline resamples each training fold, never a validation fold.
    Resampling outside the pipeline (before the split) would leak synthetic copies of
    validation frauds into training and inflate every score.
``model``
    the classifier; with ``imbalance="class_weight"`` it weights frauds up instead.

Search parameters therefore read ``model__C``, ``resample__sampling_strategy`` and so on
(:func:`search_space`).
"""

from __future__ import annotations

from typing import Any

from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from lightgbm import LGBMClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from .features import make_preprocessor

ESTIMATORS = ("logreg", "random_forest", "hist_gb", "lightgbm")
IMBALANCE = ("none", "class_weight", "smote", "undersample")
#: The pipeline's steps, in order; parameter keys start with them (``model__C``).
STEPS = ("features", "resample", "model")

#: Defaults chosen to train on the full 285k rows in a minute or so on 2 cores. The boosted
#: models are regularised (small trees, shrinkage; LightGBM also subsamples rows and columns):
#: a few hundred frauds are easy to memorise.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "logreg": {"C": 1.0, "max_iter": 1000},
    # Each tree bootstraps a quarter of the rows: four times faster on the full data (about a
    # minute on 2 cores instead of five), and 200 trees still see every row.
    "random_forest": {"n_estimators": 200, "max_samples": 0.25, "n_jobs": 2},
    # No early stopping: its internal 10 % holdout would hold only a few dozen frauds, and a
    # fixed number of iterations keeps runs comparable.
    "hist_gb": {
        "max_iter": 200,
        "learning_rate": 0.05,
        "max_leaf_nodes": 15,
        "l2_regularization": 1.0,
        "early_stopping": False,
    },
    "lightgbm": {
        "n_estimators": 200,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.5,
        "n_jobs": 2,
        "verbose": -1,
    },
}

#: Resampling keeps the majority class at ten times the minority: enough fraud to learn
#: from, few enough synthetic rows (SMOTE) or dropped legitimate rows (under-sampling) to
#: stay fast and keep most of the information.
DEFAULT_SAMPLING_STRATEGY = 0.1

_CLASSES = {
    "logreg": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "hist_gb": HistGradientBoostingClassifier,
    "lightgbm": LGBMClassifier,
}

_SEARCH_SPACES: dict[str, dict[str, list[Any]]] = {
    "logreg": {"model__C": [0.001, 0.01, 0.1, 1.0, 10.0]},
    "random_forest": {
        "model__n_estimators": [100, 200, 400],
        "model__min_samples_leaf": [1, 3, 10],
        "model__max_features": ["sqrt", 0.3, 0.5],
        "model__max_samples": [0.1, 0.25, 0.5],
    },
    "hist_gb": {
        "model__learning_rate": [0.03, 0.1, 0.2],
        "model__max_iter": [100, 200, 400],
        "model__max_leaf_nodes": [15, 31, 63],
        "model__l2_regularization": [0.0, 1.0, 10.0],
    },
    "lightgbm": {
        "model__learning_rate": [0.02, 0.05, 0.1],
        "model__n_estimators": [100, 200, 400],
        "model__num_leaves": [15, 31, 63],
        "model__min_child_samples": [10, 20, 50],
    },
}


def _check_choice(kind: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose from {', '.join(choices)}")


def _sampler(imbalance: str, seed: int) -> Any:
    """The ``resample`` step: a sampler, or ``"passthrough"`` for none/class weights."""
    if imbalance == "smote":
        return SMOTE(sampling_strategy=DEFAULT_SAMPLING_STRATEGY, random_state=seed)
    if imbalance == "undersample":
        return RandomUnderSampler(sampling_strategy=DEFAULT_SAMPLING_STRATEGY, random_state=seed)
    return "passthrough"


def make_model(
    estimator: str, imbalance: str = "class_weight", *, seed: int = 0, **params: Any
) -> Pipeline:
    """Build an unfitted ``[features, resample, model]`` pipeline.

    Args:
        estimator: one of :data:`ESTIMATORS`.
        imbalance: one of :data:`IMBALANCE`: ``"none"``, ``"class_weight"`` (frauds weighted
            up, ``class_weight="balanced"``), ``"smote"`` (synthetic frauds up to 1 per 10
            legitimate rows) or ``"undersample"`` (legitimate rows dropped down to 10 per fraud).
        seed: random seed of the model and the sampler.
        **params: overrides. Plain names go to the classifier (``C=0.1``,
            ``n_estimators=300``); names with a step prefix are set on the pipeline as a
            search would (``model__C=0.1``, ``resample__sampling_strategy=0.5``).

    Returns:
        The pipeline; fit it on ``xy(df)`` and score with ``predict_proba(X)[:, 1]``.

    Raises:
        ValueError: unknown estimator or imbalance (the choices are listed), or a parameter
            the step does not have (scikit-learn lists the valid ones).
    """
    _check_choice("estimator", estimator, ESTIMATORS)
    _check_choice("imbalance", imbalance, IMBALANCE)
    settings: dict[str, Any] = {**DEFAULT_PARAMS[estimator], "random_state": seed}
    if imbalance == "class_weight":
        settings["class_weight"] = "balanced"
    pipeline = Pipeline(
        [
            ("features", make_preprocessor()),
            ("resample", _sampler(imbalance, seed)),
            ("model", _CLASSES[estimator](**settings)),
        ]
    )
    overrides = {key if "__" in key else f"model__{key}": value for key, value in params.items()}
    if imbalance in ("none", "class_weight"):
        stray = sorted(k for k in overrides if k.startswith("resample__"))
        if stray:
            raise ValueError(
                f"{stray} given but imbalance={imbalance!r} has no sampler; "
                "use imbalance='smote' or 'undersample'"
            )
    pipeline.set_params(**overrides)
    return pipeline


def search_space(estimator: str, imbalance: str | None = None) -> dict[str, list[Any]]:
    """A small grid of the parameters that matter most, keyed for the pipeline.

    Sized for a randomised search of a dozen or two candidates (the full grid is large).

    Args:
        estimator: one of :data:`ESTIMATORS`.
        imbalance: when ``"smote"`` or ``"undersample"``, the sampler's target ratio is
            searched too.

    Returns:
        A mapping such as ``{"model__C": [...]}`` for
        :class:`~sklearn.model_selection.RandomizedSearchCV` or ``GridSearchCV``.
    """
    _check_choice("estimator", estimator, ESTIMATORS)
    space = {key: list(values) for key, values in _SEARCH_SPACES[estimator].items()}
    if imbalance is not None:
        _check_choice("imbalance", imbalance, IMBALANCE)
        if imbalance in ("smote", "undersample"):
            space["resample__sampling_strategy"] = [0.05, 0.1, 0.3]
    return space
