"""The service's request schemas refuse what the model must never see, naming the field."""

from __future__ import annotations

import json

import pytest
from fraudops.schema import FEATURES
from fraudops.serving import (
    DEFAULT_MAX_BATCH,
    BatchRequest,
    Feedback,
    Transaction,
    batch_request_model,
)
from pydantic import ValidationError


def _valid(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {name: 0.5 for name in FEATURES}
    body.update(Time=3600.0, Amount=12.5)
    body.update(changes)
    return body


def _problem(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple, str]:
    (error,) = exc.value.errors()
    return error["loc"], error["type"]


def test_transaction_fields_are_exactly_the_model_features() -> None:
    # The service builds the model's input from these fields: a missing or extra one would
    # silently shift every column.
    assert [f for f in Transaction.model_fields if f != "transaction_id"] == list(FEATURES)


def test_features_come_out_in_model_column_order() -> None:
    body = {name: float(i) for i, name in enumerate(FEATURES)}
    assert Transaction.model_validate(body).features() == tuple(float(i) for i in range(30))


def test_real_magnitudes_pass_the_bounds_with_room_to_spare() -> None:
    # The real data's extremes (V5 min -113.7, Amount max 25,691) and a unix-epoch Time.
    tx = Transaction.model_validate(_valid(V5=-113.7, Amount=25_691.16, Time=1.8e9))
    assert (tx.V5, tx.Amount, tx.Time) == (-113.7, 25_691.16, 1.8e9)


def test_a_valid_transaction_parses_from_json_with_or_without_an_id() -> None:
    tx = Transaction.model_validate_json(json.dumps(_valid()))
    assert tx.transaction_id is None and tx.Amount == 12.5
    tx = Transaction.model_validate_json(json.dumps(_valid(transaction_id="tx-1:a.b_c")))
    assert tx.transaction_id == "tx-1:a.b_c"


@pytest.mark.parametrize(
    ("raw", "loc", "kind"),
    [
        (json.dumps({k: v for k, v in _valid().items() if k != "V7"}), ("V7",), "missing"),
        (json.dumps(_valid(V3="1.5")), ("V3",), "float_type"),
        (json.dumps(_valid(V3=True)), ("V3",), "float_type"),
        (json.dumps(_valid(V12=None)), ("V12",), "float_type"),
        (json.dumps(_valid()).replace('"V9": 0.5', '"V9": NaN'), ("V9",), "finite_number"),
        (json.dumps(_valid()).replace('"V9": 0.5', '"V9": Infinity'), ("V9",), "finite_number"),
        (json.dumps(_valid(V9=1e400)), ("V9",), "finite_number"),
        (json.dumps(_valid(Amount=-0.01)), ("Amount",), "greater_than_equal"),
        (json.dumps(_valid(Time=-1)), ("Time",), "greater_than_equal"),
        # Finite but absurd: would overflow a linear model's arithmetic to inf/NaN scores.
        (json.dumps(_valid(V3=1e300)), ("V3",), "less_than_equal"),
        (json.dumps(_valid(V28=-1e10)), ("V28",), "greater_than_equal"),
        (json.dumps(_valid(Amount=1e12)), ("Amount",), "less_than_equal"),
        (json.dumps(_valid(Time=1e11)), ("Time",), "less_than_equal"),
        (json.dumps(_valid(Amonut=3.0)), ("Amonut",), "extra_forbidden"),
        (
            json.dumps(_valid(transaction_id="has space")),
            ("transaction_id",),
            "string_pattern_mismatch",
        ),
        (
            json.dumps(_valid(transaction_id="x" * 65)),
            ("transaction_id",),
            "string_pattern_mismatch",
        ),
        (json.dumps(_valid(transaction_id="")), ("transaction_id",), "string_pattern_mismatch"),
    ],
    ids=[
        "missing",
        "string",
        "bool",
        "null",
        "nan",
        "inf",
        "overflow",
        "negative-amount",
        "negative-time",
        "huge-V",
        "huge-negative-V",
        "huge-amount",
        "huge-time",
        "unknown-field",
        "id-charset",
        "id-too-long",
        "id-empty",
    ],
)
def test_invalid_transactions_are_refused_naming_the_field(raw: str, loc: tuple, kind: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Transaction.model_validate_json(raw)
    assert _problem(exc) == (loc, kind)


def test_batch_bounds_name_the_transactions_field() -> None:
    with pytest.raises(ValidationError) as exc:
        BatchRequest.model_validate({"transactions": []})
    assert _problem(exc) == (("transactions",), "too_short")
    small = batch_request_model(3)
    assert small.model_validate({"transactions": [_valid()] * 3})
    with pytest.raises(ValidationError) as exc:
        small.model_validate({"transactions": [_valid()] * 4})
    assert _problem(exc) == (("transactions",), "too_long")
    assert batch_request_model(DEFAULT_MAX_BATCH) is BatchRequest


def test_a_bad_row_in_a_batch_is_located_by_index_and_field() -> None:
    with pytest.raises(ValidationError) as exc:
        BatchRequest.model_validate({"transactions": [_valid(), _valid(V4="x")]})
    assert _problem(exc) == (("transactions", 1, "V4"), "float_type")


def test_repeated_ids_in_a_batch_are_refused() -> None:
    # Feedback is joined on the id, so two rows with one id could never be told apart.
    rows = [_valid(transaction_id="a"), _valid(transaction_id="b"), _valid(transaction_id="a")]
    with pytest.raises(ValidationError) as exc:
        batch_request_model(10).model_validate({"transactions": rows})
    (error,) = exc.value.errors()
    assert error["loc"] == ("transactions",)
    assert "transactions.2.transaction_id" in error["msg"] and "transactions.0" in error["msg"]


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        batch_request_model(0)


def test_feedback_requires_a_boolean_label_and_an_id() -> None:
    assert Feedback.model_validate_json('{"transaction_id": "t1", "is_fraud": true}').is_fraud
    with pytest.raises(ValidationError) as exc:
        Feedback.model_validate_json('{"transaction_id": "t1", "is_fraud": 1}')
    assert _problem(exc) == (("is_fraud",), "bool_type")
    with pytest.raises(ValidationError) as exc:
        Feedback.model_validate_json('{"is_fraud": false}')
    assert _problem(exc) == (("transaction_id",), "missing")
