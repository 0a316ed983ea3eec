"""Custom search and AutoML get one budget, and each keeps to it.

"Custom ML against AutoML" compares methods only when both had the same compute. Both training
stages read the one ``budget`` section of ``params.yaml`` (seconds, trials, folds); neither
stage's own section may carry a budget of its own; each reports what it spent; and the
evaluate stage names no winner between candidates given different budgets.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from fraudops.budget import Budget, check_equal, configurations, random_search
from fraudops.models import make_model, search_space
from fraudops.params import ParamsError, from_section, load_params
from fraudops.split import time_split, xy

from level1.stages import train_automl, train_custom

ROOT = Path(__file__).resolve().parents[2]
SIDES = {"train_custom": train_custom, "train_automl": train_automl}


@pytest.fixture(scope="module")
def train(small_data: pd.DataFrame) -> pd.DataFrame:
    return time_split(small_data).train


def test_both_training_stages_take_their_budget_from_the_one_section():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = load_params(ROOT / "params.yaml")
    Budget(**params["budget"])  # the committed budget is valid
    for stage in SIDES:
        assert "budget" in stages[stage]["params"], f"{stage} does not depend on the budget"


@pytest.mark.parametrize(
    ("stage", "key", "value"),
    [
        ("train_custom", "n_iter", 50),
        ("train_custom", "cv_folds", 5),
        ("train_custom", "seconds", 600),
        ("train_automl", "time_budget", 600),
        ("train_automl", "max_iter", 50),
        ("train_automl", "cv_folds", 5),
    ],
)
def test_one_side_cannot_be_given_a_budget_of_its_own(stage, key, value):
    """Changing one side's budget alone is refused before anything trains, with the key named."""
    section = {**load_params(ROOT / "params.yaml")[stage], key: value}
    params_cls = {
        "train_custom": train_custom.TrainCustomParams,
        "train_automl": train_automl.TrainAutomlParams,
    }[stage]
    with pytest.raises(ParamsError, match=key):
        from_section(params_cls, section, stage)


def test_the_comparison_refuses_candidates_given_different_budgets():
    same = {"seconds": 60, "trials": 12, "cv_folds": 2}
    assert check_equal({"custom": same, "automl": dict(same)}) == same
    with pytest.raises(ValueError, match="unequal budgets.*custom.*automl"):
        check_equal({"custom": same, "automl": {**same, "seconds": 600}})
    with pytest.raises(ValueError, match="no budget recorded"):
        check_equal({"custom": same, "automl": None})


@pytest.mark.parametrize(("field", "value"), [("seconds", 0), ("trials", 0), ("cv_folds", 1)])
def test_a_budget_out_of_range_names_its_field(field, value):
    good = {"seconds": 10, "trials": 2, "cv_folds": 2}
    with pytest.raises(ParamsError, match=f"budget.*{field}"):
        Budget(**{**good, field: value})


CUSTOM = train_custom.TrainCustomParams("lightgbm", "class_weight", "random", 0)
AUTOML = train_automl.TrainAutomlParams(["lgbm", "lrl1"], 0)


def test_a_search_stops_at_its_trials_and_counts_its_fits(train):
    budget = Budget(seconds=600, trials=3, cv_folds=2)
    for name, stage, params in (("custom", train_custom, CUSTOM), ("automl", train_automl, AUTOML)):
        spent = stage.fit(train, params, budget).spent
        assert spent.trials == 3, name
        assert spent.fits == 6, name
        assert spent.stopped_by == "trials", name


def test_a_search_stops_at_its_seconds_on_both_sides(train):
    """One second for at most 500 trials: the clock, not the count, ends both searches."""
    budget = Budget(seconds=1, trials=500, cv_folds=2)
    custom = train_custom.fit(train, CUSTOM, budget).spent
    automl = train_automl.fit(train, AUTOML, budget).spent
    for name, spent in (("custom", custom), ("automl", automl)):
        assert spent.stopped_by == "seconds", name
        assert 1 <= spent.trials < 500, name


def test_a_grid_smaller_than_the_budget_is_tried_whole(small_data):
    x, y = xy(small_data.iloc[::4])
    space = search_space("logreg")
    assert len(configurations(space, search="grid", trials=50, seed=0)) == 5
    result = random_search(
        make_model("logreg", "class_weight"),
        space,
        x,
        y,
        budget=Budget(seconds=600, trials=50, cv_folds=2),
        search="grid",
    )
    assert result.spent.trials == 5
    assert result.spent.stopped_by == "exhausted"
    assert result.best_params in configurations(space, search="grid", trials=50, seed=0)
