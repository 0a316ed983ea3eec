"""The bulk endpoints over HTTP: a columnar ``/predict_batch`` body and ``/feedback_batch``.

Served by the session's HTTP instance (``tests/served.py``, ``FRAUDOPS_MAX_BATCH=20``). A
columnar body must score exactly as the same rows sent as records, and every hostile-input rule
of the record format must hold for it, with the field and the row named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from fraudops.predlog import PredictionLog
from fraudops.schema import FEATURES

from tests.served import MAX_BATCH

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(http_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=http_server.ready().url, timeout=30) as c:
        yield c


def records(models, n: int, prefix: str | None = None, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        row = {f: float(models.X.iloc[i % len(models.X)][f]) for f in FEATURES}
        if prefix is not None:
            row["transaction_id"] = f"{prefix}-{i}"
        out.append(row)
    return out


def columnar(rows: list[dict], ids: bool = True) -> dict:
    body: dict = {"columns": {f: [r[f] for r in rows] for f in FEATURES}}
    if ids:
        body["transaction_ids"] = [r["transaction_id"] for r in rows]
    return body


def test_columnar_and_record_bodies_give_identical_predictions(client, models) -> None:
    as_records = records(models, MAX_BATCH, prefix="rec")
    as_columns = [{**r, "transaction_id": f"col-{i}"} for i, r in enumerate(as_records)]
    a = client.post("/predict_batch", json={"transactions": as_records})
    b = client.post("/predict_batch", json=columnar(as_columns))
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    pa, pb = a.json()["predictions"], b.json()["predictions"]
    assert [p["transaction_id"] for p in pb] == [f"col-{i}" for i in range(MAX_BATCH)]
    strip = [{k: v for k, v in p.items() if k != "transaction_id"} for p in pa]
    assert strip == [{k: v for k, v in p.items() if k != "transaction_id"} for p in pb]
    # Without ids, each row gets a generated one, and every row is answered.
    anonymous = client.post("/predict_batch", json=columnar(as_records[:3], ids=False)).json()
    assert len({p["transaction_id"] for p in anonymous["predictions"]}) == 3


def _columns(models, n: int = 4, **changes) -> dict:
    body = columnar(records(models, n, prefix="bad"))
    for change in changes.values():
        change(body)
    return body


def _set(column: str, row: int, value):
    def change(body: dict) -> None:
        body["columns"][column][row] = value

    return change


#: name: (body builder, raw JSON override or None, expected first loc, words in its message)
HOSTILE = {
    "a column shorter than the others": (
        lambda m: _columns(m, cut=lambda b: b["columns"]["V7"].pop()),
        ["columns", "V7"],
        "every column needs 4",
    ),
    "a missing column": (
        lambda m: _columns(m, drop=lambda b: b["columns"].pop("V3")),
        ["columns", "V3"],
        "field required",
    ),
    "an unknown column": (
        lambda m: _columns(m, extra=lambda b: b["columns"].update(Class=[0, 0, 0, 0])),
        ["columns", "Class"],
        "extra inputs",
    ),
    "text in a column": (
        lambda m: _columns(m, text=_set("Amount", 1, "12.5")),
        ["columns", "Amount", 1],
        "valid number",
    ),
    "a value out of bounds, named by row": (
        lambda m: _columns(m, big=_set("V5", 3, 2e9)),
        ["columns", "V5", 3],
        "less than or equal to 1000000000",
    ),
    "a negative amount": (
        lambda m: _columns(m, neg=_set("Amount", 2, -1.0)),
        ["columns", "Amount", 2],
        "greater than or equal to 0",
    ),
    "more rows than the largest batch": (
        lambda m: columnar(records(m, MAX_BATCH + 1, prefix="big")),
        ["columns"],
        f"1 to {MAX_BATCH}",
    ),
    "ids not one per row": (
        lambda m: _columns(m, ids=lambda b: b["transaction_ids"].pop()),
        ["transaction_ids"],
        "one per row",
    ),
    "a repeated id": (
        lambda m: _columns(m, dup=lambda b: b["transaction_ids"].__setitem__(2, "bad-0")),
        ["transaction_ids", 2],
        "repeats transaction_ids.0",
    ),
    "records and columns at once": (
        lambda m: {**_columns(m), "transactions": records(m, 1)},
        [],
        "not both",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_columnar_bodies_get_400_naming_field_and_row(case: str, client, models) -> None:
    build, loc, words = HOSTILE[case]
    answer = client.post("/predict_batch", json=build(models))
    assert answer.status_code == 400, answer.text
    problem = answer.json()["detail"][0]
    assert problem["loc"] == loc
    assert words.lower() in problem["msg"].lower()


def test_nan_in_a_column_is_refused_with_its_row(client, models) -> None:
    body = _columns(models)
    body["columns"]["V9"][2] = "NAN_MARK"
    text = json.dumps(body).replace('"NAN_MARK"', "NaN")
    answer = client.post(
        "/predict_batch", content=text, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["columns", "V9", 2] and "finite" in problem["msg"]


def test_bulk_feedback_reports_known_unknown_and_repeated_ids(client, models, service_state):
    rows = records(models, 2, prefix="fbb")
    assert client.post("/predict_batch", json={"transactions": rows}).status_code == 200
    a, b = rows[0]["transaction_id"], rows[1]["transaction_id"]
    labels = [
        {"transaction_id": a, "is_fraud": True},
        {"transaction_id": "fbb-never-scored", "is_fraud": True},
        {"transaction_id": b, "is_fraud": False},
        {"transaction_id": a, "is_fraud": True},  # the same label again
        {"transaction_id": b, "is_fraud": True},  # a corrected label
    ]
    answer = client.post("/feedback_batch", json={"feedback": labels})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["status"] for r in body["results"]] == [
        "created",
        "not_found",
        "created",
        "unchanged",
        "updated",
    ]
    assert body["counts"] == {"created": 2, "unchanged": 1, "updated": 1, "not_found": 1}
    # The log holds the last label of each known id, and nothing for the unknown one.
    log = PredictionLog(f"sqlite:///{service_state / 'http.sqlite'}")
    try:
        labeled = log.labeled().set_index("transaction_id")["label"]
    finally:
        log.close()
    assert labeled[a] == 1 and labeled[b] == 1 and "fbb-never-scored" not in labeled.index
    # Malformed bulk feedback is a 400 naming the item and field.
    bad = client.post("/feedback_batch", json={"feedback": [{"transaction_id": a}]})
    assert bad.status_code == 400 and bad.json()["detail"][0]["loc"] == ["feedback", 0, "is_fraud"]
