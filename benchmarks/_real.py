"""Where the genuine rows are, and what a legitimate one stands for (one place for every user)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The real sample beside the project (never copied into it); ``FRAUDOPS_REAL_SAMPLE`` overrides.
REAL_SAMPLE = Path(
    os.environ.get("FRAUDOPS_REAL_SAMPLE", ROOT.parent / "shared/data/real/creditcard_sample.csv")
)
#: Legitimate rows in the real sample stand for 284,315 / 4,920 rows of the full data.
REAL_LEGIT_WEIGHT = 284_315 / 4_920
