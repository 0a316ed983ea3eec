"""Stage ``register``: the winner becomes a new registry version and faces the promotion gate.

The winning candidate's logged model is registered as a new version of ``fraud-detector``
(tagged with its operating threshold and lineage) and given the ``@challenger`` alias. The
gate then scores ``@champion`` and the challenger on the same holdout (this data version's
test part), each at its own threshold, and moves ``@champion`` only if the challenger is not
worse (see :mod:`fraudops.gate`); the decision goes to the promotion log and to
``reports/registration.json``. When only evaluation or gate settings changed, the winning run
is the same: its existing version is judged again rather than registered twice.

    python -m level1.stages.register --metrics reports/metrics.json \
        --custom-report reports/train_custom.json --automl-report reports/train_automl.json \
        --test data/split/test.parquet --out reports/registration.json
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from fraudops.params import ParamsError, load_section

from .common import CANDIDATES, read_json, write_json


@dataclass(frozen=True)
class RegisterParams:
    """Section ``register`` of ``params.yaml``: the promotion gate's rule.

    Attributes:
        ap_tolerance: how far below the champion's average precision a challenger may be.
        max_recall_drop: how much recall (at each model's own threshold) it may lose.
    """

    ap_tolerance: float
    max_recall_drop: float

    def __post_init__(self) -> None:
        if self.ap_tolerance < 0 or self.max_recall_drop < 0:
            raise ParamsError(
                "params.yaml section 'register': ap_tolerance and max_recall_drop must be >= 0, "
                f"got {self.ap_tolerance} and {self.max_recall_drop}"
            )


def register_winner(
    metrics: dict[str, Any],
    reports: dict[str, dict[str, Any]],
    holdout: pd.DataFrame,
    params: RegisterParams,
    *,
    holdout_name: str,
) -> dict[str, Any]:
    """Register the evaluation's winner, make it ``@challenger`` and run the promotion gate.

    Args:
        metrics: ``reports/metrics.json`` (names the winner and its test metrics).
        reports: candidate -> its training report (run id, model URI, threshold, lineage).
        holdout: the rows both champion and challenger are scored on.
        params: the gate's rule.
        holdout_name: how the holdout is named in the promotion log.

    Returns:
        The registration record: version, candidate, lineage, champion before and after, and
        the gate's decision.
    """
    from fraudops import gate, registry

    winner = metrics["winner"]
    report = reports[winner]
    champion_before = registry.version_of(registry.CHAMPION)
    rule = gate.GateRule(ap_tolerance=params.ap_tolerance, max_recall_drop=params.max_recall_drop)
    # A rerun that only changed evaluation or gate settings has the same winning run: judge its
    # existing version again instead of registering the same model twice.
    version = next(
        (
            v["version"]
            for v in registry.list_versions()
            if v["tags"].get("run_id") == report["run_id"]
        ),
        None,
    )
    if version is None:
        tags = {
            "threshold": f"{report['threshold']:.6g}",
            "candidate": winner,
            "estimator": report["estimator"],
            "average_precision": f"{metrics[winner]['average_precision']:.6g}",
            "recall": f"{metrics[winner]['recall']:.6g}",
            "run_id": report["run_id"],
            "data_md5": report["data_md5"],
            "git_commit": report["git_commit"],
        }
        version = registry.register(report["model_uri"], tags=tags)  # also sets @challenger
    if version == champion_before:
        decision = {
            "promote": False,
            "action": "unchanged",
            "reason": f"version {version} (run {report['run_id']}) is already the champion",
        }
    else:
        registry.set_alias(registry.CHALLENGER, version)
        decision = gate.run_gate(version, holdout, rule, holdout_name=holdout_name)
    return {
        "version": version,
        "model": registry.MODEL_NAME,
        "candidate": winner,
        "model_uri": report["model_uri"],
        "run_id": report["run_id"],
        "threshold": report["threshold"],
        "data_md5": report["data_md5"],
        "rule": asdict(rule),
        "champion_before": champion_before,
        "champion_after": registry.version_of(registry.CHAMPION),
        "decision": decision,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", type=Path, required=True)
    for name in CANDIDATES:
        parser.add_argument(f"--{name}-report", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True, help="the gate's holdout")
    parser.add_argument("--out", type=Path, required=True, help="registration record (.json)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)

    from fraudops import tracking
    from fraudops.data import load

    params = load_section(RegisterParams, "register", args.params)
    reports = {name: read_json(getattr(args, f"{name}_report")) for name in CANDIDATES}
    holdout_name = f"{args.test}@{tracking.file_md5(args.test)[:12]}"
    record = register_winner(
        read_json(args.metrics), reports, load(args.test), params, holdout_name=holdout_name
    )
    write_json(args.out, record)
    decision = record["decision"]
    verdict = "promoted to @champion" if decision.get("promote") else "stays @challenger"
    print(
        f"register: {record['model']} version {record['version']} ({record['candidate']}) "
        f"{verdict}: {decision.get('reason')}\n"
        f"register: @champion {record['champion_before']} -> {record['champion_after']}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
