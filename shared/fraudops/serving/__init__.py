"""What the Level 2 scoring service shares with its clients: the typed request/response bodies.

The service itself lives in ``level2/service`` (it is orchestration); the schemas live in the
library so that clients (the traffic simulator, tests, notebooks) validate against the same
definitions the service enforces.
"""

from fraudops.serving.schemas import (
    DEFAULT_MAX_BATCH,
    TRANSACTION_ID_PATTERN,
    BatchRequest,
    BatchResponse,
    Feedback,
    FeedbackBatch,
    FeedbackBatchResult,
    FeedbackItemResult,
    FeedbackResult,
    ModelInfo,
    Prediction,
    ScorerInfo,
    Transaction,
    batch_request_model,
    columnar_rows,
    feedback_batch_model,
)

__all__ = [
    "DEFAULT_MAX_BATCH",
    "TRANSACTION_ID_PATTERN",
    "BatchRequest",
    "BatchResponse",
    "Feedback",
    "feedback_batch_model",
    "columnar_rows",
    "ScorerInfo",
    "FeedbackItemResult",
    "FeedbackBatchResult",
    "FeedbackBatch",
    "FeedbackResult",
    "ModelInfo",
    "Prediction",
    "Transaction",
    "batch_request_model",
]
