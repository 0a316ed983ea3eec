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
  feedback is joined on the id; as records, or as columns (:func:`columnar_rows` applies the
  same rules to whole columns and names each problem by field and row).
- ``POST /feedback_batch`` takes up to ``max_size`` labels; an unknown id is reported as
  ``not_found`` in its own entry, like ``/feedback``'s 404, without failing the others.
"""

from __future__ import annotations

from functools import cache
from operator import attrgetter
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fraudops.schema import AMOUNT, FEATURES, TIME

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


#: A caller-supplied transaction id (see :data:`TRANSACTION_ID_PATTERN`).
TransactionId = Annotated[str, Field(pattern=TRANSACTION_ID_PATTERN)]


class BatchRequest(BaseModel):
    """Up to :data:`DEFAULT_MAX_BATCH` transactions scored in one call, as records or as columns.

    Exactly one of the two bodies:

    - records: ``{"transactions": [{"Time": ..., "V1": ..., ...}, ...]}``, each validated as a
      :class:`Transaction`;
    - columns: ``{"columns": {"Time": [...], "V1": [...], ..., "Amount": [...]},
      "transaction_ids": [...]}`` (ids optional), 30 arrays of one length. Cheaper to send, parse
      and check: pydantic only checks that each value is a finite number, then
      :func:`columnar_rows` applies the record rules to whole columns with NumPy and names the
      field and row of each problem (``columns.V7.12``), as the record format does
      (``transactions.12.V7``).
    """

    model_config = _REQUEST_CONFIG

    transactions: list[Transaction] | None = Field(
        default=None, min_length=1, max_length=DEFAULT_MAX_BATCH
    )
    columns: dict[str, list[float]] | None = Field(
        default=None,
        description="The 30 features (Time, V1..V28, Amount), one equal-length array each.",
    )
    transaction_ids: list[TransactionId] | None = Field(
        default=None, description="With 'columns': the callers' ids, one per row (optional)."
    )

    @field_validator("transactions")
    @classmethod
    def _distinct_ids(cls, transactions: list[Transaction] | None) -> list[Transaction] | None:
        # Feedback is joined on the id: two rows with one id could never be told apart.
        seen: dict[str, int] = {}
        for i, tx in enumerate(transactions or ()):
            if tx.transaction_id is None:
                continue
            if tx.transaction_id in seen:
                raise ValueError(
                    f"transactions.{i}.transaction_id: {tx.transaction_id!r} repeats "
                    f"transactions.{seen[tx.transaction_id]}.transaction_id; ids must be distinct"
                )
            seen[tx.transaction_id] = i
        return transactions

    @model_validator(mode="after")
    def _one_body(self) -> BatchRequest:
        if (self.transactions is None) == (self.columns is None):
            raise ValueError("send either 'transactions' (records) or 'columns', not both/neither")
        if self.transaction_ids is not None and self.columns is None:
            raise ValueError("'transaction_ids' goes with 'columns'; records carry their own ids")
        return self


def batch_request_model(max_size: int = DEFAULT_MAX_BATCH) -> type[BatchRequest]:
    """:class:`BatchRequest` with a different largest batch (the service's ``FRAUDOPS_MAX_BATCH``).

    Cached, so asking twice for one size gives the same class. The columnar body's length is
    checked by :func:`columnar_rows` against the same ``max_size``.

    Raises:
        ValueError: ``max_size`` is below 1.
    """
    return _sized(BatchRequest, "transactions", list[Transaction] | None, None, max_size)


def feedback_batch_model(max_size: int = DEFAULT_MAX_BATCH) -> type[FeedbackBatch]:
    """:class:`FeedbackBatch` with a different largest batch (``FRAUDOPS_MAX_BATCH``), cached."""
    return _sized(FeedbackBatch, "feedback", list[Feedback], ..., max_size)


@cache
def _sized(base: type[BaseModel], field: str, annotation: Any, default: Any, max_size: int) -> Any:
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, got {max_size}")
    if max_size == DEFAULT_MAX_BATCH:
        return base
    return create_model(
        base.__name__,
        __base__=base,
        __module__=__name__,
        **{field: (annotation, Field(default=default, min_length=1, max_length=max_size))},
    )


#: Bounds of each feature, in FEATURES order, as :class:`Transaction` sets them.
LOWER_BOUNDS = np.array([0.0 if f in (TIME, AMOUNT) else -MAX_ABS_FEATURE for f in FEATURES])
UPPER_BOUNDS = np.array([MAX_TIME if f == TIME else MAX_ABS_FEATURE for f in FEATURES])
#: At most this many problems are listed in one 400 (a wholly wrong column would list 10,000).
MAX_REPORTED_PROBLEMS = 50


def columnar_rows(
    columns: dict[str, list[float]],
    transaction_ids: list[str] | None = None,
    *,
    max_size: int = DEFAULT_MAX_BATCH,
) -> np.ndarray:
    """The ``(n, 30)`` feature matrix of a columnar batch, after the record format's rules.

    Checked with whole-column NumPy operations: every feature present and no other, equal
    lengths, 1..``max_size`` rows, the bounds of :class:`Transaction` (``Time`` and ``Amount``
    non-negative, magnitudes within :data:`MAX_ABS_FEATURE`/:data:`MAX_TIME`), and ids one per
    row and distinct. (Finiteness and the number type were checked by pydantic while parsing.)

    Raises:
        pydantic.ValidationError: one entry per problem (at most
            :data:`MAX_REPORTED_PROBLEMS`), each with ``loc`` such as ``("columns", "V7", 12)``.
    """
    problems: list[dict[str, Any]] = []
    missing = [f for f in FEATURES if f not in columns]
    for name in missing:
        problems.append(_problem("missing", ("columns", name), None))
    for name in sorted(set(columns) - set(FEATURES)):
        problems.append(_problem("extra_forbidden", ("columns", name), None))
    if problems:
        raise _invalid(problems)
    n = len(columns[FEATURES[0]])
    for name in FEATURES:
        if len(columns[name]) != n:
            problems.append(
                _custom(
                    "column_length",
                    ("columns", name),
                    f"has {len(columns[name])} values; every column needs {n} "
                    f"(the length of {FEATURES[0]})",
                )
            )
    if not problems and not 1 <= n <= max_size:
        problems.append(
            _custom("batch_size", ("columns",), f"{n} rows; a batch holds 1 to {max_size}")
        )
    if transaction_ids is not None and not problems and len(transaction_ids) != n:
        problems.append(
            _custom(
                "column_length",
                ("transaction_ids",),
                f"has {len(transaction_ids)} ids for {n} rows; send one per row or none",
            )
        )
    if problems:
        raise _invalid(problems)
    rows = np.array([columns[name] for name in FEATURES], dtype=np.float64).T
    low, high = rows < LOWER_BOUNDS, rows > UPPER_BOUNDS
    if low.any() or high.any():
        for kind, mask, bounds in (
            ("greater_than_equal", low, LOWER_BOUNDS),
            ("less_than_equal", high, UPPER_BOUNDS),
        ):
            for row, col in zip(*np.nonzero(mask), strict=True):
                key = "ge" if kind == "greater_than_equal" else "le"
                problems.append(
                    {
                        "type": kind,
                        "loc": ("columns", FEATURES[col], int(row)),
                        "input": float(rows[row, col]),
                        "ctx": {key: float(bounds[col])},
                    }
                )
        problems.sort(key=lambda p: (p["loc"][2], FEATURES.index(p["loc"][1])))
        raise _invalid(problems)
    if transaction_ids is not None and len(set(transaction_ids)) != n:
        first: dict[str, int] = {}
        for i, tid in enumerate(transaction_ids):
            if tid in first:
                problems.append(
                    _custom(
                        "duplicate_id",
                        ("transaction_ids", i),
                        f"{tid!r} repeats transaction_ids.{first[tid]}; ids must be distinct",
                    )
                )
            else:
                first[tid] = i
        raise _invalid(problems)
    return rows


def _problem(kind: str, loc: tuple[Any, ...], value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "input": value}


def _custom(kind: str, loc: tuple[Any, ...], message: str) -> dict[str, Any]:
    return {"type": PydanticCustomError(kind, message), "loc": loc, "input": None}


def _invalid(problems: list[dict[str, Any]]) -> ValidationError:
    return ValidationError.from_exception_data("BatchRequest", problems[:MAX_REPORTED_PROBLEMS])


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


FeedbackStatus = Literal["created", "unchanged", "updated"]


class FeedbackBatch(BaseModel):
    """Many labels in one call (``POST /feedback_batch``), applied in order."""

    model_config = _REQUEST_CONFIG

    feedback: list[Feedback] = Field(min_length=1, max_length=DEFAULT_MAX_BATCH)


class FeedbackItemResult(BaseModel):
    """What one label of a batch did; ``not_found`` is the per-id form of ``/feedback``'s 404."""

    transaction_id: str
    is_fraud: bool
    status: Literal["created", "unchanged", "updated", "not_found"]


class FeedbackBatchResult(BaseModel):
    """The result of each label, in request order, and how many had each outcome."""

    results: list[FeedbackItemResult]
    counts: dict[str, int] = Field(
        description="Labels per status: created, unchanged, updated, not_found."
    )


class ScorerInfo(BaseModel):
    """How the served version scores: the fast path, or its pipeline and why."""

    path: str = Field(description="'pipeline', or the fast path, e.g. 'numpy+lightgbm-from-hgb'.")
    fallback_reason: str | None = Field(
        default=None, description="Why the pipeline serves instead of a fast path (else null)."
    )
    parity: dict[str, Any] | None = Field(
        default=None,
        description="The parity gate's figures: rows compared, largest difference, flipped "
        "decisions, tolerance (null when no fast path could be derived).",
    )


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
    scorer: ScorerInfo | None = None
