"""Stage ``ingest``: build the raw training table from the base data and every accepted batch.

The base data is either generated (``ingest.source: synthetic``) or the user's
``creditcard.csv``; every file in ``data/batches/`` (accepted there by ``fraudops ct`` and
versioned with ``dvc add data/batches``) is appended to it. A new batch is therefore a new DVC
data version, and ``dvc repro`` retrains from here. Inputs are never modified.

Labeled production data (``data/feedback/``, written there by ``fraudops retrain``) is kept
apart, in ``--feedback-out``: the split stage divides it by time on its own, so that some of
it is trained on (see :mod:`level1.stages.split`). With no feedback yet that file is empty.

    python -m level1.stages.ingest --batches data/batches --out data/raw/transactions.parquet \
        --feedback data/feedback --feedback-out data/raw/feedback.parquet
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fraudops.params import ParamsError, load_section
from fraudops.schema import TARGET, TIME

#: Files in ``data/batches/`` that are data; anything else there (a README) is ignored.
BATCH_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class IngestParams:
    """Section ``ingest`` of ``params.yaml``.

    Attributes:
        source: ``"synthetic"`` or the path of a ``creditcard.csv``-shaped CSV/Parquet file.
        rows: rows to generate (synthetic only).
        seed: generator seed (synthetic only).
        fraud_rate: share of frauds to generate (synthetic only).
    """

    source: str
    rows: int
    seed: int
    fraud_rate: float

    def __post_init__(self) -> None:
        if self.rows <= 0:
            raise ParamsError(f"params.yaml section 'ingest': rows must be > 0, got {self.rows}")
        if not 0.0 < self.fraud_rate < 1.0:
            raise ParamsError(
                f"params.yaml section 'ingest': fraud_rate must be in (0, 1), got {self.fraud_rate}"
            )


def list_batches(batches_dir: Path) -> list[Path]:
    """The batch files in ``batches_dir``, sorted by name (the order they were accepted in).

    A missing folder means no batches yet.
    """
    if not batches_dir.is_dir():
        return []
    return sorted(p for p in batches_dir.iterdir() if p.suffix.lower() in BATCH_SUFFIXES)


def base_data(params: IngestParams) -> pd.DataFrame:
    """The data every version starts from: generated, or read from ``params.source``."""
    from fraudops.data import generate, load

    if params.source == "synthetic":
        return generate(rows=params.rows, seed=params.seed, fraud_rate=params.fraud_rate)
    path = Path(params.source)
    if not path.is_file():
        raise ParamsError(
            f"params.yaml section 'ingest': source {params.source!r} is neither 'synthetic' "
            "nor an existing CSV/Parquet file"
        )
    return load(path)


def ingest(base: pd.DataFrame, batches: list[pd.DataFrame]) -> pd.DataFrame:
    """Append the batches to the base data and order everything by ``Time``.

    The sort is stable, so rows with equal ``Time`` keep their order: base first, then the
    batches in the order given. The time-ordered split downstream relies on this order.

    Args:
        base: the base data.
        batches: accepted batches, oldest first.

    Returns:
        A new DataFrame with a fresh 0..n-1 index; the inputs are left untouched.
    """
    combined = pd.concat([base, *batches], ignore_index=True)
    return combined.sort_values(TIME, kind="stable").reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=Path, required=True, help="folder of accepted batches")
    parser.add_argument("--out", type=Path, required=True, help="raw table (.parquet)")
    parser.add_argument("--feedback", type=Path, help="folder of labeled production batches")
    parser.add_argument(
        "--feedback-out", type=Path, help="where the feedback rows go (.parquet; with --feedback)"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    if (args.feedback is None) != (args.feedback_out is None):
        parser.error("--feedback and --feedback-out go together")

    from fraudops.data import load, save

    params = load_section(IngestParams, "ingest", args.params)
    base = base_data(params)
    print(f"ingest: base data ({params.source}): {len(base):,} rows", flush=True)
    batch_files = list_batches(args.batches)
    batches = []
    for path in batch_files:
        frame = load(path)
        print(f"ingest: batch {path.name}: {len(frame):,} rows", flush=True)
        batches.append(frame)
    raw = ingest(base, batches)
    save(raw, args.out)
    if args.feedback is not None:
        feedback = [load(path) for path in list_batches(args.feedback)]
        # An empty table with the base data's columns when there is no feedback yet: the
        # output exists in every data version, so the stages downstream need no special case.
        table = ingest(base.iloc[:0], feedback)
        save(table, args.feedback_out)
        print(
            f"ingest: {args.feedback_out}: {len(table):,} labeled production rows "
            f"({len(feedback)} batch(es))",
            flush=True,
        )
    # Bad rows and columns are the validate stage's business; just report what was built.
    frauds = f"{int(raw[TARGET].sum()):,}" if TARGET in raw else "?"
    print(
        f"ingest: {args.out}: {len(raw):,} rows, {frauds} frauds ({len(batch_files)} batch(es))",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
