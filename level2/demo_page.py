"""``var/reports/demo.html``: the maturity tour told as a story, one section per level.

Pure functions: the tour's results (the ``results`` of ``var/demo/summary.json``) and its step
timings go in, figures and HTML come out; :func:`level2.demo.write_report` is the only caller
that writes a file. The page is self-contained (styles inline, charts as PNG data URIs), so it
opens from disk with no network; its links are relative to the page for files the tour wrote,
and absolute only for the servers a person starts by hand (the MLflow UI and the Evidently
dashboard), with the command that starts each one beside the link.

The results this page reads, beyond the ones the tour's summary table uses:

- ``traffic``: :func:`traffic_series` of what the simulator sent (live recall by block, the
  served version, the phases);
- ``registry``: one entry per model version (``version``, ``aliases``, ``run_id``,
  ``experiment_id``, ``artifacts``: the run's local artifact folder or ``None``);
- ``mlflow``: ``ui`` (the MLflow UI's address) and ``start`` (the command that serves it);
- ``monitoring[i]["report"]``: the monitoring run's ``report.html``;
- ``files``: label -> path of other files the tour wrote (the Level 0 model, the pipeline's
  comparison table...);
- ``dashboard``: ``start`` (the command that serves the tour's Evidently workspace) and ``url``
  (the project page it then serves).
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fraudops.commands.dashboard import DEFAULT_PORT

#: The page's sections, in order: (id, heading). Tests check that each one is there.
SECTIONS = (
    ("tour", "The tour"),
    ("level0", "Level 0: manual"),
    ("level1", "Level 1: ML pipeline automation"),
    ("level2", "Level 2: CI/CD and the closed loop"),
    ("links", "Where to look next"),
    ("timings", "Time per step"),
    ("summary", "The summary the command printed"),
)

#: How to start the Evidently dashboard when the tour did not leave one running, and where it
#: then serves (``fraudops dashboard``'s default ``--host`` and ``--port``).
DASHBOARD_START = "make dashboard"
DASHBOARD_DEFAULT = f"http://127.0.0.1:{DEFAULT_PORT}"
#: The phases of the Level 2 traffic, in the order the tour sends them, and their labels.
PHASES = {
    "before": "before drift",
    "drifted": "concept drift",
    "after": "after retraining",
}
#: The offline figures compared by level, in the order of the chart and the table.
METRICS = (
    ("average_precision", "AP"),
    ("roc_auc", "ROC-AUC"),
    ("precision", "precision"),
    ("recall", "recall"),
)
#: Drift (red), then retraining and promotion (green), in row order.
_MOMENT_COLOURS = ("#c0392b", "#27ae60", "#2980b9")
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 64em; margin: 1em auto; padding: 0 1em;
       line-height: 1.45; color: #222 }
section { border-top: 1px solid #ddd; margin-top: 1.5em }
table { border-collapse: collapse; margin: 0.5em 0 }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left }
td.num { text-align: right }
.adds { border-left: 5px solid #2980b9; background: #f4f8fb; padding: 0.4em 0.9em }
.retrain { color: #c0392b; font-weight: bold } .ok { color: #27ae60; font-weight: bold }
code, pre { background: #f4f4f4; padding: 0 0.2em }
pre { overflow-x: auto }
img { max-width: 100% }
"""


#: A table cell that holds a figure (right-aligned): 0.950, 3,000, v2, -.
_NUMBER = re.compile(r"v?[-+]?[\d.,]+|-")


# -- data ------------------------------------------------------------------------------------


def traffic_series(sent: Mapping[str, Any], *, blocks: int = 20) -> dict[str, Any]:
    """What the simulator sent, reduced to what the live-traffic chart draws.

    Args:
        sent: phase name (``before``, ``drifted``, ``after``) -> DataFrame of what was sent
            (``Class``, ``is_fraud``, ``model_version``), in the order the tour sent them.
        blocks: about how many blocks live recall is computed over (500 rows at least, so a
            block holds ten frauds or more at 2 % fraud).

    Returns:
        ``rows``; ``phases`` (``name``, ``start``, ``end``: row numbers); ``recall`` (``start``,
        ``end``, ``recall`` of the frauds in the block, ``None`` without any, ``frauds``);
        ``versions`` (``start``, ``version``: the rows from which a version served).
    """
    import pandas as pd

    frames = [(name, frame) for name, frame in sent.items() if len(frame)]
    if not frames:
        return {"rows": 0, "phases": [], "recall": [], "versions": []}
    phases, start = [], 0
    for name, frame in frames:
        phases.append({"name": name, "start": start, "end": start + len(frame)})
        start += len(frame)
    rows = pd.concat([frame for _, frame in frames], ignore_index=True)
    block = max(500, len(rows) // blocks)
    recall = []
    for first in range(0, len(rows), block):
        part = rows.iloc[first : first + block]
        frauds = part[part["Class"] == 1]
        recall.append(
            {
                "start": first,
                "end": first + len(part),
                "recall": float(frauds["is_fraud"].mean()) if len(frauds) else None,
                "frauds": len(frauds),
            }
        )
    served = pd.to_numeric(rows["model_version"], errors="coerce").ffill()
    versions = []
    for index, version in served.items():
        if pd.notna(version) and (not versions or versions[-1]["version"] != int(version)):
            versions.append({"start": int(index), "version": int(version)})
    return {"rows": len(rows), "phases": phases, "recall": recall, "versions": versions}


def moments(traffic: Mapping[str, Any]) -> dict[str, int]:
    """The rows where the story turns: drift starts, retraining starts, a new version serves.

    Retraining starts when the drifted phase ends (the monitor flagged that window, and the tour
    retrains before sending more); the promotion shows where the first row served by a later
    version than the first one is. No traffic flows while the tour retrains, so the two often
    fall on the same row: they then share one mark (two lines on one row hide each other).

    Returns:
        label -> row number, in row order.
    """
    phases = {p["name"]: p for p in traffic.get("phases", [])}
    marks: list[tuple[int, str]] = []
    if "drifted" in phases:
        marks.append((phases["drifted"]["start"], "concept drift starts"))
        marks.append((phases["drifted"]["end"], "monitor asks for retraining"))
    versions = traffic.get("versions", [])
    if len(versions) > 1:
        marks.append((versions[1]["start"], f"v{versions[1]['version']} promoted and serving"))
    merged: dict[int, list[str]] = {}
    for row, label in sorted(marks):
        merged.setdefault(row, []).append(label)
    return {"; ".join(labels): row for row, labels in merged.items()}


def relative_href(target: str | Path, page_dir: Path) -> str:
    """A link from a page in ``page_dir`` to the file ``target``, relative and URL-quoted."""
    return quote(Path(os.path.relpath(Path(target), page_dir)).as_posix())


def mlflow_run_url(ui: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI's page of one run."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


# -- figures ---------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _legend_outside(ax: Any) -> Any:
    """The legend right of the axes, never over the data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def offline_figure(results: Mapping[str, Any]) -> Any | None:
    """Grouped bars: each level's offline test figures, values written on the bars."""
    levels = [(key, label) for key, label in _level_models(results) if key in results]
    if not levels:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / len(levels)
    for k, (key, label) in enumerate(levels):
        xs = [i + width * k for i in range(len(METRICS))]
        bars = ax.bar(xs, [results[key][m] for m, _ in METRICS], width, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(
        [i + width * (len(levels) - 1) / 2 for i in range(len(METRICS))],
        [name for _, name in METRICS],
    )
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("on the test part")
    ax.set_title("Offline figures by level (newest rows, never trained on)")
    _legend_outside(ax)
    return fig


def _level_models(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("level0", "Level 0 (by hand)"), ("level1", "Level 1 (pipeline winner)")]


def traffic_figure(traffic: Mapping[str, Any]) -> Any | None:
    """Live recall by block above the served model version (integer axis), with the drift, the
    retraining and the promotion marked on both."""
    if not traffic.get("rows"):
        return None
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 4.8), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    points = [b for b in traffic["recall"] if b["recall"] is not None]
    top.plot(
        [(b["start"] + b["end"]) / 2 for b in points],
        [b["recall"] for b in points],
        marker="o",
        color="#2c3e50",
        label="live recall (per block)",
    )
    top.set_ylim(0, 1.05)
    top.set_ylabel("live recall")
    top.set_title("Live traffic: recall of the served model, and which version served")
    versions = traffic["versions"]
    xs = [v["start"] for v in versions] + [traffic["rows"]]
    ys = [v["version"] for v in versions]
    if ys:
        bottom.step(xs, [*ys, ys[-1]], where="post", color="#2c3e50", label="served version")
        numbers = sorted(set(ys))
        bottom.set_yticks(numbers, [f"v{n}" for n in numbers])
        bottom.set_ylim(numbers[0] - 0.5, numbers[-1] + 0.5)
    bottom.set_ylabel("model version")
    bottom.set_xlabel("transactions sent")
    for k, phase in enumerate(traffic["phases"]):
        for ax in (top, bottom):
            ax.axvspan(phase["start"], phase["end"], color="#000", alpha=0.04 * (k % 2))
        # Above the axes, between the title and the data: never over a point.
        top.text(
            (phase["start"] + phase["end"]) / 2,
            1.02,
            PHASES.get(phase["name"], phase["name"]),
            transform=top.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
            color="#555",
        )
    top.set_title(top.get_title(), pad=16)
    for (label, x), colour in zip(moments(traffic).items(), _MOMENT_COLOURS, strict=False):
        for ax in (top, bottom):
            ax.axvline(x, color=colour, linestyle="--", label=label if ax is top else None)
    _legend_outside(top)
    return fig


def monitoring_figure(monitoring: Sequence[Mapping[str, Any]]) -> Any | None:
    """Each monitoring window's drift share, score drift and live recall; retrain verdicts
    marked."""
    if not monitoring:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    x = list(range(len(monitoring)))
    ax.plot(x, [m["drift_share"] or 0 for m in monitoring], marker="o", label="drift share")
    ax.plot(x, [m["score_distance"] or 0 for m in monitoring], marker="s", label="score drift")
    ax.plot(x, [m["recall"] or 0 for m in monitoring], marker="^", label="live recall")
    retrain = [i for i, m in enumerate(monitoring) if m["retrain"]]
    if retrain:
        ax.scatter(
            retrain,
            [1.0] * len(retrain),
            marker="v",
            s=90,
            color=_MOMENT_COLOURS[0],
            label="verdict: retrain",
            zorder=3,
        )
    ax.set_xticks(x, [f"{m['phase']}\nserved v{m['model_version']}" for m in monitoring])
    ax.set_xlim(-0.4, len(monitoring) - 0.6)
    ax.set_ylim(0, 1.1)
    ax.set_title("Monitoring windows (fraudops monitor)")
    _legend_outside(ax)
    return fig


def figure_png(fig: Any) -> str:
    """A figure as a base64 PNG (the caller closes the figure)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _img(fig: Any | None, alt: str) -> str:
    if fig is None:
        return ""
    try:
        data = figure_png(fig)
    finally:
        _pyplot().close(fig)
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


# -- HTML ------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _a(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table; cells are HTML already (escape text before)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)

    def cell(c: str) -> str:
        return f'<td class="num">{c}</td>' if _NUMBER.fullmatch(c) else f"<td>{c}</td>"

    body = "".join("<tr>" + "".join(map(cell, row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(key: str, body: str) -> str:
    title = dict(SECTIONS)[key]
    return f'<section id="{key}"><h2>{html.escape(title)}</h2>{body}</section>'


def _adds(text: str) -> str:
    return f'<p class="adds"><b>What this level adds:</b> {text}</p>'


def _metrics_table(results: Mapping[str, Any]) -> str:
    rows = [
        [html.escape(label), *(_num(results[key][m]) for m, _ in METRICS)]
        for key, label in _level_models(results)
        if key in results
    ]
    return _table(["", *(name for _, name in METRICS)], rows) if rows else ""


def _file_link(results: Mapping[str, Any], label: str, page_dir: Path) -> str:
    path = (results.get("files") or {}).get(label)
    return _a(relative_href(path, page_dir), label) if path else html.escape(label)


def _tour(results: Mapping[str, Any], timings: Sequence[tuple[str, float]]) -> str:
    size = results.get("data") or {}
    rows = f"{size['rows']:,} synthetic transactions" if "rows" in size else "synthetic data"
    total = sum(seconds for _, seconds in timings)
    return (
        f"<p>One run of {_code('fraudops demo' + (' --quick' if size.get('quick') else ''))} "
        f"on {rows} with the <code>creditcard.csv</code> schema, offline, in {total:.0f} s. "
        "The same library (<code>shared/fraudops</code>) runs at every level; each level adds "
        "orchestration around it. Figures are average precision first (fraud is rare, so "
        "accuracy says nothing), then ROC-AUC, precision and recall at the threshold chosen on "
        "the validation part.</p>"
    )


def _level0(results: Mapping[str, Any], page_dir: Path) -> str:
    if "level0" not in results:
        return "<p>Level 0 did not run.</p>"
    m = results["level0"]
    return (
        "<p><b>What ran:</b> <code>fraudops data generate</code> wrote the transactions; "
        f"<code>level0/train.py</code> trained a model and saved it as a file "
        f"({_file_link(results, 'Level 0 model file', page_dir)}), which is handed over by hand "
        "to <code>level0/predict.py</code>, which scored a batch "
        f"({_file_link(results, 'scored batch', page_dir)}).</p>"
        f"<p><b>Figures:</b> average precision {_num(m['average_precision'])}, ROC-AUC "
        f"{_num(m['roc_auc'], 4)}, precision {_num(m['precision'])} and recall "
        f"{_num(m['recall'])} on the test part.</p>"
        + _adds(
            "a model at all. Nothing else: no record of which data or settings made it, no "
            "comparison with the model it replaces, and nobody notices when it gets worse."
        )
    )


def _budget_verdict(comparison: Mapping[str, Any]) -> str:
    """What the equal-budget comparison of this run says, and where the curve over budgets is."""
    budget, d = comparison.get("budget"), comparison.get("ap_difference")
    if not budget or not d:
        return ""
    better = comparison.get("better")
    said = (
        f"<b>{html.escape(str(better))}</b> is better: the interval excludes zero"
        if better in ("custom", "automl")
        else "the test part cannot tell them apart: the interval includes zero"
    )
    diff = d.get("custom_minus_automl", 0.0)
    return (
        f"<p><b>Equal budgets:</b> both had {budget['seconds']:g} s and at most "
        f"{budget['trials']} trials of {budget['cv_folds']}-fold CV. AP custom − AutoML "
        f"{diff:+.3f}, 95 % bootstrap interval {d['low']:+.3f} .. {d['high']:+.3f}: {said}. "
        "How the answer moves with the budget, on this data and on the real sample, is "
        "<code>benchmarks/results/automl_vs_custom.md</code> "
        "(<code>python -m benchmarks automl_vs_custom</code>).</p>"
    )


def _level1(results: Mapping[str, Any], page_dir: Path) -> str:
    if "level1" not in results:
        return "<p>Level 1 did not run.</p>"
    m, parts = results["level1"], []
    comparison = results.get("level1_comparison") or {}
    parts.append(
        "<p><b>What ran:</b> <code>dvc repro</code>, the pipeline of <code>dvc.yaml</code>: "
        "ingest, validate, a time-ordered split, a custom search (imblearn pipelines, "
        "cross-validated) and FLAML's AutoML on the same budget, evaluation on the test part, "
        "then registration in the MLflow registry behind a promotion gate "
        f"({_file_link(results, 'comparison table', page_dir)}, "
        f"{_file_link(results, 'metrics.json', page_dir)}).</p>"
    )
    if comparison:
        parts.append(
            f"<p>The custom search scored average precision {_num(comparison.get('custom'))}, "
            f"AutoML {_num(comparison.get('automl'))}; the winner "
            f"(<b>{html.escape(str(comparison.get('winner')))}</b>) became "
            f"<code>@champion</code> v{html.escape(str(results.get('level1_champion')))}.</p>"
        )
        parts.append(_budget_verdict(comparison))
    if "level0" in results:
        delta = m["average_precision"] - results["level0"]["average_precision"]
        parts.append(
            f"<p><b>Figures:</b> average precision {_num(m['average_precision'])} "
            f"({delta:+.3f} against Level 0), ROC-AUC {_num(m['roc_auc'], 4)}, precision "
            f"{_num(m['precision'])}, recall {_num(m['recall'])}.</p>"
        )
    parts.append(_metrics_table(results))
    parts.append(_img(offline_figure(results), "offline figures by level"))
    ct = results.get("level1_ct")
    if ct:
        before, after = ct["champion"]
        verdict = "rejected it before any training" if ct["rejected"] else "did NOT reject it"
        parts.append(
            "<p><b>Continuous training:</b> a broken batch (a column lost, a negative amount) "
            f"arrived in <code>data/incoming</code>; <code>fraudops ct --once</code> {verdict} "
            f"({html.escape(ct['reason'])}), and the champion stayed v{before} -> "
            f"v{after}.</p>"
        )
    parts.append(
        _adds(
            "the same steps every time, from versioned data (DVC) to a tracked run and a "
            "registered model (MLflow) with its figures; a model replaces the champion only if "
            "it is as good on the same holdout; new data is checked before it can train "
            "anything."
        )
    )
    return "".join(parts)


def _monitoring_rows(results: Mapping[str, Any], page_dir: Path) -> list[list[str]]:
    rows = []
    for m in results.get("monitoring", []):
        verdict = (
            '<span class="retrain">RETRAIN</span>' if m["retrain"] else '<span class="ok">ok</span>'
        )
        report = m.get("report")
        rows.append(
            [
                html.escape(m["phase"]),
                f"v{html.escape(str(m['model_version']))}",
                verdict,
                _num(m["recall"]),
                f"{m['n_labels']:,}",
                _num(m["drift_share"]),
                _num(m["score_distance"]),
                html.escape("; ".join(m["reasons"])),
                _a(relative_href(report, page_dir), "report") if report else "-",
            ]
        )
    return rows


def _level2(results: Mapping[str, Any], page_dir: Path) -> str:
    if "monitoring" not in results:
        return "<p>Level 2 did not run.</p>"
    parts = [
        "<p><b>What ran:</b> the champion was served with BentoML "
        f"(<code>fraudops serve</code>, v{html.escape(str(results.get('served_before')))}); "
        "<code>fraudops simulate</code> sent calm traffic, then traffic with a new fraud pattern "
        "(concept drift), with labels coming back later like chargebacks; "
        "<code>fraudops monitor</code> judged each window; <code>fraudops retrain</code> turned "
        "the labeled production traffic into a new data version, ran the Level 1 pipeline, gated "
        "and promoted; the service reloaded the new champion without a restart.</p>",
        _img(traffic_figure(results.get("traffic") or {}), "live recall and served version"),
        _table(
            [
                "window",
                "served",
                "verdict",
                "live recall",
                "labels",
                "drift share",
                "score drift",
                "reasons",
                "report",
            ],
            _monitoring_rows(results, page_dir),
        ),
        _img(monitoring_figure(results["monitoring"]), "monitoring windows"),
    ]
    rt = results.get("retrain")
    if rt:
        statuses = ", ".join(html.escape(o["status"]) for o in rt["runs"])
        parts.append(
            f"<p><b>Retraining:</b> two retrainings started at once ({statuses}): they share a "
            f"lock, so {rt['retrainings']} retrained and {rt['promotions']} promoted; "
            + (
                f"the champion went from v{results.get('served_before')} to v{rt['champion']}."
                if rt["champion"]
                else "the champion did not change."
            )
            + "</p>"
        )
    lr = results.get("live_recall")
    if lr:
        parts.append(
            f"<p><b>Figures:</b> live recall {_num(lr['before_drift'])} before the drift, "
            f"{_num(lr['drifted_before_retraining'])} on drifted traffic, "
            f"{_num(lr['drifted_after_retraining'])} on drifted traffic after retraining "
            f"(recovered: {results.get('recovered')}).</p>"
        )
    same = results.get("same_rows") or {}
    if "new_champion" in same:
        parts.append(
            f"<p>On the same {same['rows']:,} drifted rows ({same['frauds']} frauds) the old "
            f"champion v{same['old_champion']['version']} catches "
            f"{same['old_champion']['recall']:.3f} of the frauds, the new champion "
            f"v{same['new_champion']['version']} {same['new_champion']['recall']:.3f}.</p>"
        )
    parts.append(
        _adds(
            "the loop closes by itself: every prediction is logged and joined to its label, "
            "drift and live quality are measured on production traffic, a drop triggers "
            "retraining on that traffic, and the new model is tested, gated, delivered and "
            "reloaded without a person in between (GitHub Actions run the same steps: "
            "<code>make act</code>)."
        )
    )
    return "".join(parts)


def _links(results: Mapping[str, Any], page_dir: Path) -> str:
    items = []
    board = results.get("dashboard") or {}
    start, address = board.get("start", DASHBOARD_START), board.get("url", DASHBOARD_DEFAULT)
    items.append(
        "Evidently dashboard (every monitoring run over time): start it with "
        f"{_code(start)} (or <code>fraudops demo --dashboard</code> at the end of a tour) and "
        f"open {_a(address, address)}."
    )
    for m in results.get("monitoring", []):
        if m.get("report"):
            items.append(
                f"Monitoring report, {html.escape(m['phase'])}: "
                + _a(relative_href(m["report"], page_dir), "report.html")
            )
    mlflow = results.get("mlflow") or {}
    registry = results.get("registry") or []
    if registry:
        start = mlflow.get("start")
        items.append(
            "MLflow runs of the registered versions"
            + (f" (start the UI with {_code(start)})" if start else "")
            + ":"
            + _table(
                ["version", "aliases", "MLflow run", "artifacts"],
                [
                    [
                        f"v{html.escape(str(v['version']))}",
                        html.escape(", ".join(f"@{a}" for a in v.get("aliases", []))),
                        _a(
                            mlflow_run_url(mlflow["ui"], v["experiment_id"], v["run_id"]),
                            v["run_id"][:12],
                        )
                        if mlflow.get("ui") and v.get("run_id") and v.get("experiment_id")
                        else "-",
                        _a(relative_href(v["artifacts"], page_dir), "folder")
                        if v.get("artifacts")
                        else "-",
                    ]
                    for v in registry
                ],
            )
        )
    for label, path in (results.get("files") or {}).items():
        items.append(_a(relative_href(path, page_dir), label))
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def page_html(
    results: Mapping[str, Any],
    timings: Sequence[tuple[str, float]],
    *,
    page_dir: Path,
    summary_text: str = "",
) -> str:
    """The whole demo page.

    Args:
        results: the tour's results (see the module docstring for the keys it reads).
        timings: (step title, seconds) for each step of the tour, in order.
        page_dir: the folder the page will be written to; links to files are relative to it.
        summary_text: the summary table the command printed, shown at the end.

    Returns:
        The page, a complete HTML document that loads nothing from the network.
    """
    steps = _table(
        ["step", "seconds"],
        [[html.escape(title), f"{seconds:.1f}"] for title, seconds in timings]
        + [["in all", f"{sum(s for _, s in timings):.1f}"]],
    )
    sections = [
        _section("tour", _tour(results, timings)),
        _section("level0", _level0(results, page_dir)),
        _section("level1", _level1(results, page_dir)),
        _section("level2", _level2(results, page_dir)),
        _section("links", _links(results, page_dir)),
        _section("timings", steps),
        _section("summary", f"<pre>{html.escape(summary_text)}</pre>"),
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>fraudops demo: the maturity tour</title><style>{_STYLE}</style></head>"
        "<body><h1>fraudops demo: three MLOps maturity levels on fraud detection</h1>"
        + "".join(sections)
        + "</body></html>\n"
    )
