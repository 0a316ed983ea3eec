"""``fraudops registry``: look at the model registry, promote a version, roll back, read the log.

MLflow is imported only when a registry command runs, so ``fraudops --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from fraudops.cli import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``registry list | promote | rollback | log`` to the command line."""
    parser = subparsers.add_parser(
        "registry",
        help="the model registry: list versions, promote, roll back, promotion log",
        description=(
            "The MLflow registry of 'fraud-detector' with its @champion and @challenger aliases. "
            "The store is $MLFLOW_TRACKING_URI, else $FRAUDOPS_STATE_DIR/mlflow.db (default var/)."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        help="every version with its aliases and figures",
        description="Print every version: aliases, creation time, average precision, recall, "
        "threshold, estimator and run id (from the version's tags, else its run's metrics).",
    )
    listing.set_defaults(func=_wrap(cmd_list))

    promote = actions.add_parser(
        "promote",
        help="make a version the champion (bypasses the gate; logged)",
        description="Move @champion to VERSION by hand. The replaced champion is remembered, "
        "so 'fraudops registry rollback' can undo it; the move goes to the promotion log.",
    )
    promote.add_argument("version", metavar="VERSION", help="a version number, or an alias")
    promote.add_argument(
        "--reason", metavar="TEXT", default="manual promotion", help="why (kept in the log)"
    )
    promote.set_defaults(func=_wrap(cmd_promote))

    rollback = actions.add_parser(
        "rollback",
        help="give @champion back to the previous champion (logged)",
        description="Make the champion that the current one replaced the champion again.",
    )
    rollback.add_argument(
        "--reason", metavar="TEXT", default="rollback", help="why (kept in the log)"
    )
    rollback.set_defaults(func=_wrap(cmd_rollback))

    log = actions.add_parser(
        "log",
        help="the promotion history: every gate decision, promotion and rollback",
        description="Print the promotion log ($FRAUDOPS_STATE_DIR/promotion_log.jsonl), oldest first.",
    )
    log.add_argument("--last", type=int, metavar="N", help="only the N most recent entries")
    log.set_defaults(func=_wrap(cmd_log))


def _wrap(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the registry's refusals into clean command-line errors."""

    def run(args: argparse.Namespace) -> int:
        from fraudops.registry import RegistryError

        try:
            return command(args)
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc

    return run


def table(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> str:
    """Format rows as a plain-text table with left-aligned, padded columns."""
    cells = [list(columns), *([("-" if v is None else str(v)) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _figure(info: dict[str, Any], name: str) -> str | None:
    value = info["tags"].get(name, info["metrics"].get(name))
    try:
        return None if value is None else f"{float(value):.4f}"
    except ValueError:  # a hand-written tag: show it as it is
        return str(value)


def cmd_list(args: argparse.Namespace) -> int:
    """Print every version."""
    from fraudops import registry

    versions = registry.list_versions()
    if not versions:
        print(f"no version of {registry.MODEL_NAME} is registered yet")
        return 0
    rows = [
        (
            info["version"],
            ",".join(f"@{a}" for a in info["aliases"]) or None,
            info["created"].replace("T", " ")[:16],
            _figure(info, "average_precision"),
            _figure(info, "recall"),
            info["threshold"] if info["threshold"] is None else f"{info['threshold']:.4f}",
            info["tags"].get("estimator"),
            info["run_id"],
        )
        for info in versions
    ]
    columns = ("version", "aliases", "created", "AP", "recall", "threshold", "estimator", "run id")
    print(table(rows, columns))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Promote a version by hand."""
    from fraudops import registry

    record = registry.promote(args.version, reason=args.reason, actor="manual")
    was = record["previous_champion"] or "none"
    print(f"version {record['version']} is now @champion (was: {was})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Roll back to the previous champion."""
    from fraudops import registry

    record = registry.rollback(reason=args.reason)
    print(
        f"rolled back: version {record['version']} is @champion again (was: {record['previous_champion']})"
    )
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    """Print the promotion history."""
    from fraudops import registry

    records = registry.promotion_log()
    if args.last is not None:
        records = records[-args.last :] if args.last > 0 else []
    if not records:
        print(f"the promotion log is empty ({registry.log_path()})")
        return 0
    rows = [
        (
            r.get("time", "").replace("T", " ")[:19],
            r.get("action"),
            r.get("version"),
            r.get("previous_champion"),
            r.get("actor"),
            r.get("reason"),
        )
        for r in records
    ]
    print(table(rows, ("time", "action", "version", "champion before", "actor", "reason")))
    return 0
