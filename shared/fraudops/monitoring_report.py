"""The HTML report of a monitoring run: the decision first, then Evidently's details.

Evidently's own report opens with its first metric ("Drift in column 'V1'"), so a person who
opens the report of the run that decided to retrain learns why only after scrolling through every
feature. This page puts first what an on-call person needs: the verdict (retrain or not), the
reasons :func:`fraudops.monitoring.decide` gave, and the live figures beside the champion's
offline ones; Evidently's report follows, unchanged, in the same file. A window too small for a
drift verdict still gets a page, with the decision and no Evidently part.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

#: The id of the decision section (the tests look for it, and a link can point at it).
SECTION_ID = "fraudops-decision"

_STYLE = (
    "font-family: system-ui, sans-serif; margin: 1em 1.5em; padding: 1em 1.5em; "
    "border-left: 6px solid {colour}; background: #fafafa"
)


def _number(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, live, champion offline) rows of the decision section's table."""
    perf = summary.get("performance") or {}
    offline = summary.get("champion_offline") or {}
    drift = summary.get("drift")
    latency = summary.get("latency") or {}
    rows = [
        ("recall", _number(perf.get("recall")), _number(offline.get("recall"))),
        ("precision", _number(perf.get("precision")), _number(offline.get("precision"))),
        (
            "average precision",
            _number(perf.get("average_precision")),
            _number(offline.get("average_precision")),
        ),
        (
            "labels (frauds)",
            f"{perf.get('n_labels', 0):,} ({perf.get('n_fraud_labels', 0):,})",
            "",
        ),
        ("predictions in the window", f"{summary.get('n_predictions', 0):,}", ""),
    ]
    if drift is not None:
        rows += [
            (
                "features drifted",
                f"{len(drift.get('drifted_features', []))} ({drift['drift_share']:.0%}); "
                f"dataset drift: {'yes' if drift['dataset_drift'] else 'no'}",
                "",
            ),
            (
                "score distance (Wasserstein)",
                f"{_number(drift.get('score_distance'))}; "
                f"score drift: {'yes' if drift.get('score_drift') else 'no'}",
                "",
            ),
        ]
    rows.append(
        (
            "latency p50 / p99 (ms)",
            f"{_number(latency.get('p50_ms'), 2)} / {_number(latency.get('p99_ms'), 2)}",
            "",
        )
    )
    return rows


def decision_section(summary: Mapping[str, Any], *, details: bool = True) -> str:
    """The verdict, its reasons and the live figures against the champion's, as HTML.

    Args:
        summary: a monitoring summary.
        details: whether Evidently's report follows (the section then says so).
    """
    retrain = bool(summary.get("retrain"))
    verdict = "Retrain" if retrain else "No retraining needed"
    colour = "#c62828" if retrain else "#2e7d32"
    version = summary.get("model_version") or "unknown"
    reasons = "".join(f"<li>{html.escape(str(r))}</li>" for r in summary.get("reasons", []))
    table = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(live)}</td>"
        f"<td>{html.escape(offline)}</td></tr>"
        for name, live, offline in _rows(summary)
    )
    when = html.escape(str(summary.get("time", "")))
    return (
        f'<section id="{SECTION_ID}" style="{_STYLE.format(colour=colour)}">'
        f'<h1 style="color: {colour}; margin-top: 0">{verdict}</h1>'
        f"<p>Monitoring run of {when}, model version {html.escape(str(version))}.</p>"
        f"<h2>Why</h2><ul>{reasons}</ul>"
        "<h2>Live against the champion's offline figures</h2>"
        '<table style="border-collapse: collapse" cellpadding="4">'
        "<tr><th align='left'>figure</th><th align='left'>live (labeled rows of the window)</th>"
        f"<th align='left'>champion offline</th></tr>{table}</table>"
        + ("<p>Details follow: Evidently's drift report on the same window.</p>" if details else "")
        + "</section>"
    )


def report_html(summary: Mapping[str, Any], snapshot: Any | None) -> str:
    """The whole page: :func:`decision_section`, then Evidently's standalone report, if any.

    Args:
        summary: a monitoring summary (:func:`fraudops.monitoring.summarize`).
        snapshot: Evidently's snapshot of the window, or ``None`` (too small for drift).
    """
    section = decision_section(summary, details=snapshot is not None)
    if snapshot is None:
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            "<title>fraudops monitoring</title></head><body>"
            f"{section}<p style='margin: 1em 1.5em'>No Evidently report: the window was too "
            "small for a drift verdict.</p></body></html>"
        )
    page = snapshot.get_html_str(as_iframe=False)
    body = re.search(r"<body[^>]*>", page, flags=re.IGNORECASE)
    if body is None:  # not the page shape Evidently 0.7 writes: keep the decision first anyway
        return section + page
    return page[: body.end()] + section + page[body.end() :]
