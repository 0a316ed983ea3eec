"""Stage ``validate``: refuse to train on broken data.

Checks the raw table (schema, types, ranges, missing values, duplicates, both classes present)
and writes ``reports/validation.json``. When the data is bad it prints the report, which names
the column and rows, and exits non-zero, so ``dvc repro`` stops here and nothing downstream
(training, registration) runs on it.

    python -m level1.stages.validate --data data/raw/transactions.parquet \
        --feedback data/raw/feedback.parquet --report reports/validation.json

The labeled production rows (``--feedback``) are checked as part of the same table: they are
training data too.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fraudops.params import load_section

from .common import write_json


@dataclass(frozen=True)
class ValidateParams:
    """Section ``validate`` of ``params.yaml``.

    Attributes:
        require_both_classes: fail when the data has no fraud (or no legitimate) rows.
    """

    require_both_classes: bool


def validate(df: pd.DataFrame, params: ValidateParams):
    """Check ``df``; returns a :class:`fraudops.data.ValidationReport` (``.ok``, ``.format()``)."""
    from fraudops.data import validate_frame

    return validate_frame(df, require_both_classes=params.require_both_classes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="raw table (.parquet)")
    parser.add_argument("--feedback", type=Path, help="labeled production data (.parquet)")
    parser.add_argument("--report", type=Path, required=True, help="validation report (.json)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)

    from fraudops.data import load

    params = load_section(ValidateParams, "validate", args.params)
    df = load(args.data)
    if args.feedback is not None:
        df = pd.concat([df, load(args.feedback)], ignore_index=True)
    report = validate(df, params)
    write_json(args.report, {"data": str(args.data), **report.to_dict()})
    if not report.ok:
        print(f"validate: {args.data} is not valid training data", file=sys.stderr)
        print(report.format(), file=sys.stderr)
        return 1
    if report.warnings:
        print(report.format(), flush=True)
    print(f"validate: {args.data}: {report.n_rows:,} rows, ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
