"""The promotion gate: does a challenger replace the champion?

:func:`decide` is the rule, a pure function of two metric sets, so it can be tested exhaustively.
:func:`run_gate` is the thin wrapper that loads both models from the registry, scores them on the
*same* holdout (each at its own operating threshold), decides, and records the decision.

The rule: with no champion, the first model is promoted. Otherwise the challenger must not lose
more than ``ap_tolerance`` of average precision (the threshold-free ranking quality) nor more than
``max_recall_drop`` of recall at its operating threshold (the share of frauds actually stopped).
A small tolerance lets a retrained model on fresher data through when it is as good within noise.

The rule can be applied on several holdouts at once (:func:`decide_all`): the challenger must pass
on *every* one. The pipeline's holdout is the newest part of its data version; Level 2's
retraining adds the most recent labeled production window, which the challenger never trained
on, by naming it in ``$FRAUDOPS_GATE_EXTRA_HOLDOUT`` (the register stage runs inside
``dvc repro``, so an environment variable is how the retraining job reaches it without a second,
unrecorded gate). A model that is better on last month's holdout but worse on this week's
traffic is not promoted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
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
#: Extra holdouts (CSV or Parquet paths, separated by ``os.pathsep``) that :func:`run_gate`
#: also judges on when it is not given ``extra_holdouts``.
EXTRA_HOLDOUT_ENV = "FRAUDOPS_GATE_EXTRA_HOLDOUT"


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


def decide_all(
    results: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]], rule: GateRule
) -> Decision:
    """Apply the rule on several holdouts: promote only if the challenger passes on every one.

    Args:
        results: ``(holdout name, challenger metrics, champion metrics or None)`` per holdout.
        rule: the tolerances.

    Returns:
        The combined decision; with more than one holdout each part of the reason is prefixed
        with its holdout's name.

    Raises:
        ValueError: no holdout at all (nothing to judge on).
    """
    if not results:
        raise ValueError("decide_all: no holdout to judge the challenger on")
    decisions = [(name, decide(ch, champ, rule)) for name, ch, champ in results]
    if len(decisions) == 1:
        return decisions[0][1]
    promote = all(d.promote for _, d in decisions)
    shown = decisions if promote else [(n, d) for n, d in decisions if not d.promote]
    return Decision(promote, "; ".join(f"on {name}: {d.reason}" for name, d in shown))


def extra_holdouts_from_env() -> dict[str, pd.DataFrame]:
    """The holdouts named in ``$FRAUDOPS_GATE_EXTRA_HOLDOUT`` (none when unset).

    Raises:
        FileNotFoundError: a named file does not exist (a silent skip would weaken the gate).
    """
    from pathlib import Path

    from fraudops.data import load

    value = os.environ.get(EXTRA_HOLDOUT_ENV, "").strip()
    out: dict[str, pd.DataFrame] = {}
    for name in filter(None, value.split(os.pathsep)):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"${EXTRA_HOLDOUT_ENV} names {path}, which does not exist")
        out[str(path)] = load(path)
    return out


def run_gate(
    challenger_version: str | int,
    holdout: pd.DataFrame,
    rule: GateRule,
    *,
    holdout_name: str,
    sample_weight: Any = None,
    extra_holdouts: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """Score the challenger and the champion on the same holdout(s), decide, record, promote.

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
        extra_holdouts: more holdouts (name -> frame) the challenger must also pass on, such
            as the latest labeled production window; default: those named in
            ``$FRAUDOPS_GATE_EXTRA_HOLDOUT``. One without fraud cannot judge and is skipped
            (said in the record).

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

    if extra_holdouts is None:
        extra_holdouts = extra_holdouts_from_env()
    champion = None if champion_version is None else registry.version_info(champion_version)
    models = {
        info["version"]: registry.load_model(info["version"])
        for info in (_with_threshold(challenger), champion and _with_threshold(champion))
        if info is not None
    }

    def score(info: dict[str, Any] | None, X: pd.DataFrame, y: Any, weight: Any) -> Any:
        if info is None:
            return None
        scores = models[info["version"]].predict_proba(X)[:, 1]
        return evaluate(y, scores, info["threshold"], sample_weight=weight)

    challenger_metrics = score(challenger, X, y, sample_weight)
    champion_metrics = score(champion, X, y, sample_weight)
    results = [(holdout_name, challenger_metrics, champion_metrics)]
    extra: dict[str, Any] = {}
    for name, frame in extra_holdouts.items():
        X_extra, y_extra = xy(frame)
        if int(y_extra.sum()) == 0 or int(y_extra.sum()) == len(y_extra):
            extra[name] = {"rows": len(y_extra), "skipped": "needs both classes to compare"}
            continue
        c, ch = score(challenger, X_extra, y_extra, None), score(champion, X_extra, y_extra, None)
        results.append((name, c, ch))
        extra[name] = {
            "rows": len(y_extra),
            "frauds": int(y_extra.sum()),
            "challenger": c,
            "champion": ch,
        }
    decision = decide_all(results, rule)

    details = {
        "holdout": holdout_name,
        "rows": len(y),
        "frauds": int(y.sum()),
        "rule": asdict(rule),
        "challenger": challenger_metrics,
        "champion": champion_metrics,
    }
    if extra:
        details["extra_holdouts"] = extra
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
    # The production window's figures, under their own prefix (one extra holdout is the
    # Level 2 case; with more, the last one named wins the tags, all are in the log).
    for name, part in details.get("extra_holdouts", {}).items():
        tags["gate.extra_holdout"] = name
        for who in ("challenger", "champion"):
            if part.get(who) is not None:
                for metric in TAGGED_METRICS:
                    tags[f"gate.extra.{who}.{metric}"] = str(float(part[who][metric]))
    return tags
