"""``fraudops data generate`` and ``fraudops data validate``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fraudops.schema import FULL_FRAUD_RATE, FULL_ROWS, SCENARIOS, TARGET


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command and its ``generate`` and ``validate`` subcommands."""
    data = subparsers.add_parser(
        "data",
        help="generate and validate transaction data",
        description="Generate synthetic transactions, or check a creditcard.csv-style file.",
    )
    commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    _register_generate(commands)
    _register_validate(commands)


def _register_generate(commands: argparse._SubParsersAction) -> None:
    # Imported here: the generator's scenario names are needed for --help only.

    parser = commands.add_parser(
        "generate",
        help="write synthetic transactions with the creditcard.csv schema",
        description=(
            "Write synthetic transactions with the creditcard.csv columns (Time, V1..V28, "
            "Amount, Class), sorted by Time. The same --rows/--seed/options give the same file."
        ),
        epilog="example: fraudops data generate --rows 20000 --seed 0 --out var/data/tx.csv",
    )
    parser.add_argument(
        "--rows",
        type=_positive_int,
        default=FULL_ROWS,
        metavar="N",
        help=f"rows to generate (default: {FULL_ROWS:,}, the size of the real data)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    parser.add_argument(
        "--fraud-rate",
        type=_probability,
        default=FULL_FRAUD_RATE,
        metavar="F",
        help="share of frauds, between 0 and 1 (default: 0.00173, as in the real data)",
    )
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="none",
        help="drift to simulate: covariate (inputs shift), concept (fraud patterns change), "
        "both (default: none)",
    )
    parser.add_argument(
        "--start-time",
        type=_non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="Time of the first transaction, to continue an earlier batch (default: 0)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PATH",
        help="output file, .csv or .parquet (parent folders are created)",
    )
    parser.set_defaults(func=run_generate)


def _register_validate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "validate",
        help="check a data file against the creditcard.csv schema",
        description=(
            "Check a CSV or Parquet file: exact columns and order, numbers only, no NaN or inf, "
            "Time and Amount >= 0, Class 0 or 1 with both classes present; duplicated rows are "
            "a warning. Exit status 0 when valid, 1 otherwise. Problems name the column and the "
            "first rows, as CSV line numbers (the header is line 1)."
        ),
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="a .csv, .parquet or .pq file")
    parser.add_argument(
        "--allow-one-class",
        action="store_true",
        help="accept data with a single class (e.g. unlabelled traffic to score)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="REPORT.json",
        help="also write the report as JSON (written whether or not the data is valid)",
    )
    parser.set_defaults(func=run_validate)


def run_generate(args: argparse.Namespace) -> int:
    """Generate the data and write it, then say what was written."""
    from fraudops.cli import CommandError
    from fraudops.data import generate, save
    from fraudops.data.io import DataFormatError, file_format

    try:
        file_format(args.out)  # fail before generating, not after
    except DataFormatError as exc:
        raise CommandError(str(exc)) from None
    start = time.perf_counter()
    df = generate(
        args.rows,
        args.seed,
        fraud_rate=args.fraud_rate,
        scenario=args.scenario,
        start_time=args.start_time,
    )
    save(df, args.out)
    seconds = time.perf_counter() - start
    frauds = int(df[TARGET].sum())
    print(
        f"wrote {len(df):,} rows ({frauds:,} frauds, {frauds / len(df):.3%}) "
        f"to {args.out} in {seconds:.1f}s"
    )
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """Validate the file, print the verdict (and report), optionally write JSON; 0 when valid."""
    from fraudops.data import validate_file

    report = validate_file(args.path, require_both_classes=not args.allow_one_class)
    # A valid file gets one summary line (plus any warnings); an invalid one the full report.
    print(report.format())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 0 if report.ok else 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _probability(text: str) -> float:
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _float(text)
    if not value >= 0.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
