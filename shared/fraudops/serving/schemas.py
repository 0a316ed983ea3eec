"""Typed request and response bodies of the scoring service (Level 2).

These pydantic v2 models are the service's contract with its callers, and the first line of
defence: a request that does not fit is refused with a 4xx naming the field and the reason before
any model code runs. The rules, and why:

- Every feature (``Time``, ``V1``..``V28``, ``Amount``) is required and must be a finite JSON number.
  Models are *strict*: ``"1.5"`` (a string) or ``true`` is a wrong type, not something to coerce,
  because a client that sends strings has a bug we want it to see. ``NaN`` and ``Infinity`` are
  refused (``allow_inf_nan=False``): scikit-learn would raise on them deep in the pipeline, or worse,
  a tree model would quietly route them somewhere.
- ``Time >= 0`` and ``Amount >= 0``: the schema's domain (seconds since the first transaction, a
  money amount).
- Magnitudes are bounded: ``|V1..V28| <= 1e9``, ``Amount <= 1e9``, ``Time <= 1e10`` (three
  centuries of seconds). Real values are tiny next to these (``|V| < 120``, amounts below
  26,000), so the bounds refuse only bugs and attacks: a finite ``1e308`` passes
  ``allow_inf_nan=False`` but overflows a linear model's arithmetic to ``inf``/``NaN`` scores.
- Unknown fields are refused (``extra="forbid"``): a misspelt ``Amonut`` must not silently become a
  missing ``Amount``.
- ``transaction_id`` is optional (the service generates one) and restricted to 1..64 characters of
  ``[A-Za-z0-9_.:-]``, so it is safe to log, to put in a URL and to join feedback on.
- A batch holds 1..``max_size`` transactions (10,000 by default) with distinct ids, because
  feedback is joined on the id.
"""

from __future__ import annotations

from functools import cache
from operator import attrgetter
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from fraudops.schema import FEATURES

#: Largest batch ``POST /predict_batch`` accepts unless configured otherwise.
DEFAULT_MAX_BATCH = 10_000
#: Largest magnitude of a V feature and of Amount; Time's is :data:`MAX_TIME` (see above).
MAX_ABS_FEATURE = 1e9
MAX_TIME = 1e10
#: What a caller-supplied transaction id may look like.
TRANSACTION_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

_REQUEST_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
_features_of = attrgetter(*FEATURES)
#: A V feature: a finite number within +-MAX_ABS_FEATURE.
_V = Annotated[float, Field(ge=-MAX_ABS_FEATURE, le=MAX_ABS_FEATURE)]


class Transaction(BaseModel):
    """One card transaction to score: the ``creditcard.csv`` features, without ``Class``."""

    model_config = _REQUEST_CONFIG

    transaction_id: str | None = Field(
        default=None,
        pattern=TRANSACTION_ID_PATTERN,
        description="Caller's id (1..64 of [A-Za-z0-9_.:-]); generated when absent.",
    )
    Time: float = Field(
        ge=0, le=MAX_TIME, description="Seconds since the first transaction of the data set."
    )
    V1: _V
    V2: _V
    V3: _V
    V4: _V
    V5: _V
    V6: _V
    V7: _V
    V8: _V
    V9: _V
    V10: _V
    V11: _V
    V12: _V
    V13: _V
    V14: _V
    V15: _V
    V16: _V
    V17: _V
    V18: _V
    V19: _V
    V20: _V
    V21: _V
    V22: _V
    V23: _V
    V24: _V
    V25: _V
    V26: _V
    V27: _V
    V28: _V
    Amount: float = Field(ge=0, le=MAX_ABS_FEATURE, description="Transaction amount.")

    def features(self) -> tuple[float, ...]:
        """The 30 feature values in :data:`fraudops.schema.FEATURES` order (the model's columns)."""
        return _features_of(self)


class BatchRequest(BaseModel):
    """Up to :data:`DEFAULT_MAX_BATCH` transactions scored in one call."""

    model_config = _REQUEST_CONFIG

    transactions: list[Transaction] = Field(min_length=1, max_length=DEFAULT_MAX_BATCH)

    @field_validator("transactions")
    @classmethod
    def _distinct_ids(cls, transactions: list[Transaction]) -> list[Transaction]:
        # Feedback is joined on the id: two rows with one id could never be told apart.
        seen: dict[str, int] = {}
        for i, tx in enumerate(transactions):
            if tx.transaction_id is None:
                continue
            if tx.transaction_id in seen:
                raise ValueError(
                    f"transactions.{i}.transaction_id: {tx.transaction_id!r} repeats "
                    f"transactions.{seen[tx.transaction_id]}.transaction_id; ids must be distinct"
                )
            seen[tx.transaction_id] = i
        return transactions


@cache
def batch_request_model(max_size: int = DEFAULT_MAX_BATCH) -> type[BatchRequest]:
    """:class:`BatchRequest` with a different largest batch (the service's ``FRAUDOPS_MAX_BATCH``).

    Cached, so asking twice for one size gives the same class.

    Raises:
        ValueError: ``max_size`` is below 1.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, got {max_size}")
    if max_size == DEFAULT_MAX_BATCH:
        return BatchRequest
    return create_model(
        "BatchRequest",
        __base__=BatchRequest,
        __module__=__name__,
        transactions=(list[Transaction], Field(min_length=1, max_length=max_size)),
    )


class Prediction(BaseModel):
    """The score of one transaction, and which model version and threshold produced it."""

    transaction_id: str
    fraud_probability: float = Field(ge=0, le=1, description="The model's P(fraud).")
    is_fraud: bool = Field(description="fraud_probability >= threshold.")
    threshold: float = Field(description="The serving version's operating threshold.")
    model_version: str = Field(description="Registry version that scored this transaction.")


class BatchResponse(BaseModel):
    """The predictions of a batch, in request order."""

    predictions: list[Prediction]


class Feedback(BaseModel):
    """The true label of a transaction scored earlier, joined to its prediction by id."""

    model_config = _REQUEST_CONFIG

    transaction_id: str = Field(pattern=TRANSACTION_ID_PATTERN)
    is_fraud: bool


class FeedbackResult(BaseModel):
    """What recording a label did: ``created``, ``unchanged`` (same label again) or ``updated``."""

    transaction_id: str
    is_fraud: bool
    status: Literal["created", "unchanged", "updated"]


class ModelInfo(BaseModel):
    """The model being served: registry coordinates, threshold and offline metrics."""

    name: str
    alias: str
    version: str
    threshold: float
    run_id: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    loaded_at: float = Field(description="Unix time the service switched to this version.")
