"""The OpenAPI document is the contract: a served instance answers only what ``/docs.json`` says.

Schemathesis reads the document from the session's HTTP instance (``tests/served.py``) and, for
every operation in it, generates requests from the document (hypothesis, derandomized) and checks
each real response against it: a documented status, the documented content type, a body that
matches the documented schema, and never a 5xx. A client generated from the document then
handles every response it can get. The document's own promises are checked first: every route
the service has is in it, with the statuses and error bodies it really returns.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.served import ADMIN_TOKEN

pytestmark = pytest.mark.slow

#: The checks of a response against the document (Schemathesis' conformance checks). Left out:
#: the checks that judge the *inputs* (positive_data_acceptance, negative_data_rejection): JSON
#: Schema cannot say "30 arrays of equal length" or "distinct ids", so a body the document
#: allows can still get the 400 that names the problem, and that 400 is documented.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def base_url(http_server) -> str:
    return http_server.ready().url


@pytest.fixture(scope="module")
def document(base_url: str) -> dict:
    answer = httpx.get(f"{base_url}/docs.json", timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    return answer.json()


def test_every_route_and_status_is_in_the_document(document: dict) -> None:
    paths = document["paths"]
    for route in ("/predict", "/predict_batch", "/feedback", "/feedback_batch", "/admin/reload"):
        assert "post" in paths[route], route
    assert set(paths["/model"]["get"]["responses"]) >= {"200", "503"}
    assert set(paths["/admin/reload"]["post"]["responses"]) >= {"200", "401", "403"}
    assert set(paths["/feedback"]["post"]["responses"]) >= {"200", "400", "404", "413", "415"}
    assert set(paths["/predict"]["post"]["responses"]) >= {"200", "400", "413", "415", "503"}
    # The 400 body as the service sends it: detail is a list of problems, each located.
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["detail"]["type"] == "array"
    problem = document["components"]["schemas"]["ValidationProblem"]
    assert problem["required"] == ["loc", "msg", "type"]
    # /predict_batch is records or columns, never both.
    body = paths["/predict_batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert [form["title"] for form in body["oneOf"]] == ["Records", "ColumnarBatch"]


def test_real_error_bodies_match_the_documented_ones(base_url: str, document: dict) -> None:
    schema = schemathesis.openapi.from_dict(document)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        answers = {
            ("/predict", 400): client.post("/predict", json={"Time": -1}),
            ("/predict", 415): client.post("/predict", content=b"x", headers={"content-type": "text/plain"}),
            ("/feedback", 404): client.post("/feedback", json={"transaction_id": "never-seen", "is_fraud": True}),
            ("/admin/reload", 401): client.post("/admin/reload", json={}),
            ("/admin/reload", 403): client.post("/admin/reload", json={}, headers={"authorization": "Bearer wrong"}),
            ("/admin/reload", 200): client.post("/admin/reload", json={}, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}),
        }  # fmt: skip
    for (path, status), answer in answers.items():
        assert answer.status_code == status, (path, answer.text)
        operation = schema[path]["POST"]
        operation.validate_response(answer)  # raises, naming the mismatch
    detail = answers[("/predict", 400)].json()["detail"]
    assert any(problem["loc"][-1] == "Time" for problem in detail)


def test_generated_requests_get_only_documented_responses(base_url: str, document: dict) -> None:
    schema = schemathesis.openapi.from_dict(document)
    findings: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        admin = "admin" in operation.path

        @EXAMPLES
        @given(case=operation.as_strategy())
        def conforms(case) -> None:
            auth = {"authorization": f"Bearer {ADMIN_TOKEN}"} if admin else None  # noqa: B023
            case.call_and_validate(base_url=base_url, headers=auth, checks=CHECKS)

        try:
            conforms()
        except Exception as exc:  # noqa: BLE001 - collect every operation's finding, then fail
            findings.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not findings, "\n\n".join(findings)
