"""The promotion gate: does a challenger replace the champion?

:func:`decide` is the rule, a pure function of two metric sets, so it can be tested exhaustively.
:func:`run_gate` is the thin wrapper that loads both models from the registry, scores them on the
*same* holdout (each at its own operating threshold), decides, and records the decision.

The rule: with no champion, the first model is promoted. Otherwise the challenger must not lose
more than ``ap_tolerance`` of average precision (the threshold-free ranking quality) nor more than
``max_recall_drop`` of recall at its operating threshold (the share of frauds actually stopped).
A small tolerance lets a retrained model on fresher data through when it is as good within noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pandas as pd

from fraudops import registry
from fraudops.metrics import evaluate
from fraudops.split import xy

#: The metrics the rule compares (keys of :func:`fraudops.metrics.evaluate`'s result).
AP = "average_precision"
RECALL = "recall"
#: Metrics copied to the challenger version's tags (``gate.challenger.<name>``...).
TAGGED_METRICS = (AP, RECALL, "precision", "threshold")


@dataclass(frozen=True)
class GateRule:
    """How much worse than the champion a challenger may be and still be promoted.

    Attributes:
        ap_tolerance: allowed loss of average precision (0.01 = one point).
        max_recall_drop: allowed loss of recall at the operating threshold.
    """

    ap_tolerance: float
    max_recall_drop: float

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"GateRule.{name} must be a finite number >= 0, got {value!r}")


class Decision(NamedTuple):
    """The gate's verdict and why, with the numbers."""

    promote: bool
    reason: str


def _metric(metrics: Mapping[str, Any], key: str, who: str) -> float:
    if key not in metrics:
        raise ValueError(f"{who} metrics lack '{key}' (have: {sorted(metrics)})")
    return float(metrics[key])


def decide(
    challenger: Mapping[str, Any], champion: Mapping[str, Any] | None, rule: GateRule
) -> Decision:
    """Apply the promotion rule.

    Args:
        challenger: the challenger's metrics on the holdout (needs ``average_precision``, ``recall``).
        champion: the champion's metrics on the same holdout, or ``None`` when there is no champion.
        rule: the tolerances.

    Returns:
        ``Decision(promote, reason)``; a refusal names every check that failed, with the numbers.
        A NaN metric never passes a check.
    """
    ap = _metric(challenger, AP, "challenger")
    recall = _metric(challenger, RECALL, "challenger")
    if champion is None:
        return Decision(True, f"first model: no champion yet (average precision {ap:.4f})")

    champion_ap = _metric(champion, AP, "champion")
    champion_recall = _metric(champion, RECALL, "champion")
    ap_floor = champion_ap - rule.ap_tolerance
    recall_floor = champion_recall - rule.max_recall_drop
    checks = (
        (
            ap >= ap_floor,
            f"average precision {ap:.4f}",
            f"{ap_floor:.4f} (champion {champion_ap:.4f} - tolerance {rule.ap_tolerance:.4f})",
        ),
        (
            recall >= recall_floor,
            f"recall {recall:.4f}",
            f"{recall_floor:.4f} (champion {champion_recall:.4f} - "
            f"allowed drop {rule.max_recall_drop:.4f})",
        ),
    )
    failed = [f"{value} < {floor}" for ok, value, floor in checks if not ok]
    if failed:
        return Decision(False, "; ".join(failed))
    return Decision(True, " and ".join(f"{value} >= {floor}" for _, value, floor in checks))


def run_gate(
    challenger_version: str | int,
    holdout: pd.DataFrame,
    rule: GateRule,
    *,
    holdout_name: str,
    sample_weight: Any = None,
) -> dict[str, Any]:
    """Score the challenger and the champion on one holdout, decide, record, promote on success.

    Each model is scored at its own ``threshold`` tag, the operating point it would serve with.
    The decision goes to the promotion log (one line: ``promote`` or ``refuse``) and to the
    challenger version's tags (``gate.decision``, ``gate.reason``, ``gate.champion_version``,
    ``gate.holdout``, ``gate.time``, ``gate.challenger.<metric>``, ``gate.champion.<metric>``).
    A promotion fails (and nothing is recorded) if another process moved ``@champion`` while
    the gate was scoring.

    Args:
        challenger_version: the registered version (or alias) to judge.
        holdout: labelled transactions neither model was trained on (FEATURES and ``Class``).
        rule: the tolerances.
        holdout_name: what the holdout is (a path, a DVC data version), kept in the record.
        sample_weight: optional row weights (e.g. to turn a subsample into population figures).

    Returns:
        The decision record written to the promotion log, plus ``promote`` (bool).

    Raises:
        ValueError: the holdout has no fraud (average precision and recall are undefined).
        fraudops.registry.RegistryError: the challenger is unknown or already the champion, a
            version lacks its ``threshold`` tag, or the champion changed during the gate.
    """
    challenger = registry.version_info(challenger_version)
    champion_version = registry.version_of(registry.CHAMPION)
    if champion_version == challenger["version"]:
        raise registry.RegistryError(
            f"version {champion_version} is already the champion: there is nothing to gate"
        )
    X, y = xy(holdout)
    if int(y.sum()) == 0:
        raise ValueError(
            f"holdout {holdout_name!r} has no fraud among its {len(y)} rows: "
            "average precision and recall are undefined, so the gate cannot compare models"
        )

    def score(info: dict[str, Any]) -> dict[str, Any]:
        model = registry.load_model(info["version"])
        scores = model.predict_proba(X)[:, 1]
        return evaluate(y, scores, info["threshold"], sample_weight=sample_weight)

    challenger_metrics = score(_with_threshold(challenger))
    champion = None if champion_version is None else registry.version_info(champion_version)
    champion_metrics = None if champion is None else score(_with_threshold(champion))
    decision = decide(challenger_metrics, champion_metrics, rule)

    details = {
        "holdout": holdout_name,
        "rows": len(y),
        "frauds": int(y.sum()),
        "rule": asdict(rule),
        "challenger": challenger_metrics,
        "champion": champion_metrics,
    }
    if decision.promote:
        record = registry.promote(
            challenger["version"],
            reason=decision.reason,
            metrics=challenger_metrics,
            actor="gate",
            expected_champion=champion_version,
            details={"gate": details},
        )
    else:
        record = registry.append_log(
            {
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "action": "refuse",
                "version": challenger["version"],
                "previous_champion": champion_version,
                "reason": decision.reason,
                "actor": "gate",
                "metrics": challenger_metrics,
                "gate": details,
            }
        )
    registry.set_tags(challenger["version"], _decision_tags(record, details))
    return {**record, "promote": decision.promote}


def _with_threshold(info: dict[str, Any]) -> dict[str, Any]:
    if info["threshold"] is None:
        raise registry.RegistryError(
            f"version {info['version']} has no 'threshold' tag: the gate cannot know the "
            "operating point it would serve with"
        )
    return info


def _decision_tags(record: Mapping[str, Any], details: Mapping[str, Any]) -> dict[str, str]:
    tags = {
        "gate.decision": record["action"],
        "gate.reason": record["reason"],
        "gate.champion_version": record["previous_champion"] or "none",
        "gate.holdout": details["holdout"],
        "gate.time": record["time"],
    }
    for who in ("challenger", "champion"):
        for name in TAGGED_METRICS:
            if details[who] is not None:
                tags[f"gate.{who}.{name}"] = str(float(details[who][name]))
    return tags
