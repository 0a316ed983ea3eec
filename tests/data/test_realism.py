"""How close the synthetic generator is to the genuine rows (skipped without the real sample).

Tolerances are stated per check. The "train on synthetic, test on real" floors sit a margin
below what was measured (60,000 rows at 1 % fraud, seeds 0 and 1: logistic regression 0.77
and 0.76, gradient boosting 0.80 and 0.81 weighted AP); ``benchmarks/realism.py`` measures it at full size.
The two-sample test scores the real rows the calibration never saw, as the benchmark does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fraudops.data import generate
from fraudops.data.generate import held_out
from fraudops.schema import DAY_SECONDS, V_COLUMNS
from scipy.stats import trim_mean
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.realism import c2st

pytestmark = pytest.mark.real

#: Features whose class means differ most in the real data (DESIGN.md).
SIGNATURE = ("V14", "V12", "V10", "V17", "V3", "V4", "V11", "V16", "V9", "V7")


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return generate(rows=60_000, seed=0, fraud_rate=0.01)


@pytest.mark.parametrize("cls", [0, 1], ids=["legit", "fraud"])
def test_class_conditional_means_and_spreads(synthetic, real_sample, cls):
    gen = synthetic[synthetic["Class"] == cls]
    real = real_sample[real_sample["Class"] == cls]
    for col in V_COLUMNS:
        # Spread as the interquartile range: the sample std of heavy-tailed columns is ruled by
        # a handful of outliers, most of all among 473 distinct frauds.
        spread = real[col].quantile(0.75) - real[col].quantile(0.25)
        gen_spread = gen[col].quantile(0.75) - gen[col].quantile(0.25)
        # Means within 25 % of the real IQR, 5 % trimmed at each end: a plain mean of 600
        # generated frauds is ruled by a few draws from tails that reach +-40, so it moves by a
        # third of an IQR from one seed to the next (measured over seeds 0-5: trimmed means
        # within 0.17 IQR). IQRs within 30 %.
        gap = trim_mean(gen[col], 0.05) - trim_mean(real[col], 0.05)
        assert abs(gap) < 0.25 * spread, col
        assert gen_spread == pytest.approx(spread, rel=0.3), col


def test_fraud_signature_direction(synthetic, real_sample):
    for col in SIGNATURE:
        gen_gap = synthetic.groupby("Class")[col].mean().diff().iloc[-1]
        real_gap = real_sample.groupby("Class")[col].mean().diff().iloc[-1]
        assert np.sign(gen_gap) == np.sign(real_gap), col
        assert abs(gen_gap) == pytest.approx(abs(real_gap), rel=0.25), col


def test_amount_shapes(synthetic, real_sample):
    for cls in (0, 1):
        gen = synthetic.loc[synthetic["Class"] == cls, "Amount"]
        real = real_sample.loc[real_sample["Class"] == cls, "Amount"]
        # Half the generated amounts lie below the real median. (Not the medians themselves: the
        # fraud quantiles rise steeply around it, 2.26 at the 40th percentile and 40.5 at the
        # 60th, so 600 generated frauds put their median anywhere in between.) And the share of
        # tiny "test" charges.
        assert (gen <= real.median()).mean() == pytest.approx(0.5, abs=0.08)
        assert (gen <= 1.0).mean() == pytest.approx((real <= 1.0).mean(), abs=0.12)
    legit = synthetic[synthetic["Class"] == 0]
    # The real data's strongest Amount correlation among legitimate rows: V2, negative.
    assert legit["Amount"].corr(legit["V2"], method="spearman") < -0.3


def test_day_night_cycle(synthetic, real_sample):
    def night_share(df):
        hours = (df["Time"] % DAY_SECONDS) // 3_600
        return hours.between(1, 5).mean()

    legit = synthetic[synthetic["Class"] == 0]
    real_legit = real_sample[real_sample["Class"] == 0]
    assert night_share(legit) == pytest.approx(night_share(real_legit), abs=0.03)


def _x(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["Class", "Time"]).assign(Amount=lambda d: np.log1p(d["Amount"]))


@pytest.mark.parametrize(
    ("name", "model", "floor"),
    [
        (
            "logistic regression",
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000)),
            0.70,
        ),
        ("gradient boosting", HistGradientBoostingClassifier(max_iter=100, random_state=0), 0.72),
    ],
)
def test_train_on_synthetic_test_on_real(synthetic, real_sample, real_weights, name, model, floor):
    model.fit(_x(synthetic), synthetic["Class"])
    scores = model.predict_proba(_x(real_sample))[:, 1]
    ap = average_precision_score(real_sample["Class"], scores, sample_weight=real_weights)
    assert ap >= floor, f"{name}: weighted AP on real rows {ap:.3f} < {floor}"


#: The two-sample test's ROC-AUC on the fixture (seed 0) against the held-out real rows, as
#: measured, and the goal (benchmarks/results/realism.md). The check allows 0.02 above the
#: measured figure, never the goal: the benchmark's seeds 0-2 at full size spread over
#: 0.696-0.716 (legit) and 0.609-0.639 (151 held-out frauds).
C2ST_MEASURED = {"legit": 0.699, "fraud": 0.617}
C2ST_GOAL = 0.75


@pytest.mark.parametrize(("cls", "name"), [(0, "legit"), (1, "fraud")])
def test_two_sample_test_on_held_out_rows(synthetic, real_sample, cls, name):
    real = real_sample.drop_duplicates()
    test = real[held_out(real) & (real["Class"] == cls)]
    auc = c2st(synthetic[synthetic["Class"] == cls], test, seed=0)
    bound = min(C2ST_MEASURED[name] + 0.02, C2ST_GOAL)
    assert auc <= bound, f"{name}: discriminator ROC-AUC {auc:.3f} > {bound:.3f}"
