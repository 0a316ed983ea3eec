"""The registry and the promotion gate against a real MLflow store (SQLite in a temporary folder).

One store serves the whole module: creating its tables and logging the first model take
seconds. The ``history`` fixture plays a registry's life once; the tests then read what it left:

1. v1, a model trained on shuffled labels, meets no champion: promoted as the first model;
2. v2, a real model, beats it on the holdout: promoted;
3. v3, another shuffled-label model, is clearly worse: refused, the champion stays v2;
4. a rollback gives @champion back to v1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing

import mlflow
import numpy as np
import pandas as pd
import pytest
from fraudops import gate, registry, tracking
from fraudops.cli import CommandError
from fraudops.commands import registry as registry_command
from fraudops.metrics import evaluate
from fraudops.models import ESTIMATORS, make_model
from fraudops.schema import TARGET
from fraudops.split import time_split, xy
from threadpoolctl import threadpool_limits

RULE = gate.GateRule(ap_tolerance=0.01, max_recall_drop=0.05)
# Small and fast models: the registry, not the model, is under test. One thread each: tiny fits
# gain nothing from threads, and OpenMP threads crawl when the machine is busy.
FAST = {
    "logreg": {},
    "random_forest": {"n_estimators": 20, "n_jobs": 1},
    "hist_gb": {"max_iter": 20},
    "lightgbm": {"n_estimators": 20, "n_jobs": 1},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An empty state directory (registry, artifacts, promotion log) for this module."""
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(tracking.STATE_DIR_ENV, str(state))
        # MLflow exports the URIs it is given; set-then-delete makes monkeypatch restore them.
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            mp.setenv(name, "")
            mp.delenv(name)
        tracking.setup("registry-tests")
        yield state
        mlflow.set_tracking_uri(None)  # leave no global pointing at a deleted folder


@pytest.fixture(scope="module")
def parts(small_data: pd.DataFrame):
    return time_split(small_data)


def train(parts, *, shuffled: bool = False, seed: int = 0, estimator: str = "logreg"):
    """Fit a model (on shuffled labels when asked: it then ranks at random).

    Returns the model, its threshold and its validation figures. The threshold is an alert
    budget, the top 1 % of validation scores, so that recall compares the models' ranking
    rather than the luck of a threshold search on random scores.
    """
    train_df = parts.train
    if shuffled:
        labels = np.random.default_rng(seed).permutation(train_df[TARGET].to_numpy())
        train_df = train_df.assign(**{TARGET: labels})
    model = make_model(estimator, "class_weight", seed=seed, **FAST[estimator])
    model.fit(*xy(train_df))
    X_valid, y_valid = xy(parts.valid)
    scores = model.predict_proba(X_valid)[:, 1]
    threshold = float(np.quantile(scores, 0.99))
    return model, threshold, evaluate(y_valid, scores, threshold)


def log_and_register(model, threshold: float, figures: dict, parts) -> str:
    with mlflow.start_run():
        tracking.log_dataset(parts.train, source="data/train.parquet", name="train")
        info = tracking.log_model(model, X_example=xy(parts.train)[0].head(5))
    tags = {
        "threshold": threshold,
        "estimator": "logreg",
        "average_precision": figures["average_precision"],
        "recall": figures["recall"],
    }
    return registry.register(info.model_uri, tags=tags)


@pytest.fixture(scope="module")
def history(store, parts):
    """Register and gate three versions, then roll back; keep what each step returned."""
    steps: dict = {"models": {}}
    for name, shuffled, seed in (("v1", True, 1), ("v2", False, 0), ("v3", True, 3)):
        model, threshold, figures = train(parts, shuffled=shuffled, seed=seed)
        version = log_and_register(model, threshold, figures, parts)
        steps["models"][version] = (model, threshold, figures)
        steps[name] = version
        steps[f"{name} challenger"] = registry.version_of(registry.CHALLENGER)
        steps[f"{name} gate"] = registry_gate(version, parts)
        steps[f"{name} champion"] = registry.version_of(registry.CHAMPION)
    steps["rollback"] = registry.rollback(reason="v2 misbehaves in production")
    steps["after rollback"] = registry.version_of(registry.CHAMPION)
    return steps


def registry_gate(version: str, parts) -> dict:
    return gate.run_gate(version, parts.test, RULE, holdout_name="test split")


def cli(*argv: str) -> int:
    """Run ``fraudops registry ...`` through this module's own parser."""
    parser = argparse.ArgumentParser(prog="fraudops")
    registry_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["registry", *argv])
    return args.func(args)


def test_the_first_version_is_promoted_as_the_first_model(history):
    assert history["v1 challenger"] == history["v1"]
    assert history["v1 gate"]["promote"] is True
    assert history["v1 gate"]["previous_champion"] is None
    assert "first model" in history["v1 gate"]["reason"]
    assert history["v1 champion"] == history["v1"]


def test_a_better_challenger_is_promoted_and_remembers_the_champion_it_replaced(history):
    record = history["v2 gate"]
    assert record["promote"] is True
    assert record["action"] == "promote"
    challenger, champion = record["gate"]["challenger"], record["gate"]["champion"]
    assert challenger["average_precision"] > champion["average_precision"]
    assert history["v2 champion"] == history["v2"]
    assert registry.version_info(history["v2"])["tags"]["previous_champion"] == history["v1"]


def test_a_clearly_worse_challenger_is_refused_and_the_champion_stays(history):
    record = history["v3 gate"]
    assert record["promote"] is False
    assert record["action"] == "refuse"
    assert "average precision" in record["reason"]
    assert f"{record['gate']['challenger']['average_precision']:.4f}" in record["reason"]
    assert history["v3 champion"] == history["v2"]
    # The refused version stays the challenger, waiting for a better day or a person.
    assert history["v3 challenger"] == history["v3"]


def test_both_models_are_scored_on_the_same_holdout_at_their_own_threshold(history, parts):
    gated = history["v2 gate"]["gate"]
    assert gated["rows"] == len(parts.test)
    assert gated["frauds"] == int(parts.test[TARGET].sum())
    for who, version in (("challenger", history["v2"]), ("champion", history["v1"])):
        model, threshold, _ = history["models"][version]
        assert gated[who]["threshold"] == pytest.approx(threshold)
        assert gated[who]["n"] == len(parts.test)


def test_the_decision_is_tagged_on_the_challenger(history):
    tags = registry.version_info(history["v3"])["tags"]
    record = history["v3 gate"]
    assert tags["gate.decision"] == "refuse"
    assert tags["gate.reason"] == record["reason"]
    assert tags["gate.champion_version"] == history["v2"]
    assert tags["gate.holdout"] == "test split"
    challenger_ap = record["gate"]["challenger"]["average_precision"]
    assert float(tags["gate.challenger.average_precision"]) == pytest.approx(challenger_ap)
    assert float(tags["gate.champion.recall"]) == pytest.approx(
        record["gate"]["champion"]["recall"]
    )
    assert registry.version_info(history["v1"])["tags"]["gate.champion_version"] == "none"


def test_rollback_restores_the_previous_champion(history):
    assert history["rollback"]["version"] == history["v1"]
    assert history["rollback"]["previous_champion"] == history["v2"]
    assert history["after rollback"] == history["v1"]


def test_rolling_back_past_the_first_champion_is_a_clear_error(history):
    assert registry.version_of(registry.CHAMPION) == history["v1"]
    with pytest.raises(registry.RegistryError, match=f"version {history['v1']} replaced no"):
        registry.rollback()
    assert registry.version_of(registry.CHAMPION) == history["v1"]


def test_the_promotion_log_holds_every_decision_in_order(history, store):
    log = registry.promotion_log()
    expected = [
        ("promote", history["v1"]),
        ("promote", history["v2"]),
        ("refuse", history["v3"]),
        ("rollback", history["v1"]),
    ]
    assert [(r["action"], r["version"]) for r in log[: len(expected)]] == expected
    assert log[3]["reason"] == "v2 misbehaves in production"
    # One JSON object per line, readable by anything.
    lines = (store / "promotion_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines] == [r["action"] for r in log]


def test_a_version_loads_as_the_pipeline_that_was_registered(history, parts):
    X_test, _ = xy(parts.test)
    for version, (model, threshold, _) in history["models"].items():
        loaded = registry.load_model(version)
        np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
        assert registry.version_info(version)["threshold"] == pytest.approx(threshold)
    champion = registry.load_model(registry.CHAMPION)
    expected, _, _ = history["models"][registry.version_of(registry.CHAMPION)]
    np.testing.assert_array_equal(champion.predict_proba(X_test), expected.predict_proba(X_test))


def test_unknown_versions_and_aliases_are_clear_errors(history):
    with pytest.raises(
        registry.RegistryError, match="has no version 99 .registered versions: 1, 2, 3"
    ):
        registry.promote("99", reason="typo")
    with pytest.raises(registry.RegistryError, match="alias @nonesuch"):
        registry.load_model("nonesuch")
    with pytest.raises(registry.RegistryError, match="already the champion"):
        registry.promote(registry.version_of(registry.CHAMPION), reason="again")


def test_gating_the_champion_against_itself_is_refused_outright(history, parts):
    with pytest.raises(registry.RegistryError, match="already the champion"):
        registry_gate(registry.version_of(registry.CHAMPION), parts)


def test_a_holdout_without_fraud_cannot_judge(history, parts):
    legit_only = parts.test[parts.test[TARGET] == 0]
    with pytest.raises(ValueError, match="has no fraud"):
        gate.run_gate(history["v3"], legit_only, RULE, holdout_name="legit only")


def test_registering_without_a_threshold_is_refused(store):
    with pytest.raises(ValueError, match="must include 'threshold'"):
        registry.register("models:/m-does-not-matter", tags={"estimator": "logreg"})


def test_the_store_lives_in_the_state_directory(history, store):
    assert tracking.tracking_uri() == f"sqlite:///{store / 'mlflow.db'}"
    assert (store / "mlflow.db").is_file()
    experiment = mlflow.get_experiment_by_name("registry-tests")
    assert experiment.artifact_location == (store / "mlartifacts").as_uri()
    model_files = list((store / "mlartifacts").rglob("MLmodel"))
    assert len(model_files) >= len(history["models"])


def test_mlflow_tracking_uri_points_elsewhere(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert tracking.tracking_uri() == "http://mlflow.internal:5000"


def test_each_run_records_its_training_data(history, parts):
    run_id = registry.version_info(history["v2"])["run_id"]
    inputs = mlflow.MlflowClient().get_run(run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["train"]
    assert json.loads(inputs[0].dataset.source)["uri"] == "data/train.parquet"
    assert [t.value for t in inputs[0].tags if t.key == "mlflow.data.context"] == ["training"]


def test_git_commit_names_the_checked_out_commit(root, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    commit = tracking.git_commit()
    assert commit is not None and len(commit) == 40
    monkeypatch.chdir(tmp_path)  # outside any work tree
    assert tracking.git_commit() is None


def test_concurrent_appends_never_interleave(tmp_path, monkeypatch):
    """Two processes logging at once: every line stays one whole JSON record."""
    monkeypatch.setenv(tracking.STATE_DIR_ENV, str(tmp_path))
    reason = "x" * 20_000  # far larger than a pipe buffer or a stdio buffer

    def writer(who: str) -> None:
        for i in range(100):
            registry.append_log(
                {"action": "refuse", "actor": who, "version": str(i), "reason": reason}
            )

    context = multiprocessing.get_context("fork")  # the children share the imported modules
    processes = [context.Process(target=writer, args=(who,)) for who in ("a", "b")]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    log = registry.promotion_log()
    assert len(log) == 200
    for who in ("a", "b"):
        assert [r["version"] for r in log if r["actor"] == who] == [str(i) for i in range(100)]
    assert {r["reason"] for r in log} == {reason}


def test_cli_list_shows_every_version_with_aliases_and_threshold(history, capsys):
    assert cli("list") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["version", "aliases", "created", "AP", "recall", "threshold"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {history["v1"], history["v2"], history["v3"]}
    assert "@champion" in rows[history["v1"]]
    assert "@challenger" in rows[history["v3"]]
    _, threshold, figures = history["models"][history["v2"]]
    assert f"{threshold:.4f}" in rows[history["v2"]]
    assert f"{figures['average_precision']:.4f}" in rows[history["v2"]]
    assert "logreg" in rows[history["v2"]]
    assert registry.version_info(history["v2"])["run_id"] in rows[history["v2"]]


def test_cli_promote_then_rollback(history, capsys):
    champion = registry.version_of(registry.CHAMPION)
    target = history["v2"]
    assert cli("promote", target, "--reason", "canary passed") == 0
    assert f"version {target} is now @champion (was: {champion})" in capsys.readouterr().out
    assert registry.promotion_log()[-1]["reason"] == "canary passed"
    assert registry.promotion_log()[-1]["actor"] == "manual"
    assert cli("rollback") == 0
    assert registry.version_of(registry.CHAMPION) == champion
    assert f"version {champion} is @champion again" in capsys.readouterr().out


def test_cli_log_prints_the_history(history, capsys):
    assert cli("log") == 0
    out = capsys.readouterr().out
    assert "refuse" in out and "rollback" in out
    assert "v2 misbehaves in production" in out
    assert cli("log", "--last", "1") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # the header and one entry


def test_cli_errors_are_clean_messages(history):
    with pytest.raises(CommandError, match="no version 42"):
        cli("promote", "42")


@pytest.mark.parametrize("action", ["list", "promote", "rollback", "log"])
def test_every_registry_command_has_help(action, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(action, "--help")
    assert exit_.value.code == 0
    assert f"fraudops registry {action}" in capsys.readouterr().out


# Every estimator, and every sampler, at least once: skops' list of types is the union of the
# steps' types, so this covers each type a model can hold (all twelve pairs were checked by hand).
ROUND_TRIPS = list(zip(ESTIMATORS, itertools.cycle(("smote", "undersample", "class_weight"))))


@pytest.mark.parametrize(("estimator", "imbalance"), ROUND_TRIPS)
def test_every_model_round_trips_through_mlflow(store, parts, estimator, imbalance):
    """skops must trust exactly the types each model uses; the pyfunc must return probabilities."""
    recent = parts.train.iloc[-4000:]  # the newest rows: enough frauds for SMOTE, and quick
    with threadpool_limits(limits=1):  # hist_gb's OpenMP threads crawl on a busy machine
        model = make_model(estimator, imbalance, **FAST[estimator]).fit(*xy(recent))
    X_test, _ = xy(parts.test)
    info = tracking.log_model(model, X_example=X_test.head(5))
    loaded = mlflow.sklearn.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    served = mlflow.pyfunc.load_model(info.model_uri).predict(X_test.head(3))
    np.testing.assert_allclose(np.asarray(served), model.predict_proba(X_test.head(3)))


@pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer")
@pytest.mark.parametrize("missing", [False, True])
def test_a_logged_dataset_has_the_schema_mlflow_would_infer_from_every_row(
    store, small_data, missing
):
    """The training data's schema is taken from its first rows (fast), but must be exactly what
    MLflow infers from all of them: a value missing far down the table makes a column optional."""
    from mlflow.models import infer_signature

    df = small_data.copy()
    if missing:
        df.loc[df.index[-1], "Amount"] = np.nan
    with mlflow.start_run():
        dataset = tracking.log_dataset(df, source="train.parquet", name="train")
    assert dataset.schema == infer_signature(df).inputs
    assert (not dataset.schema.input_dict()["Amount"].required) is missing
