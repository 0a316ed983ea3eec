"""Stage ``split``: time-ordered train / valid / test parts with a label-delay gap.

Fraud labels (chargebacks) arrive days after the transaction, and tomorrow's fraud is not
yesterday's: a random split would leak the future into training. The newest rows are the
test part, the ones before them the validation part (threshold choice), and rows within
``gap_seconds`` of each boundary are left out.

Labeled production data (``data/raw/feedback.parquet``, from ``fraudops retrain``) is split by
time *on its own*, with the same fractions, and each of its parts joins the matching part of the
base data. Split together with the base data, all of it would be newer than every base row and
land in the holdouts: after a concept drift the model would never train on the new fraud
pattern, however many labels came back. No gap is dropped there: those rows are labeled already.

    python -m level1.stages.split --data data/raw/transactions.parquet \
        --feedback data/raw/feedback.parquet --validation reports/validation.json --out data/split

``--validation`` is only read to make sure the data passed validation; it is a dependency so
that DVC runs ``validate`` first.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fraudops.params import ParamsError, load_section
from fraudops.schema import TARGET, TIME

from .common import read_json

PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitParams:
    """Section ``split`` of ``params.yaml``.

    Attributes:
        valid_fraction: share of the rows (by time) in the validation part.
        test_fraction: share of the newest rows in the test part.
        gap_seconds: label delay; rows this close to a boundary are dropped.
    """

    valid_fraction: float
    test_fraction: float
    gap_seconds: float

    def __post_init__(self) -> None:
        fractions = (self.valid_fraction, self.test_fraction)
        if min(fractions) <= 0 or sum(fractions) >= 1:
            raise ParamsError(
                "params.yaml section 'split': valid_fraction and test_fraction must be > 0 "
                f"and sum to less than 1, got {self.valid_fraction} and {self.test_fraction}"
            )
        if self.gap_seconds < 0:
            raise ParamsError(
                f"params.yaml section 'split': gap_seconds must be >= 0, got {self.gap_seconds}"
            )


def split(
    df: pd.DataFrame, params: SplitParams, feedback: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """Split ``df`` by time into the three parts, and ``feedback`` likewise into the same parts.

    Args:
        df: the base data and accepted batches.
        params: the fractions and the label-delay gap (the gap applies to ``df`` only).
        feedback: labeled production data (may be empty or ``None``).

    Returns:
        ``train``, ``valid`` and ``test``, each sorted by ``Time``.

    Raises:
        ValueError: a part has no fraud (or no legitimate) rows, so no threshold or metric
            could be computed on it; the message names the part and suggests a fix.
    """
    from fraudops.split import time_split

    parts = time_split(
        df,
        valid_fraction=params.valid_fraction,
        test_fraction=params.test_fraction,
        gap_seconds=params.gap_seconds,
    )._asdict()
    if feedback is not None:  # empty until the first retraining: adds three empty parts
        extra = time_split(
            feedback,
            valid_fraction=params.valid_fraction,
            test_fraction=params.test_fraction,
            gap_seconds=0.0,
            strict=False,  # a part of the feedback may lack frauds; the joined part may not
        )._asdict()
        parts = {
            name: pd.concat([part, extra[name]], ignore_index=True).sort_values(TIME, kind="stable")
            for name, part in parts.items()
        }
    for name, part in parts.items():
        counts = part[TARGET].value_counts()
        if counts.get(1, 0) == 0 or counts.get(0, 0) == 0:
            raise ValueError(
                f"split: the {name} part ({len(part):,} rows) has "
                f"{counts.get(1, 0)} fraud and {counts.get(0, 0)} legitimate rows; "
                "it needs both. Use more data or larger valid/test fractions."
            )
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="raw table (.parquet)")
    parser.add_argument(
        "--feedback", type=Path, help="labeled production data (.parquet; split on its own)"
    )
    parser.add_argument("--validation", type=Path, required=True, help="validation report")
    parser.add_argument("--out", type=Path, required=True, help="folder for the three parts")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)

    from fraudops.data import load, save

    if not read_json(args.validation).get("ok"):
        print(f"split: {args.validation} says the data is not valid; run validate", file=sys.stderr)
        return 1
    params = load_section(SplitParams, "split", args.params)
    try:
        feedback = load(args.feedback) if args.feedback else None
        if feedback is not None and len(feedback):
            print(
                f"split: {args.feedback}: {len(feedback):,} labeled production rows, "
                f"{int(feedback[TARGET].sum()):,} frauds, split by time on their own",
                flush=True,
            )
        parts = split(load(args.data), params, feedback)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    for name, part in parts.items():
        path = args.out / f"{name}.parquet"
        save(part, path)
        print(
            f"split: {path}: {len(part):,} rows, {int(part[TARGET].sum()):,} frauds, "
            f"{TIME} {part[TIME].min():,.0f}..{part[TIME].max():,.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
