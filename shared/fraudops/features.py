"""Feature engineering: what the model sees instead of the raw columns.

Three small choices, each for a reason the data explains:

* ``Amount`` is heavy-tailed (median 22, max 25,691), so it enters as ``log1p(Amount)``.
* ``Time`` counts seconds since the first transaction; its absolute value never repeats in
  production, but the hour of day does (fraud rate peaks at night). It enters as a point on a
  circle (sine and cosine of the hour) so that 23:59 sits next to 00:00.
* ``V1``..``V28`` are PCA components with heavy tails; a robust scaler (median and IQR) puts
  them on one scale without letting the extreme rows set it. Tree models do not need it,
  linear models and SMOTE's nearest neighbours do.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from .schema import AMOUNT, DAY_SECONDS, TIME, V_COLUMNS


class LogAmount(TransformerMixin, BaseEstimator):
    """``log1p`` of each input column, for non-negative, heavy-tailed amounts.

    Negative values (refunds, bad data) are clipped to 0 first, so the output is always finite;
    the validator is where negative amounts are reported.
    """

    def fit(self, X, y=None):  # noqa: N803 (scikit-learn's argument names)
        """Remember the number and names of the input columns; nothing is learned."""
        validate_data(self, X, reset=True, dtype="numeric")
        return self

    def transform(self, X):  # noqa: N803
        """Return ``log1p(max(X, 0))`` as a float array of the same shape."""
        check_is_fitted(self, "n_features_in_")
        values = validate_data(self, X, reset=False, dtype=np.float64)
        return np.log1p(np.clip(values, 0.0, None))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``log_<column>`` for each input column."""
        check_is_fitted(self, "n_features_in_")
        names = _input_names(self, input_features)
        return np.asarray([f"log_{name}" for name in names], dtype=object)


class HourOfDay(TransformerMixin, BaseEstimator):
    """The hour of day of one ``Time`` column (seconds; 0 is midnight) as a point on a circle.

    Outputs two columns, ``hour_sin`` and ``hour_cos``. Unlike a plain 0-24 hour, the distance
    between 23:30 and 00:30 is as small as between 11:30 and 12:30.
    """

    def fit(self, X, y=None):  # noqa: N803
        """Check there is exactly one input column; nothing is learned."""
        validate_data(self, X, reset=True, dtype="numeric")
        if self.n_features_in_ != 1:
            raise ValueError(
                f"HourOfDay takes exactly one column (the Time in seconds), got {self.n_features_in_}"
            )
        return self

    def transform(self, X):  # noqa: N803
        """Return an ``(n, 2)`` float array: sine and cosine of the angle of the time of day."""
        check_is_fitted(self, "n_features_in_")
        seconds = validate_data(self, X, reset=False, dtype=np.float64)[:, 0]
        angle = 2.0 * np.pi * np.mod(seconds, DAY_SECONDS) / DAY_SECONDS
        return np.column_stack([np.sin(angle), np.cos(angle)])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``hour_sin`` and ``hour_cos``."""
        check_is_fitted(self, "n_features_in_")
        return np.asarray(["hour_sin", "hour_cos"], dtype=object)


def _input_names(transformer: BaseEstimator, input_features) -> list[str]:
    """The input column names a fitted transformer saw, or ``x0, x1, ...`` for arrays."""
    if input_features is not None:
        return [str(name) for name in input_features]
    if hasattr(transformer, "feature_names_in_"):
        return [str(name) for name in transformer.feature_names_in_]
    return [f"x{i}" for i in range(transformer.n_features_in_)]


def make_preprocessor() -> ColumnTransformer:
    """The feature step of every model: scaled V columns, log amount, hour of day.

    The transformer selects its columns by name, so it accepts a DataFrame with the
    :data:`fraudops.schema.FEATURES` columns in any order (extra columns such as ``Class`` are
    ignored) and returns a dense float array with 31 columns:
    ``V1``..``V28``, ``log_Amount``, ``hour_sin``, ``hour_cos`` (see ``get_feature_names_out``).
    The raw ``Time`` is dropped on purpose: a model must not learn "late in the file".
    """
    return ColumnTransformer(
        [
            ("v", RobustScaler(), list(V_COLUMNS)),
            # Scaled after the log so that a linear model sees it on the V columns' scale.
            ("amount", Pipeline([("log", LogAmount()), ("scale", RobustScaler())]), [AMOUNT]),
            ("hour", HourOfDay(), [TIME]),
        ],
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )
