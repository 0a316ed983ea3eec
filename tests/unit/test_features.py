"""The feature step: shapes, values, column order and the hour wrap-around."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fraudops.features import HourOfDay, LogAmount, make_preprocessor
from fraudops.schema import AMOUNT, FEATURES, TIME, V_COLUMNS


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """200 rows of the FEATURES columns with heavy-tailed V values and amounts."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.standard_t(3, size=(200, len(V_COLUMNS))), columns=list(V_COLUMNS))
    df[TIME] = rng.uniform(0, 172_800, 200)
    df[AMOUNT] = rng.lognormal(3, 1.5, 200)
    return df[list(FEATURES)]


def test_log_amount_is_log1p_and_names_its_column():
    amounts = pd.DataFrame({AMOUNT: [0.0, 1.0, 99.0, 25_691.16]})
    step = LogAmount().fit(amounts)
    np.testing.assert_allclose(step.transform(amounts)[:, 0], np.log1p(amounts[AMOUNT]))
    assert list(step.get_feature_names_out()) == ["log_Amount"]


def test_log_amount_stays_finite_on_negative_amounts():
    out = LogAmount().fit_transform(pd.DataFrame({AMOUNT: [-5.0, 10.0]}))
    assert np.isfinite(out).all()
    assert out[0, 0] == 0.0


def test_hour_of_day_wraps_around_midnight():
    times = pd.DataFrame({TIME: [23.5 * 3600, 0.5 * 3600, 11.5 * 3600, 12.5 * 3600]})
    points = HourOfDay().fit_transform(times)
    across_midnight = np.linalg.norm(points[0] - points[1])
    across_noon = np.linalg.norm(points[2] - points[3])
    assert across_midnight == pytest.approx(across_noon)
    # Six hours apart is a quarter of the circle: far more than one hour apart.
    assert np.linalg.norm(points[0] - points[2]) > 5 * across_midnight


def test_hour_of_day_is_the_same_on_every_day():
    times = pd.DataFrame({TIME: [3 * 3600.0, 3 * 3600.0 + 86_400, 3 * 3600.0 + 2 * 86_400]})
    points = HourOfDay().fit_transform(times)
    np.testing.assert_allclose(points, np.repeat(points[:1], 3, axis=0), atol=1e-12)


def test_hour_of_day_refuses_more_than_one_column():
    with pytest.raises(ValueError, match="exactly one column"):
        HourOfDay().fit(pd.DataFrame({TIME: [1.0], AMOUNT: [2.0]}))


def test_preprocessor_outputs_floats_with_named_columns(frame):
    pre = make_preprocessor().fit(frame)
    out = pre.transform(frame)
    names = list(pre.get_feature_names_out())
    assert out.shape == (len(frame), len(names)) == (200, 31)
    assert out.dtype == np.float64 and np.isfinite(out).all()
    assert names == [*V_COLUMNS, "log_Amount", "hour_sin", "hour_cos"]
    # The raw Time never reaches a model: it only says how late in the file a row is.
    assert TIME not in names


def test_preprocessor_scales_v_columns_robustly(frame):
    out = make_preprocessor().fit(frame).transform(frame)
    v = out[:, : len(V_COLUMNS)]
    np.testing.assert_allclose(np.median(v, axis=0), 0.0, atol=1e-9)
    q75, q25 = np.percentile(v, [75, 25], axis=0)
    np.testing.assert_allclose(q75 - q25, 1.0, atol=1e-9)


def test_preprocessor_ignores_column_order_and_extra_columns(frame):
    pre = make_preprocessor().fit(frame)
    shuffled = frame[list(reversed(frame.columns))].assign(Class=0)
    np.testing.assert_array_equal(pre.transform(shuffled), pre.transform(frame))


def test_preprocessor_names_a_missing_column(frame):
    pre = make_preprocessor().fit(frame)
    with pytest.raises(ValueError, match="V14"):
        pre.transform(frame.drop(columns="V14"))
