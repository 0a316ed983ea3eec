"""Stage ``evaluate``: both candidates on the same, untouched test part; the better AP wins.

Each candidate is scored at its own threshold (chosen on validation). The two were given the
same compute (section ``budget``); a report of unequal budgets stops the stage, since no
winner of that comparison means anything. The difference of their average precisions comes
with a paired bootstrap interval: one candidate is said to be better only when the interval
excludes zero; otherwise the higher AP is still the one registered, and the report says the
test part cannot tell them apart. Outputs:

* ``reports/metrics.json``: DVC metrics (``dvc metrics show`` / ``diff``): per candidate
  average precision, ROC-AUC, precision, recall, F1, recall at the target precision and what
  it spent of the budget; the AP difference with its interval and verdict; and the winner;
* ``reports/comparison.md``: the same as a table, with training times;
* ``reports/plots/{pr,roc,confusion}.json``: DVC plots data (``dvc plots show``): both
  candidates' precision-recall and ROC curves on a common grid, and the winner's confusion
  matrix;
* ``reports/figures/``: the same curves and matrices as PNG files.

The comparison table, test metrics and figures are also logged to both candidates' MLflow runs.

    python -m level1.stages.evaluate --test data/split/test.parquet \
        --custom-model models/custom.joblib --custom-report reports/train_custom.json \
        --automl-model models/automl.joblib --automl-report reports/train_automl.json \
        --metrics reports/metrics.json --comparison reports/comparison.md \
        --plots reports/plots --figures reports/figures
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from fraudops.budget import check_equal
from fraudops.params import ParamsError, load_section
from fraudops.schema import TARGET

from .common import CANDIDATES, fraud_scores, read_json, write_json

#: The metrics.json keys per candidate, in the order tables show them (AP first, always).
HEADLINE = ("average_precision", "roc_auc", "precision", "recall", "f1", "recall_at_precision")


@dataclass(frozen=True)
class EvaluateParams:
    """Section ``evaluate`` of ``params.yaml``.

    Attributes:
        precision_target: report the recall reachable at this precision.
        plot_points: points per curve in the DVC plots data.
        bootstrap: paired bootstrap resamples for the interval of the AP difference.
    """

    precision_target: float
    plot_points: int
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 < self.precision_target < 1.0:
            raise ParamsError(
                "params.yaml section 'evaluate': precision_target must be in (0, 1), "
                f"got {self.precision_target}"
            )
        if self.bootstrap < 100:
            raise ParamsError(
                "params.yaml section 'evaluate': bootstrap must be >= 100 resamples, "
                f"got {self.bootstrap}"
            )
        if self.plot_points < 2:
            raise ParamsError(
                f"params.yaml section 'evaluate': plot_points must be >= 2, got {self.plot_points}"
            )


@dataclass
class Comparison:
    """Both candidates measured on the test part.

    Attributes:
        metrics: candidate -> :func:`fraudops.metrics.evaluate` result at its threshold.
        scores: candidate -> P(fraud) per test row.
        y: the test labels.
        winner: the candidate with the higher average precision (``custom`` on a tie).
        difference: AP(custom) - AP(automl) with its paired bootstrap interval
            (:func:`fraudops.metrics.ap_difference`; ``verdict`` ``"a"`` is custom).
    """

    metrics: dict[str, dict[str, Any]]
    scores: dict[str, np.ndarray]
    y: np.ndarray
    winner: str
    difference: dict[str, Any]

    def verdict(self) -> str:
        """One sentence: who is better on the test part, or that it cannot tell."""
        first, second = self.metrics
        d = self.difference
        interval = (
            f"AP {first} - {second} {d['difference']:+.4f}, {d['level']:.0%} interval "
            f"{d['low']:+.4f} .. {d['high']:+.4f}"
        )
        if d["verdict"] == "tie":
            return (
                f"No clear winner: the interval includes zero ({interval}); {self.winner} is "
                "registered for its higher AP, but this test part cannot tell them apart."
            )
        better = first if d["verdict"] == "a" else second
        return f"{better} is better: the interval excludes zero ({interval})."


def compare(
    test: pd.DataFrame,
    models: dict[str, Any],
    thresholds: dict[str, float],
    params: EvaluateParams,
) -> Comparison:
    """Score every candidate on ``test`` at its own threshold and pick the winner by AP.

    Args:
        test: the test part.
        models: candidate name -> fitted pipeline (two of them; the first is ``a`` of the
            difference).
        thresholds: candidate name -> threshold chosen on validation.
        params: the stage's section.
    """
    from fraudops.metrics import ap_difference, evaluate

    y = test[TARGET].to_numpy()
    scores = {name: fraud_scores(model, test) for name, model in models.items()}
    metrics = {
        name: evaluate(y, scores[name], thresholds[name], precision_target=params.precision_target)
        for name in models
    }
    # max() keeps the first of equals, so a tie goes to the candidate listed first.
    winner = max(models, key=lambda name: metrics[name]["average_precision"])
    first, second = models
    difference = ap_difference(y, scores[first], scores[second], resamples=params.bootstrap, seed=0)
    return Comparison(metrics=metrics, scores=scores, y=y, winner=winner, difference=difference)


def metrics_summary(comparison: Comparison, reports: dict[str, dict]) -> dict[str, Any]:
    """The content of ``reports/metrics.json``: headline metrics per candidate and the winner."""
    summary: dict[str, Any] = {"winner": comparison.winner}
    for name, m in comparison.metrics.items():
        summary[name] = {
            **{k: float(m[k]) for k in HEADLINE},
            "threshold": float(m["threshold"]),
            "cv_average_precision": float(reports[name]["cv_average_precision"]),
            "train_seconds": round(float(reports[name]["train_seconds"]), 1),
            **{f"spent_{k}": v for k, v in reports[name]["spent"].items() if k != "stopped_by"},
        }
    first_name, second_name = comparison.metrics
    d = comparison.difference
    summary["ap_difference"] = {
        f"{first_name}_minus_{second_name}": round(d["difference"], 6),
        "low": round(d["low"], 6),
        "high": round(d["high"], 6),
        "level": d["level"],
        "resamples": d["resamples"],
    }
    summary["better"] = {"a": first_name, "b": second_name, "tie": "tie"}[d["verdict"]]
    summary["budget"] = check_equal({name: reports[name].get("budget") for name in reports})
    first = next(iter(comparison.metrics.values()))
    summary["test_rows"] = int(first["n"])
    summary["test_frauds"] = int(first["n_fraud"])
    return summary


def _spread(report: dict[str, Any]) -> str:
    """`` (low .. high)``: the threshold chosen on subsets of the validation rows."""
    spread = report.get("valid", {}).get("threshold_spread")
    return f" ({spread['min']:.4g} .. {spread['max']:.4g})" if spread else ""


def _budget_text(budget: dict[str, Any]) -> str:
    return (
        f"{budget['seconds']:g} s, at most {budget['trials']} trials of "
        f"{budget['cv_folds']}-fold stratified CV"
    )


def comparison_table(comparison: Comparison, reports: dict[str, dict]) -> str:
    """``reports/comparison.md``: the candidates side by side, the verdict and the winner.

    Raises:
        ValueError: the candidates were given different budgets.
    """
    budget = check_equal({name: reports[name].get("budget") for name in reports})
    first = next(iter(comparison.metrics.values()))
    lines = [
        "# Candidates on the test set",
        "",
        f"{int(first['n']):,} test transactions, {int(first['n_fraud']):,} frauds. Each model is "
        "measured at its own threshold, chosen on the validation set; the winner has the higher "
        "average precision. In brackets beside each threshold: the lowest and highest threshold "
        "the same rule chose on five subsets of the validation rows.",
        "",
        f"Both had the same budget: {_budget_text(budget)}.",
        "",
        "| candidate | model | AP | ROC-AUC | precision | recall | F1 | recall@P "
        "| threshold | TP | FP | FN | trials | fits | stopped by | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in comparison.metrics.items():
        mark = " (winner)" if name == comparison.winner else ""
        spent = reports[name]["spent"]
        lines.append(
            f"| {name}{mark} | {reports[name]['estimator']} | {m['average_precision']:.4f} "
            f"| {m['roc_auc']:.4f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} "
            f"| {m['recall_at_precision']:.3f} | {m['threshold']:.4g}{_spread(reports[name])} "
            f"| {int(m['tp'])} "
            f"| {int(m['fp'])} | {int(m['fn'])} | {spent['trials']} | {spent['fits']} "
            f"| {spent['stopped_by']} | {reports[name]['train_seconds']:.1f} |"
        )
    lines += [
        "",
        comparison.verdict(),
        "",
        f"Chosen model: **{comparison.winner}** ({reports[comparison.winner]['estimator']}).",
    ]
    return "\n".join(lines) + "\n"


def pr_points(comparison: Comparison, n: int) -> list[dict[str, float]]:
    """Precision of every candidate at ``n`` recall levels from 0 to 1 (DVC plots data).

    A common recall grid puts both candidates in one plot (one column each). Precision at
    recall r is the best precision reachable at a recall of at least r (interpolated precision),
    so the curve is monotone and does not depend on how sklearn spaces its thresholds.
    """
    from sklearn.metrics import precision_recall_curve

    grid = np.linspace(0.0, 1.0, n)
    rows: list[dict[str, float]] = [{"recall": round(float(r), 4)} for r in grid]
    for name, scores in comparison.scores.items():
        precision, recall, _ = precision_recall_curve(comparison.y, scores)
        order = np.argsort(recall, kind="stable")
        best_from_here = np.maximum.accumulate(precision[order][::-1])[::-1]
        index = np.searchsorted(recall[order], grid, side="left").clip(max=len(order) - 1)
        for row, value in zip(rows, best_from_here[index], strict=True):
            row[name] = round(float(value), 4)
    return rows


def roc_points(comparison: Comparison, n: int) -> list[dict[str, float]]:
    """True-positive rate of every candidate on a false-positive-rate grid (DVC plots data).

    The grid is dense near 0, where a fraud model operates (a 1 % false-positive rate is
    already thousands of alerts a day).
    """
    from sklearn.metrics import roc_curve

    grid = np.unique(np.concatenate([[0.0], np.geomspace(1e-4, 1.0, n)]))
    rows: list[dict[str, float]] = [{"fpr": float(f"{f:.6g}")} for f in grid]
    for name, scores in comparison.scores.items():
        fpr, tpr, _ = roc_curve(comparison.y, scores)
        for row, value in zip(rows, np.interp(grid, fpr, tpr), strict=True):
            row[name] = round(float(value), 4)
    return rows


def confusion_rows(y: np.ndarray, scores: np.ndarray, threshold: float) -> list[dict[str, str]]:
    """One ``{actual, predicted}`` row per test transaction (DVC's confusion template counts
    them). Sorted, so that successive versions of the file diff and compress well."""
    label = np.array(["legit", "fraud"])
    actual = label[np.asarray(y, dtype=int)]
    predicted = label[(scores >= threshold).astype(int)]
    pairs = sorted(zip(actual.tolist(), predicted.tolist(), strict=True))
    return [{"actual": a, "predicted": p} for a, p in pairs]


def write_rows(path: Path, rows: list[dict]) -> None:
    """A JSON list with one object per line: compact, and still diffable line by line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")


def figures(comparison: Comparison, out: Path) -> list[Path]:
    """PR curve, ROC curve and confusion matrix of each candidate as PNG files."""
    from fraudops.metrics import plot_confusion_matrix, plot_pr_curve, plot_roc_curve

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, scores in comparison.scores.items():
        threshold = comparison.metrics[name]["threshold"]
        paths += [out / f"{name}_pr.png", out / f"{name}_roc.png", out / f"{name}_confusion.png"]
        plot_pr_curve(comparison.y, scores, paths[-3])
        plot_roc_curve(comparison.y, scores, paths[-2])
        plot_confusion_matrix(comparison.y, scores, threshold, paths[-1])
    return paths


def log_to_runs(
    comparison: Comparison, reports: dict[str, dict], table: str, pngs: list[Path]
) -> None:
    """Add the test metrics, the comparison table and the figures to each candidate's run."""
    import mlflow
    from fraudops import tracking

    tracking.connect()
    for name, report in reports.items():
        m = comparison.metrics[name]
        with mlflow.start_run(run_id=report["run_id"]):
            mlflow.log_metrics({f"test_{k}": float(m[k]) for k in HEADLINE})
            mlflow.set_tag("winner", str(name == comparison.winner).lower())
            mlflow.log_text(table, "comparison.md")
            for png in pngs:
                if png.name.startswith(f"{name}_"):
                    mlflow.log_artifact(str(png), artifact_path="figures")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--test", type=Path, required=True)
    for name in CANDIDATES:
        parser.add_argument(f"--{name}-model", type=Path, required=True)
        parser.add_argument(f"--{name}-report", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True, help="DVC metrics file (.json)")
    parser.add_argument("--comparison", type=Path, required=True, help="Markdown table")
    parser.add_argument("--plots", type=Path, required=True, help="folder for DVC plots data")
    parser.add_argument("--figures", type=Path, required=True, help="folder for PNG figures")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)

    from fraudops.data import load

    params = load_section(EvaluateParams, "evaluate", args.params)
    test = load(args.test)
    models = {name: joblib.load(getattr(args, f"{name}_model")) for name in CANDIDATES}
    reports = {name: read_json(getattr(args, f"{name}_report")) for name in CANDIDATES}
    thresholds = {name: float(reports[name]["threshold"]) for name in CANDIDATES}
    # Before any scoring: a comparison of unequal budgets names no winner.
    check_equal({name: reports[name].get("budget") for name in CANDIDATES})

    comparison = compare(test, models, thresholds, params)
    write_json(args.metrics, metrics_summary(comparison, reports))
    table = comparison_table(comparison, reports)
    args.comparison.parent.mkdir(parents=True, exist_ok=True)
    args.comparison.write_text(table)
    write_rows(args.plots / "pr.json", pr_points(comparison, params.plot_points))
    write_rows(args.plots / "roc.json", roc_points(comparison, params.plot_points))
    winner = comparison.winner
    write_rows(
        args.plots / "confusion.json",
        confusion_rows(comparison.y, comparison.scores[winner], thresholds[winner]),
    )
    pngs = figures(comparison, args.figures)
    log_to_runs(comparison, reports, table, pngs)
    print(table, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
