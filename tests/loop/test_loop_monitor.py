"""The monitor's verdict on streams with and without drift (fixed seeds, several windows each).

The windows are what the prediction log would hold had a served model scored the stream
(:func:`level2.simulate.score_offline`), so many windows cost seconds, not a service run; the
decision is the one ``fraudops monitor`` takes (:func:`fraudops.monitoring.summarize`).
"""

from __future__ import annotations

import pandas as pd
import pytest
from fraudops import monitoring
from fraudops.data import generate
from fraudops.models import make_model
from fraudops.schema import FEATURES, TARGET

from level2.simulate import TrafficPlan, make_stream, score_offline

WINDOW = 3_000
PARAMS = monitoring.MonitorParams(
    window=WINDOW, reference_rows=5_000, min_window=1_000, min_labels=500, min_fraud_labels=15
)


@pytest.fixture(scope="module")
def champion() -> tuple[object, float, pd.DataFrame, dict[str, float]]:
    """A logistic-regression champion trained on generated data, its threshold, the reference
    (its training rows, scored) and its offline recall and AP."""
    from sklearn.metrics import average_precision_score

    train = generate(rows=20_000, seed=3, fraud_rate=0.01)
    model = make_model("logreg", "class_weight", seed=0).fit(train[list(FEATURES)], train[TARGET])
    reference = train.sample(n=PARAMS.reference_rows, random_state=0).reset_index(drop=True)
    reference["score"] = model.predict_proba(reference[list(FEATURES)])[:, 1]
    threshold = 0.9
    holdout = generate(rows=10_000, seed=4, fraud_rate=0.01, start_time=172_800)
    scores = model.predict_proba(holdout[list(FEATURES)])[:, 1]
    frauds = holdout[TARGET] == 1
    offline = {
        "recall": float((scores[frauds] >= threshold).mean()),
        "average_precision": float(average_precision_score(holdout[TARGET], scores)),
    }
    return model, threshold, reference, offline


def verdicts(champion, scenario: str, windows: int, seed: int) -> list[dict]:
    """The monitor's summaries of consecutive windows of one stream, oldest first."""
    model, threshold, reference, offline = champion
    plan = TrafficPlan(
        rows=windows * WINDOW,
        scenario=scenario,
        drift_at=0,
        fraud_rate=0.01,
        start_time=4 * 86_400,
        seed=seed,
    )
    logged = score_offline(make_stream(plan), model, threshold)
    history: list[dict] = []
    for k in range(windows):
        window = logged.iloc[k * WINDOW : (k + 1) * WINDOW]
        summary, _ = monitoring.summarize(window, reference, offline, history, PARAMS)
        history.append(summary)
    return history


@pytest.mark.parametrize("seed", [21, 22])
def test_a_stream_without_drift_never_asks_for_retraining(champion, seed):
    history = verdicts(champion, "none", windows=4, seed=seed)
    assert [s["retrain"] for s in history] == [False] * 4, [s["reasons"] for s in history]
    assert not any(s["drift_detected"] for s in history)


def test_covariate_drift_is_flagged_after_the_consecutive_windows(champion):
    history = verdicts(champion, "covariate", windows=3, seed=31)
    assert all(s["drift_detected"] for s in history)
    # Debounced: one drifted window is not enough, the second in a row is.
    assert [s["retrain"] for s in history] == [False, True, True]
    assert "dataset drift" in history[1]["reasons"][0]
    assert {"Amount"} <= set(history[0]["drift"]["drifted_features"])


def test_concept_drift_is_flagged_by_live_recall_in_its_first_window(champion):
    _, _, _, offline = champion
    history = verdicts(champion, "concept", windows=2, seed=41)
    for summary in history:
        assert summary["retrain"], summary["reasons"]
        assert summary["performance"]["recall"] < offline["recall"] - PARAMS.recall_drop
        assert any("live recall" in r and "below" in r for r in summary["reasons"])


def test_too_few_labels_cannot_trigger_retraining(champion):
    model, threshold, reference, offline = champion
    plan = TrafficPlan(rows=WINDOW, scenario="concept", drift_at=0, fraud_rate=0.01, seed=51)
    logged = score_offline(make_stream(plan), model, threshold)
    logged["label"] = logged["label"].where(logged.index < 300)  # labels are late: only 300
    summary, _ = monitoring.summarize(logged, reference, offline, [], PARAMS)
    assert not summary["retrain"]
    assert any("too few labels" in r for r in summary["reasons"])


def _one_window(champion, scenario: str, seed: int, rows: int = WINDOW):
    model, threshold, reference, offline = champion
    plan = TrafficPlan(
        rows=rows, scenario=scenario, drift_at=0, fraud_rate=0.01, start_time=4 * 86_400, seed=seed
    )
    window = score_offline(make_stream(plan), model, threshold)
    return monitoring.summarize(window, reference, offline, [], PARAMS)


@pytest.mark.parametrize(
    ("scenario", "seed", "verdict"),
    [("concept", 41, "Retrain"), ("none", 21, "No retraining needed")],
)
def test_the_html_report_leads_with_the_decision(champion, scenario, seed, verdict, tmp_path):
    """The verdict, its reasons and the live figures open the page; Evidently's report follows."""
    import html
    import re

    from fraudops.monitoring_report import SECTION_ID

    summary, snapshot = _one_window(champion, scenario, seed)
    assert summary["retrain"] is (verdict == "Retrain") and snapshot is not None
    folder = monitoring.write_outputs(summary, snapshot, tmp_path / "runs", tmp_path / "h.jsonl")
    page = (folder / "report.html").read_text(encoding="utf-8")
    after_body = page[re.search(r"<body[^>]*>", page).end() :]
    assert after_body.startswith(f'<section id="{SECTION_ID}"')  # the first thing shown
    section = after_body[: after_body.index("</section>")]
    assert re.search(r"<h1[^>]*>(.*?)</h1>", section).group(1) == verdict
    for reason in summary["reasons"]:
        assert html.escape(reason) in section
    perf, offline = summary["performance"], summary["champion_offline"]
    assert (
        f"<td>recall</td><td>{perf['recall']:.3f}</td><td>{offline['recall']:.3f}</td>" in section
    )

    # Evidently's own report is all there, after the decision: the page without the section is
    # Evidently's page (each render draws new element ids and UUIDs, so those are masked).
    def masked(text: str) -> str:
        return re.sub(r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<id>", text)

    evidently = page.replace(section + "</section>", "", 1)
    assert masked(evidently) == masked(snapshot.get_html_str(as_iframe=False))


def test_a_window_too_small_for_drift_still_gets_a_report_with_its_decision(champion, tmp_path):
    summary, snapshot = _one_window(champion, "none", seed=61, rows=PARAMS.min_window // 2)
    assert snapshot is None and not summary["retrain"]
    folder = monitoring.write_outputs(summary, snapshot, tmp_path / "runs", tmp_path / "h.jsonl")
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "No retraining needed" in page and "window too small for a drift verdict" in page
    assert "Details follow" not in page  # no Evidently report is promised when there is none
