"""Behavioural tests: what a trained fraud model must do, beyond one number on a test set.

Trained on generated data (``small_data``: the generator plants the real data's fraud
signature, e.g. frauds have much lower V14, V12, V10 and V17), each model must

* beat a no-skill baseline by a wide margin in average precision;
* score a transaction higher when it moves toward the fraud signature, and lower when a
  fraud moves away from it (directional expectations);
* barely react to features that carry no fraud signal, and not at all to the date
  (invariances): the same transaction on another day at the same hour gets the same score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fraudops.models import make_model
from fraudops.schema import DAY_SECONDS, TIME
from fraudops.split import Split, time_split, xy
from sklearn.dummy import DummyClassifier
from sklearn.metrics import average_precision_score

#: The columns where frauds sit far below legitimate rows (real data: 6-7 standard deviations).
FRAUD_SIGNATURE = ["V14", "V12", "V10", "V17"]
#: Columns whose distribution barely differs between the classes.
NO_SIGNAL = ["V13", "V15"]

#: A linear model and the Level 0 default (gradient-boosted trees), both class-weighted.
MODELS = [("logreg", "class_weight"), ("hist_gb", "class_weight")]


@pytest.fixture(scope="module")
def parts(small_data: pd.DataFrame) -> Split:
    return time_split(small_data)


@pytest.fixture(scope="module", params=MODELS, ids=lambda m: "-".join(m))
def model(request, parts: Split):
    estimator, imbalance = request.param
    return make_model(estimator, imbalance, seed=0).fit(*xy(parts.train))


def score(model, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


def test_beats_the_no_skill_baseline_by_a_wide_margin(model, parts):
    x_train, y_train = xy(parts.train)
    x_test, y_test = xy(parts.test)
    dummy = DummyClassifier(strategy="prior").fit(x_train, y_train)
    baseline = average_precision_score(y_test, score(dummy, x_test))
    assert average_precision_score(y_test, score(model, x_test)) > baseline + 0.5


def test_moving_toward_the_fraud_signature_raises_the_score(model, parts):
    x_test, y_test = xy(parts.test)
    legit = x_test[y_test == 0]
    before = score(model, legit)
    # Three legitimate standard deviations down: about halfway to the fraud means.
    after = score(model, legit.assign(**{c: legit[c] - 3.0 for c in FRAUD_SIGNATURE}))
    assert (after >= before).mean() > 0.95
    assert after.mean() > before.mean() + 0.2


def test_moving_a_fraud_away_from_the_signature_lowers_the_score(model, parts):
    x_test, y_test = xy(parts.test)
    fraud = x_test[y_test == 1]
    before = score(model, fraud)
    after = score(model, fraud.assign(**{c: fraud[c] + 5.0 for c in FRAUD_SIGNATURE}))
    assert (after <= before).mean() > 0.8
    assert after.mean() < before.mean() - 0.1


def test_a_small_change_in_signal_free_features_barely_moves_the_score(model, parts):
    x_test, _ = xy(parts.test)
    before = score(model, x_test)
    after = score(model, x_test.assign(**{c: x_test[c] + 0.05 for c in NO_SIGNAL}))
    assert np.quantile(np.abs(after - before), 0.99) < 0.01


def test_the_same_hour_on_another_day_gets_the_same_score(model, parts):
    x_test, _ = xy(parts.test)
    later = x_test.assign(**{TIME: x_test[TIME] + DAY_SECONDS})
    np.testing.assert_allclose(score(model, later), score(model, x_test), atol=1e-9)


#: The share of the test part's alerts that a 1 % shift of every score may change at the chosen
#: threshold (params.yaml, section ``threshold``: margin 0.01), for tree models.
SHIFT = 0.01
MAX_CHANGED_ALERTS = 0.05


def changed(scores: np.ndarray, threshold: float, shift: float) -> int:
    """Decisions that differ when every score is multiplied by 1 + shift or by 1 - shift."""
    flagged = scores >= threshold
    return max(
        int((flagged != (scores * (1 + shift) >= threshold)).sum()),
        int((flagged != (scores * (1 - shift) >= threshold)).sum()),
    )


def test_a_one_percent_shift_of_every_score_barely_moves_the_decisions(model, parts):
    from fraudops.thresholds import choose_threshold

    x_valid, y_valid = xy(parts.valid)
    valid = score(model, x_valid)
    rule = {"strategy": "min_precision", "min_precision": 0.8}
    on_a_score = choose_threshold(y_valid, valid, **rule)
    stable = choose_threshold(y_valid, valid, margin=SHIFT, **rule)
    x_test, _ = xy(parts.test)
    test = score(model, x_test)

    # The plain rule sits on the lowest-scored fraud it catches: the smallest shift flips it.
    assert changed(valid, on_a_score, SHIFT) >= 1
    # The stable threshold never does worse, on the rows it was chosen on or on new ones.
    assert changed(valid, stable, SHIFT) <= changed(valid, on_a_score, SHIFT)
    assert changed(test, stable, SHIFT) <= changed(test, on_a_score, SHIFT)
    if model.named_steps["model"].__class__.__name__ == "LogisticRegression":
        # Its class-weighted scores crowd just below 1, where a 1 % shift is wider than any gap
        # between them (measured: 2 of 22 validation alerts change at either threshold).
        return
    # Trees leave gaps: no validation decision changes, and at most the stated share of the
    # alerts on rows the threshold has never seen.
    assert changed(valid, stable, SHIFT) == 0
    assert changed(test, stable, SHIFT) <= MAX_CHANGED_ALERTS * int((test >= stable).sum())
