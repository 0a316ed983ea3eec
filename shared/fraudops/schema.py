"""The ``creditcard.csv`` schema, in one place.

The ULB/Kaggle dataset has 31 columns in this exact order: ``Time`` (seconds since the first
transaction), 28 anonymised PCA components ``V1``..``V28``, ``Amount`` and the label ``Class``
(1 = fraud).
"""

from __future__ import annotations

TIME = "Time"
AMOUNT = "Amount"
TARGET = "Class"
V_COLUMNS: tuple[str, ...] = tuple(f"V{i}" for i in range(1, 29))
FEATURES: tuple[str, ...] = (TIME, *V_COLUMNS, AMOUNT)
COLUMNS: tuple[str, ...] = (*FEATURES, TARGET)

#: Rows and fraud share of the original dataset.
FULL_ROWS = 284_807
FULL_FRAUD_RATE = 492 / 284_807
#: Seconds in a day; ``Time`` 0 is taken as midnight.
DAY_SECONDS = 86_400

#: Traffic scenarios of the generator (``fraudops.data.generate``): no drift, legitimate traffic
#: changes (covariate), a new fraud pattern (concept), or both.
SCENARIOS: tuple[str, ...] = ("none", "covariate", "concept", "both")
