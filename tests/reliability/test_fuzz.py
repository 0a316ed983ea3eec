"""Hostile input against the served scoring service: never a 5xx, and every rejection says why.

Property-based (hypothesis) requests to ``/predict``, ``/predict_batch`` and ``/feedback`` of a
real ``fraudops serve`` process: wrong types, huge and tiny floats, NaN and infinity in every
spelling, missing and unknown fields, deep nesting, bodies over the limit, bytes that are not
UTF-8 and wrong content types. The rules checked on every example:

- the answer is never a 5xx;
- a value the schema accepts is scored (200); anything else gets a 4xx whose ``detail`` names
  the field (``loc``), or, when the body is not even JSON, says where parsing stopped;
- the service answers a valid request right after.

Examples are derandomized, so a run is reproducible and CI sees the same cases as a laptop.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator

import httpx
import pytest
from fraudops.schema import FEATURES
from fraudops.serving.schemas import MAX_ABS_FEATURE, MAX_TIME
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.served import ADMIN_TOKEN, MAX_BATCH

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: Where each feature's accepted range ends (the schema's bounds).
BOUNDS = {name: (-MAX_ABS_FEATURE, MAX_ABS_FEATURE) for name in FEATURES}
BOUNDS.update(Time=(0.0, MAX_TIME), Amount=(0.0, MAX_ABS_FEATURE))
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

#: Number spellings, as raw JSON text: JSON's own, JavaScript's and Python's non-finite forms,
#: overflow and underflow literals, and forms JSON forbids.
NUMBER_TOKENS = [
    "NaN", "-NaN", "+NaN", "nan", "Infinity", "-Infinity", "+Infinity", "inf", "-inf",
    "1e999", "-1e999", "1E400", "1e-999", "-0.0", "4.9e-324", "1.7976931348623157e308",
    "0x10", "01", ".5", "5.", "1_000", '"NaN"', '"Infinity"', '"1.5"', "null", "true", "[]", "{}",
]  # fmt: skip
#: The spellings above that denote a finite number within bounds (0 after underflow).
ACCEPTED_TOKENS = {"-0.0", "4.9e-324", "1e-999"}
CONTENT_TYPES = [
    None, "text/plain", "application/octet-stream", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz", "application/vnd.bentoml+pickle",
    "application/json; charset=latin-1", "application/xml", "image/png",
]  # fmt: skip

# Unicode without lone surrogates (those cannot be encoded as UTF-8 at all).
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
hostile_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-300, max_value=1e-300),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1]),
    texts,
    st.booleans(),
    st.none(),
    st.lists(st.floats(allow_nan=False), max_size=3),
    st.dictionaries(texts, st.integers(), max_size=2),
)


@pytest.fixture(scope="module")
def server(http_server):
    """The session's shared HTTP instance: these tests only read from it."""
    return http_server.ready()


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def row(models) -> dict:
    return {name: float(v) for name, v in models.X.iloc[0].items()}


def post(client: httpx.Client, path: str, body: str | bytes, content_type: str | None = None):
    headers = {} if content_type is None else {"content-type": content_type}
    return client.post(path, content=body, headers=headers)


def schema_accepts(field: str, value) -> bool:
    """Whether the schema takes ``value`` for ``field`` (the oracle, written independently)."""
    if field == "transaction_id":
        return value is None or (isinstance(value, str) and bool(ID_PATTERN.match(value)))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    low, high = BOUNDS[field]
    try:
        number = float(value)
    except OverflowError:
        return False
    return math.isfinite(number) and low <= number <= high


def assert_names(answer: httpx.Response, loc: list) -> None:
    """A 4xx whose detail has a problem located at ``loc`` (or below it) with a reason."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    problems = answer.json()["detail"]
    located = [p for p in problems if list(p["loc"][: len(loc)]) == loc]
    assert located, f"no problem located at {loc}: {problems}"
    assert all(p["msg"] for p in located)


def assert_still_serving(client: httpx.Client, row: dict) -> None:
    answer = client.post("/predict", json=row)
    assert answer.status_code == 200, answer.text[:500]


@FUZZ
@given(field=st.sampled_from(["transaction_id", *FEATURES]), value=hostile_values)
def test_predict_scores_what_the_schema_accepts_and_names_the_field_otherwise(
    client, row, field, value
) -> None:
    answer = post(client, "/predict", json.dumps({**row, field: value}))
    if schema_accepts(field, value):
        assert answer.status_code == 200, answer.text[:500]
        assert 0.0 <= answer.json()["fraud_probability"] <= 1.0
    else:
        assert_names(answer, [field])
    assert_still_serving(client, row)


@pytest.mark.parametrize("token", NUMBER_TOKENS)
def test_every_spelling_of_nan_and_infinity_is_refused_by_field_or_position(
    client, row, token: str
) -> None:
    body = json.dumps({**row, "V7": 0.125}).replace("0.125", token)
    answer = post(client, "/predict", body)
    if token in ACCEPTED_TOKENS:
        assert answer.status_code == 200, answer.text[:300]
    else:
        assert answer.status_code == 400, answer.text[:300]
        problems = answer.json()["detail"]
        assert [p["loc"] for p in problems] == [["V7"]] or (
            # Not JSON at all: nothing to name but where parsing stopped.
            [p["type"] for p in problems] == ["json_invalid"] and "column" in problems[0]["msg"]
        ), problems
    assert_still_serving(client, row)


@FUZZ
@given(
    missing=st.lists(st.sampled_from(list(FEATURES)), max_size=3, unique=True),
    extra=st.dictionaries(
        texts.filter(lambda k: k and k not in FEATURES and k != "transaction_id"), texts, max_size=2
    ),
)
def test_missing_and_unknown_fields_are_each_named(client, row, missing, extra) -> None:
    body = {k: v for k, v in row.items() if k not in missing} | extra
    answer = post(client, "/predict", json.dumps(body))
    if not missing and not extra:
        assert answer.status_code == 200
    else:
        assert 400 <= answer.status_code < 500
        named = {p["loc"][0] for p in answer.json()["detail"]}
        assert named == set(missing) | set(extra)
    assert_still_serving(client, row)


@FUZZ
@given(
    size=st.integers(1, 4),
    data=st.data(),
    field=st.sampled_from(list(FEATURES)),
    value=hostile_values,
)
def test_a_bad_row_in_a_batch_is_named_by_index_and_field(client, row, size, data, field, value):
    index = data.draw(st.integers(0, size - 1))
    rows = [dict(row) for _ in range(size)]
    rows[index][field] = value
    answer = post(client, "/predict_batch", json.dumps({"transactions": rows}))
    if schema_accepts(field, value):
        assert answer.status_code == 200
        assert len(answer.json()["predictions"]) == size
    else:
        assert_names(answer, ["transactions", index, field])
    assert_still_serving(client, row)


@FUZZ
@given(
    path=st.sampled_from(["/predict", "/predict_batch", "/feedback"]),
    body=st.one_of(st.binary(max_size=600), texts.map(str.encode)),
    content_type=st.sampled_from(CONTENT_TYPES),
)
def test_arbitrary_bytes_and_content_types_never_get_a_5xx(
    client, row, path, body, content_type
) -> None:
    answer = post(client, path, body, content_type)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert_still_serving(client, row)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_a_body_not_declared_as_json_gets_415_naming_the_header(client, row, content_type) -> None:
    answer = post(client, "/predict", json.dumps(row), content_type)
    if content_type is None or content_type.startswith("application/json"):
        assert answer.status_code == 200, answer.text[:300]
    else:
        assert answer.status_code == 415, answer.text[:300]
        assert answer.json()["field"] == "Content-Type"
    assert_still_serving(client, row)


@pytest.mark.parametrize("depth", [50, 1_000, 50_000])
@pytest.mark.parametrize("where", ["body", "field", "batch"])
def test_deep_nesting_is_refused(client, row, depth: int, where: str) -> None:
    nested = "[" * depth + "]" * depth
    body, path = {
        "body": (nested, "/predict"),
        "field": (json.dumps({**row, "V1": 0.125}).replace("0.125", nested), "/predict"),
        "batch": ('{"transactions": ' + nested + "}", "/predict_batch"),
    }[where]
    answer = post(client, path, body)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert_still_serving(client, row)


def test_bodies_over_the_limit_get_413_with_or_without_a_length(client, row) -> None:
    limit = MAX_BATCH * 2048 + 64 * 1024  # the served instance's FRAUDOPS_MAX_BODY_BYTES
    padded = json.dumps({"transactions": [row]}) + " " * limit
    assert post(client, "/predict_batch", padded).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted while reading
        one = json.dumps(row).encode() + b","
        yield b'{"transactions": ['
        for _ in range(limit // len(one) + 2):
            yield one
        yield b"]}"

    streamed = client.post(
        "/predict_batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert "FRAUDOPS_MAX_BODY_BYTES" in streamed.json()["error"]
    assert_still_serving(client, row)


def test_a_huge_string_under_the_limit_is_named(client, row) -> None:
    answer = post(client, "/predict", json.dumps({**row, "transaction_id": "a" * 100_000}))
    assert_names(answer, ["transaction_id"])
    assert_still_serving(client, row)


@FUZZ
@given(transaction_id=st.one_of(texts, hostile_values), is_fraud=hostile_values)
def test_feedback_for_anything_but_a_logged_id_is_a_4xx(
    client, row, transaction_id, is_fraud
) -> None:
    answer = post(
        client, "/feedback", json.dumps({"transaction_id": transaction_id, "is_fraud": is_fraud})
    )
    id_ok = isinstance(transaction_id, str) and bool(ID_PATTERN.match(transaction_id))
    if id_ok and isinstance(is_fraud, bool):
        assert answer.status_code == 404  # well-formed, but nothing was logged with this id
        assert answer.json()["field"] == "transaction_id"
    elif not id_ok:
        assert_names(answer, ["transaction_id"])
    else:
        assert_names(answer, ["is_fraud"])
    assert_still_serving(client, row)


# -- security: what the endpoints accept, and what the log never shows -----------------------


def test_no_endpoint_takes_a_path_a_url_or_a_file(client) -> None:
    schema = client.get("/docs.json").json()
    text = json.dumps(schema["paths"]).lower()
    for endpoint in ("/predict", "/predict_batch", "/feedback", "/admin/reload"):
        assert endpoint in schema["paths"]
    assert '"format": "binary"' not in text  # no file upload anywhere
    for word in ('"path"', '"uri"', '"url"', '"file"', '"model_uri"', '"pickle"'):
        assert word not in text, word


def test_the_admin_token_is_checked_and_never_written_to_the_log(client, server, row) -> None:
    wrong = "Bearer " + ADMIN_TOKEN[:-1] + "X"  # all but the last character right
    assert client.post("/admin/reload", json={}, headers={"Authorization": wrong}).status_code == (
        403
    )
    assert client.post("/admin/reload", json={}).status_code == 401
    right = client.post(
        "/admin/reload", json={}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert right.status_code == 200
    assert_still_serving(client, row)
    assert ADMIN_TOKEN[:12] not in server.log()
