"""The service's OpenAPI document, as the contract clients are generated from (``GET /docs.json``).

BentoML writes the document from the API signatures, which leaves out what this service adds
around them. This module starts from BentoML's document and makes it say what the service really
does, which ``tests/service/test_contract.py`` checks with Schemathesis against a running server
(every response's status, content type and body must be the documented ones):

- every endpoint: ``GET /model`` is a mounted Starlette route that BentoML does not list;
- every status each endpoint returns: 400 (validation, with ``detail``, a list of problems),
  404 (``/feedback`` of an unknown id), 413 (body over ``FRAUDOPS_MAX_BODY_BYTES``), 415
  (not JSON), 401/403 (``/admin/reload``), 503 (no model loaded yet), 500;
- the error bodies as they are: ``{"error": message, "field": ...}`` from the service and
  :mod:`level2.service.http`, and BentoML's ``{"error": ..., "detail": [{"loc", "msg", "type"}]}``
  for a body that fails validation (BentoML documents ``detail`` as a string);
- the ``/predict_batch`` body as one of its two forms (records or columns, with the columns'
  names and bounds), where pydantic's schema shows two optional fields.

:class:`OpenAPIDocument` serves the document in place of BentoML's route; it is built once, on
the first request.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fraudops.schema import FEATURES
from fraudops.serving.schemas import (
    LOWER_BOUNDS,
    TRANSACTION_ID_PATTERN,
    UPPER_BOUNDS,
    ModelInfo,
)
from starlette.types import ASGIApp, Receive, Scope, Send

#: Where BentoML puts schemas; the components added here live beside them.
_REF = "#/components/schemas/{}"
_JSON = "application/json"

_ERROR = {
    "title": "Error",
    "type": "object",
    "description": "A request the service refused or could not serve.",
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for a person to read."},
        "field": {
            "type": "string",
            "description": "The field (or header) at fault, when there is one.",
        },
        "detail": {
            "type": "array",
            "description": "With 400: every validation problem, each naming where it is.",
            "items": {"$ref": _REF.format("ValidationProblem")},
        },
    },
    "required": ["error"],
}
_PROBLEM = {
    "title": "ValidationProblem",
    "type": "object",
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": "Where: field names and row indexes, e.g. ['columns', 'V7', 12].",
        },
        "msg": {"type": "string"},
        "type": {"type": "string", "description": "pydantic's error type, e.g. 'less_than_equal'."},
        "url": {"type": "string"},
    },
    "required": ["loc", "msg", "type"],
}

_WHY = {
    400: "The body is not valid: `detail` names each problem's field and row.",
    401: "No 'Authorization: Bearer <token>' header.",
    403: "Wrong token, or admin endpoints disabled (FRAUDOPS_ADMIN_TOKEN unset).",
    404: "No prediction with this transaction_id was logged.",
    413: "The body is larger than FRAUDOPS_MAX_BODY_BYTES.",
    415: "Content-Type is not application/json.",
    500: "An unexpected error; the server log has it.",
    503: "No model is loaded yet (the registry has no @champion, or it is loading).",
}
#: Every POST can be refused by the middleware (413, 415) and fail (500).
_ANY_POST = (413, 415, 500)
#: The statuses each endpoint returns besides 200.
_STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/predict"): (400, 503, *_ANY_POST),
    ("post", "/predict_batch"): (400, 503, *_ANY_POST),
    ("post", "/feedback"): (400, 404, *_ANY_POST),
    ("post", "/feedback_batch"): (400, *_ANY_POST),
    ("post", "/admin/reload"): (400, 401, 403, *_ANY_POST),
    ("get", "/model"): (503, 500),
    ("get", "/readyz"): (503,),
}


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": _WHY[status],
        "content": {_JSON: {"schema": {"$ref": _REF.format("Error")}}},
    }


def _columns_schema(max_batch: int) -> dict[str, Any]:
    """The columnar body: 30 arrays of numbers within the features' bounds (JSON Schema cannot
    say "of equal length": the service checks that, and answers 400 naming the column)."""
    column = {"type": "array", "minItems": 1, "maxItems": max_batch}
    return {
        "title": "Columns",
        "type": "object",
        "properties": {
            name: {**column, "items": {"type": "number", "minimum": lo, "maximum": hi}}
            for name, lo, hi in zip(
                FEATURES, LOWER_BOUNDS.tolist(), UPPER_BOUNDS.tolist(), strict=True
            )
        },
        "required": list(FEATURES),
        "additionalProperties": False,
    }


def openapi_document(bentoml_document: dict[str, Any], *, max_batch: int) -> dict[str, Any]:
    """The service's document: BentoML's, completed as the module docstring says.

    Args:
        bentoml_document: what BentoML generates (``service.openapi_spec.asdict()``).
        max_batch: the service's ``FRAUDOPS_MAX_BATCH`` (the columnar arrays' largest length).

    Returns:
        A new document (the argument is not changed).
    """
    doc = copy.deepcopy(bentoml_document)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = _ERROR
    schemas["ValidationProblem"] = _PROBLEM
    model_info = ModelInfo.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(model_info.pop("$defs", {}))
    schemas["ModelInfo"] = model_info

    paths = doc.setdefault("paths", {})
    for item in paths.values():  # BentoML keys statuses by int; JSON has only string keys
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
    paths["/model"] = {
        "get": {
            "tags": ["Service APIs"],
            "operationId": "fraud_detector__model",
            "description": "The version being served, its threshold, and how it is scored.",
            "responses": {
                "200": {
                    "description": "Successful Response",
                    "content": {_JSON: {"schema": {"$ref": _REF.format("ModelInfo")}}},
                }
            },
        }
    }
    for (method, path), statuses in _STATUSES.items():
        operation = paths.get(path, {}).get(method)
        if operation is None:
            raise KeyError(f"{method.upper()} {path} is not in the document: is the route gone?")
        responses = operation.setdefault("responses", {})
        for key in [k for k in responses if k != "200"]:
            del responses[key]  # BentoML's generic 400/404/500 (detail: string): replaced
        for status in statuses:
            responses[str(status)] = _error_response(status)
    admin = paths["/admin/reload"]["post"]
    admin["security"] = [{"adminToken": []}]
    doc["components"].setdefault("securitySchemes", {})["adminToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "FRAUDOPS_ADMIN_TOKEN",
    }
    _one_of_two_batch_bodies(paths["/predict_batch"]["post"], schemas, max_batch)
    _mark_nullable(doc)
    return doc


def _mark_nullable(node: Any) -> None:
    """``nullable: true`` on every schema whose default is ``null``.

    BentoML turns pydantic's ``str | None`` (``anyOf: [string, null]``) into ``type: string``
    with ``default: null`` for OpenAPI 3.0, where ``null`` is spelled ``nullable``; without it
    the document says a response's ``"error": null`` (``/admin/reload``) breaks the schema.
    """
    if isinstance(node, dict):
        if "default" in node and node["default"] is None and "type" in node:
            node["nullable"] = True
        # pydantic's own JSON Schema (GET /model's ModelInfo) spells it anyOf [X, {type: null}].
        variants = node.get("anyOf")
        if isinstance(variants, list) and {"type": "null"} in variants:
            rest = [v for v in variants if v != {"type": "null"}]
            del node["anyOf"]
            if len(rest) == 1 and "$ref" in rest[0]:
                node["allOf"] = rest
            elif len(rest) == 1:
                node.update(rest[0])
            else:
                node["anyOf"] = rest
            node["nullable"] = True
        for value in node.values():
            _mark_nullable(value)
    elif isinstance(node, list):
        for value in node:
            _mark_nullable(value)


def _one_of_two_batch_bodies(
    operation: dict[str, Any], schemas: dict[str, Any], max_batch: int
) -> None:
    """``/predict_batch`` takes records *or* columns: say so, instead of two optional fields."""
    body = operation["requestBody"]["content"][_JSON]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1] if "$ref" in body else None
    generated = schemas[name] if name else body
    records = copy.deepcopy(generated["properties"]["transactions"])
    records = next(
        (s for s in records.get("anyOf", [records]) if s.get("type") == "array"), records
    )
    ids = {
        "type": "array",
        "items": {"type": "string", "pattern": TRANSACTION_ID_PATTERN},
        "minItems": 1,
        "maxItems": max_batch,
        "description": "The callers' ids, one per row (optional; generated when absent).",
    }
    schemas["Columns"] = _columns_schema(max_batch)
    one_of = {
        "title": generated.get("title", "BatchRequest"),
        "description": generated.get("description", ""),
        "oneOf": [
            {
                "title": "Records",
                "type": "object",
                "properties": {"transactions": records},
                "required": ["transactions"],
                "additionalProperties": False,
            },
            {
                "title": "ColumnarBatch",
                "type": "object",
                "properties": {"columns": {"$ref": _REF.format("Columns")}, "transaction_ids": ids},
                "required": ["columns"],
                "additionalProperties": False,
            },
        ],
    }
    if name:
        schemas[name] = one_of
    else:
        operation["requestBody"]["content"][_JSON]["schema"] = one_of


class OpenAPIDocument:
    """ASGI middleware: answer ``GET /docs.json`` with :func:`openapi_document`.

    Args:
        app: the wrapped ASGI application.
        build: returns the document; called once, on the first request for it.
    """

    def __init__(self, app: ASGIApp, *, build: Any) -> None:
        self.app = app
        self.build = build
        self._body: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("path") != "/docs.json"
            or scope.get("method") != "GET"
        ):
            await self.app(scope, receive, send)
            return
        if self._body is None:
            self._body = json.dumps(self.build()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self._body})
