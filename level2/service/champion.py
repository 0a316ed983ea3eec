"""The model being served, and how it follows ``@champion`` in the registry without downtime.

The service never loads a model from a path: it asks the MLflow registry which version holds the
alias (``@champion`` by default), loads that version, and keeps asking every few seconds. When the
alias moves, the new version is loaded and warmed up *in the background*, then published by one
reference assignment (atomic in Python). A request takes the reference once, when its batch is
scored, so it finishes on the model it started with, and its response names that version.

Before a version is published, the fast scorer derived from it (:mod:`fraudops.serving.scorer`)
must agree with the pipeline on the fixed reference rows (the parity gate); when it does not, or
when the estimator has no fast path, the version is served through its pipeline, the log says
why, and ``GET /model`` and the ``fraudops_scorer_fallback`` metric show it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fraudops import registry
from fraudops.schema import FEATURES
from fraudops.serving.schemas import ModelInfo, ScorerInfo
from fraudops.serving.scorer import PipelineScorer, Scorer, scorer_for

log = logging.getLogger(__name__)


class ModelNotReady(RuntimeError):
    """No model is loaded yet (no version holds the alias, or loading it failed)."""


@dataclass(frozen=True)
class ServingModel:
    """One loaded registry version: the fitted pipeline, the scorer serving it, its threshold."""

    version: str
    threshold: float
    model: Any = field(repr=False)
    scorer: Scorer = field(repr=False)
    info: ModelInfo

    @property
    def fast(self) -> bool:
        """True when the derived fast scorer serves (cheap enough to run on the event loop)."""
        return self.scorer.path != "pipeline"

    def score(self, rows: np.ndarray) -> np.ndarray:
        """P(fraud) of each row of ``rows`` (shape ``(n, 30)``, columns in FEATURES order)."""
        return self.scorer.score(rows)


def load_version(version: str, *, alias: str, fast: bool = True) -> ServingModel:
    """Load registry ``version`` with its operating threshold, warmed up and ready to score.

    With ``fast``, the fast scorer is derived and put through the parity gate; the pipeline
    serves when either fails (see the module docstring).

    Raises:
        ValueError: the version has no usable ``threshold`` tag.
    """
    info = registry.version_info(version)
    threshold = info.get(registry.THRESHOLD)
    if threshold is None:
        raise ValueError(
            f"version {version} of {registry.MODEL_NAME} has no '{registry.THRESHOLD}' tag; "
            "every registered version needs one (fraudops.registry.register checks it)"
        )
    model = registry.load_model(version)
    if fast:
        scorer, parity, fallback = scorer_for(model, float(threshold))
    else:
        scorer, parity, fallback = (
            PipelineScorer(model),
            None,
            "the fast scorer is switched off (FRAUDOPS_FAST_SCORER=0)",
        )
    if fallback is None:
        log.info("version %s scores through %s (parity: %s)", version, scorer.path, parity)
    else:
        log.warning("version %s is served through its pipeline: %s", version, fallback)
    loaded = ServingModel(
        version=str(version),
        threshold=float(threshold),
        model=model,
        scorer=scorer,
        info=ModelInfo(
            name=registry.MODEL_NAME,
            alias=alias,
            version=str(version),
            threshold=float(threshold),
            run_id=info.get("run_id"),
            metrics=_numbers(info.get("metrics") or {}),
            tags={str(k): str(v) for k, v in (info.get("tags") or {}).items()},
            loaded_at=time.time(),
            scorer=ScorerInfo(
                path=scorer.path,
                fallback_reason=fallback,
                parity=parity.as_dict() if parity is not None else None,
            ),
        ),
    )
    # The first call of a fresh pipeline or scorer is several times slower than the next ones
    # (lazy imports, allocations): pay it here, not on a customer's request.
    loaded.score(np.zeros((1, len(FEATURES))))
    return loaded


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            continue
    return out


class ChampionWatcher:
    """Follows the registry alias: loads its version, and swaps when the alias moves.

    Args:
        alias: the registry alias to serve (``champion``).
        interval: seconds between two looks at the registry; 0 disables polling (the admin
            reload endpoint still works).
        on_swap: called as ``on_swap(old, new)`` after a new version is published (metrics).
        on_failure: called as ``on_failure(exc)`` when loading a new version failed (metrics).
        fast_scorer: derive the fast scorer of each version (``False``: always the pipeline).
    """

    def __init__(
        self,
        alias: str,
        *,
        interval: float,
        on_swap=None,
        on_failure=None,
        fast_scorer: bool = True,
    ) -> None:
        self.alias = alias
        self.fast_scorer = fast_scorer
        self.interval = interval
        self._on_swap = on_swap
        self._on_failure = on_failure
        self._current: ServingModel | None = None
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def current(self) -> ServingModel | None:
        """The version being served, or ``None`` before the first successful load."""
        return self._current

    def require(self) -> ServingModel:
        """The version being served.

        Raises:
            ModelNotReady: nothing is loaded yet; the message says why.
        """
        current = self._current
        if current is None:
            reason = self.last_error or "the first load has not finished"
            raise ModelNotReady(f"no model loaded for @{self.alias}: {reason}")
        return current

    def refresh(self) -> bool:
        """Look up the alias once; load and publish its version if it changed.

        Returns:
            True when a new version was published. Failures are logged and kept in
            :attr:`last_error`; the version being served (if any) stays in place.
        """
        # The poller and the admin endpoint may both call this: one load at a time.
        with self._refresh_lock:
            old = self._current
            try:
                version = registry.version_of(self.alias)
                if version is None:
                    self.last_error = f"no version of {registry.MODEL_NAME} has alias @{self.alias}"
                    return False
                if old is not None and old.version == str(version):
                    return False
                start = time.perf_counter()
                new = load_version(str(version), alias=self.alias, fast=self.fast_scorer)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("loading @%s failed; still serving %s", self.alias, _ver(old))
                if self._on_failure is not None:
                    self._on_failure(exc)
                return False
            self._current = new  # the swap: one reference assignment
            self.last_error = None
            log.info(
                "serving %s version %s (was %s), loaded in %.1fs",
                registry.MODEL_NAME,
                new.version,
                _ver(old),
                time.perf_counter() - start,
            )
        if self._on_swap is not None:
            self._on_swap(old, new)
        return True

    def start(self) -> None:
        """Start polling the registry in a daemon thread (no-op when ``interval`` is 0)."""
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll, name="fraudops-champion", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling; waits for a load in progress to finish (up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()


def _ver(model: ServingModel | None) -> str:
    return model.version if model is not None else "nothing"
