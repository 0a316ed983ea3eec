"""The demo page (level2/demo_page.py) from synthetic tour results, without running the tour."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest

from level2 import demo_page


def _sent(rows: int, *, version: int, caught: float, seed: int) -> pd.DataFrame:
    """What the simulator sent in one phase: 4 % fraud, ``caught`` of it flagged."""
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < 0.04
    return pd.DataFrame(
        {
            "Class": fraud.astype(int),
            "is_fraud": fraud & (rng.random(rows) < caught),
            "model_version": str(version),
        }
    )


@pytest.fixture(scope="module")
def sent() -> dict[str, pd.DataFrame]:
    return {
        "before": _sent(2_000, version=1, caught=0.95, seed=1),
        "drifted": _sent(6_000, version=1, caught=0.30, seed=2),
        "after": _sent(2_000, version=2, caught=0.97, seed=3),
    }


def _results(sent: dict[str, pd.DataFrame], project: Path) -> dict:
    """Tour results as ``run_demo`` leaves them, with the files they name made in ``project``."""
    reports = project / "var/reports"
    files = {
        "Level 0 model file": project / "var/demo/level0-model.joblib",
        "comparison table": project / "reports/comparison.md",
    }
    monitoring = []
    for k, (phase, retrain, version, recall) in enumerate(
        [("before drift", False, "1", 0.95), ("concept drift", True, "1", 0.31)]
        + [("after retraining", False, "2", 0.97)]
    ):
        report = reports / f"monitoring/2026120{k}T000000/report.html"
        files[f"report {k}"] = report
        monitoring.append(
            {
                "phase": phase,
                "retrain": retrain,
                "drift_detected": False,
                "drift_share": 0.03 * k,
                "score_distance": 0.1 if retrain else 0.02,
                "recall": recall,
                "n_labels": 3_000,
                "reasons": ["live recall 0.31 is more than 0.25 below"] if retrain else ["ok"],
                "model_version": version,
                "seconds": 2.0,
                "report": str(report),
            }
        )
    artifacts = project / "var/mlartifacts/abc123/artifacts"
    for path in [*files.values(), artifacts / "x.json"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    figures = {"average_precision": 0.9, "roc_auc": 0.99, "precision": 0.7, "recall": 0.95}
    return {
        "data": {"rows": 20_000, "fraud_rate": 0.02, "quick": True},
        "level0": {**figures, "average_precision": 0.85},
        "level1": figures,
        "level1_champion": "1",
        "level1_comparison": {
            "winner": "custom",
            "custom": 0.9,
            "automl": 0.88,
            "better": "tie",
            "ap_difference": {"custom_minus_automl": 0.02, "low": -0.01, "high": 0.05},
            "budget": {"seconds": 4, "trials": 2, "cv_folds": 2},
        },
        "level1_ct": {"rejected": True, "champion": ["1", "1"], "reason": "missing column 'V7'"},
        "served_before": "1",
        "monitoring": monitoring,
        "retrain": {
            "runs": [{"status": "promoted"}, {"status": "nothing to do"}],
            "retrainings": 1,
            "promotions": 1,
            "champion": "2",
        },
        "live_recall": {
            "before_drift": 0.95,
            "drifted_before_retraining": 0.3,
            "drifted_after_retraining": 0.97,
        },
        "recovered": True,
        "same_rows": {"rows": 2_000, "frauds": 80},
        "traffic": demo_page.traffic_series(sent),
        "registry": [
            {"version": "1", "aliases": [], "run_id": "abc123", "experiment_id": "1"}
            | {"artifacts": str(artifacts)},
            {"version": "2", "aliases": ["champion"], "run_id": "def456", "experiment_id": "1"}
            | {"artifacts": None},
        ],
        "mlflow": {"ui": "http://127.0.0.1:5000", "start": "mlflow ui --backend-store-uri x"},
        "files": {k: str(v) for k, v in files.items() if not k.startswith("report")},
    }


TIMINGS = [("Level 0: manual", 20.0), ("Level 1: dvc repro", 70.0), ("Level 2: loop", 130.0)]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("href"):
            self.hrefs.append(a["href"])
        if a.get("src"):
            self.srcs.append(a["src"])
        if tag == "section" and a.get("id"):
            self.ids.append(a["id"])


@pytest.fixture(scope="module")
def page(sent, tmp_path_factory) -> tuple[str, Path]:
    project = tmp_path_factory.mktemp("project")
    page_dir = project / "var/reports"
    html = demo_page.page_html(
        _results(sent, project), TIMINGS, page_dir=page_dir, summary_text="recovered: True"
    )
    return html, page_dir


def _parsed(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def test_traffic_series_keeps_phases_versions_and_recall_per_block(sent):
    series = demo_page.traffic_series(sent)
    assert series["rows"] == 10_000
    assert [(p["name"], p["start"], p["end"]) for p in series["phases"]] == [
        ("before", 0, 2_000),
        ("drifted", 2_000, 8_000),
        ("after", 8_000, 10_000),
    ]
    assert series["versions"] == [{"start": 0, "version": 1}, {"start": 8_000, "version": 2}]
    recall = {b["start"]: b["recall"] for b in series["recall"]}
    assert recall[0] > 0.8 and recall[4_000] < 0.5 and recall[9_500] > 0.8


def test_moments_mark_drift_and_share_one_mark_for_retraining_and_promotion(sent):
    marks = demo_page.moments(demo_page.traffic_series(sent))
    assert marks == {
        "concept drift starts": 2_000,
        "monitor asks for retraining; v2 promoted and serving": 8_000,
    }


def test_the_version_axis_has_one_integer_tick_per_served_version(sent):
    fig = demo_page.traffic_figure(demo_page.traffic_series(sent))
    fig.canvas.draw()
    versions = fig.axes[1]
    assert list(versions.get_yticks()) == [1.0, 2.0]
    assert [t.get_text() for t in versions.get_yticklabels()] == ["v1", "v2"]
    lines = [line.get_label() for line in fig.axes[0].get_legend().get_lines()]
    assert "concept drift starts" in lines
    assert "monitor asks for retraining; v2 promoted and serving" in lines


@pytest.mark.parametrize("name", ["offline", "traffic", "monitoring"])
def test_no_legend_covers_a_chart(name, sent, tmp_path):
    results = _results(sent, tmp_path)
    fig = {
        "offline": lambda: demo_page.offline_figure(results),
        "traffic": lambda: demo_page.traffic_figure(results["traffic"]),
        "monitoring": lambda: demo_page.monitoring_figure(results["monitoring"]),
    }[name]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends, "each chart has a legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), (name, ax.get_title())


def test_the_page_tells_every_level_in_order(page):
    html, _ = page
    assert _parsed(html).ids == [key for key, _ in demo_page.SECTIONS]
    for heading in dict(demo_page.SECTIONS).values():
        assert heading in html
    assert html.count("What this level adds:") == 3
    assert html.count("data:image/png;base64,") == 3  # offline, traffic, monitoring windows
    assert "RETRAIN" in html and "recovered: True" in html
    assert "-0.050 against Level 0" not in html and "+0.050 against Level 0" in html


def test_the_level1_section_says_whether_the_equal_budget_comparison_has_a_winner(page):
    html, _ = page
    assert "both had 4 s and at most 2 trials of 2-fold CV" in html
    assert "AP custom − AutoML +0.020, 95 % bootstrap interval -0.010 .. +0.050" in html
    assert "cannot tell them apart" in html  # the interval includes zero: no winner is claimed


def test_every_relative_link_resolves_to_a_file_the_tour_wrote(page):
    html, page_dir = page
    hrefs = _parsed(html).hrefs
    relative = [h for h in hrefs if not urlparse(h).scheme]
    assert sum("report.html" in h for h in relative) == 6  # table and list, three windows
    assert any(h.endswith("artifacts") for h in relative)
    for href in relative:
        assert (page_dir / unquote(href)).exists(), href


def test_absolute_links_go_to_local_servers_and_the_page_loads_nothing(page):
    html, _ = page
    parsed = _parsed(html)
    absolute = [h for h in parsed.hrefs if urlparse(h).scheme]
    assert "http://127.0.0.1:5000/#/experiments/1/runs/abc123" in absolute
    assert all(urlparse(h).hostname == "127.0.0.1" for h in absolute), absolute
    assert all(src.startswith("data:image/png;base64,") for src in parsed.srcs)
    assert not re.search(r"<(script|link)\b", html)


def test_the_dashboard_link_names_the_tours_own_workspace(sent, tmp_path):
    # Without the charts' data: this test is about the links, and each chart costs 0.2 s.
    results = {
        k: v
        for k, v in _results(sent, tmp_path).items()
        if k not in ("level0", "level1", "traffic", "monitoring")
    }
    default = demo_page.page_html(results, TIMINGS, page_dir=tmp_path)
    assert "start it with <code>make dashboard</code>" in default
    assert demo_page.DASHBOARD_DEFAULT in _parsed(default).hrefs
    board = {
        "start": "fraudops dashboard --workspace /x/var/evidently",
        "url": "http://127.0.0.1:8000/projects/abc",
    }
    own = demo_page.page_html({**results, "dashboard": board}, TIMINGS, page_dir=tmp_path)
    assert board["url"] in _parsed(own).hrefs
    assert f"start it with <code>{board['start']}</code>" in own


def test_relative_href_climbs_out_of_the_page_folder_and_quotes(tmp_path):
    target = tmp_path / "var/demo/my model.joblib"
    assert demo_page.relative_href(target, tmp_path / "var/reports") == "../demo/my%20model.joblib"


def test_a_tour_that_stopped_after_level0_still_gets_a_page(tmp_path):
    figures = {"average_precision": 0.9, "roc_auc": 0.99, "precision": 0.7, "recall": 0.95}
    html = demo_page.page_html({"level0": figures}, TIMINGS[:1], page_dir=tmp_path)
    assert _parsed(html).ids == [key for key, _ in demo_page.SECTIONS]
    assert "Level 1 did not run." in html and "Level 2 did not run." in html
