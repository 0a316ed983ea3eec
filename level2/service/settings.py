"""The scoring service's settings: environment variables with embedded defaults.

Every setting has a default that works offline on one laptop; production changes them through the
environment (a container's ``ENV``, a Kubernetes manifest), never through code. The variables are
listed, with their defaults, in the docstring of :mod:`level2.service.service`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from fraudops.serving.schemas import DEFAULT_MAX_BATCH

#: Bytes of request body allowed per transaction of the largest batch (a transaction with every
#: float at full precision is about 900 bytes of JSON), plus room for the envelope.
_BYTES_PER_TRANSACTION = 2048
_BODY_ENVELOPE = 64 * 1024


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """What the service reads from the environment (see :meth:`from_env`)."""

    prediction_log: str
    model_alias: str = "champion"
    reload_interval: float = 10.0
    max_batch: int = DEFAULT_MAX_BATCH
    batching: str = "auto"
    microbatch_size: int = 128
    fast_scorer: bool = True
    max_body_bytes: int = DEFAULT_MAX_BATCH * _BYTES_PER_TRANSACTION + _BODY_ENVELOPE
    admin_token: str | None = None
    workers: int = 1
    scoring_threads: int = 1
    access_log: bool = False
    trace_scoring: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default ``os.environ``).

        Raises:
            SettingsError: a variable is set to a value of the wrong kind or out of range; the
                message names the variable.
        """
        env = os.environ if env is None else env
        max_batch = _int(env, "FRAUDOPS_MAX_BATCH", DEFAULT_MAX_BATCH, minimum=1)
        return cls(
            prediction_log=env.get("FRAUDOPS_PREDICTION_LOG") or default_prediction_log(env),
            model_alias=env.get("FRAUDOPS_MODEL_ALIAS") or "champion",
            reload_interval=_float(env, "FRAUDOPS_RELOAD_INTERVAL", 10.0, minimum=0.0),
            max_batch=max_batch,
            batching=_batching(env, "FRAUDOPS_BATCHING"),
            microbatch_size=_int(env, "FRAUDOPS_MICROBATCH_SIZE", 128, minimum=1),
            fast_scorer=_bool(env, "FRAUDOPS_FAST_SCORER", True),
            max_body_bytes=_int(
                env,
                "FRAUDOPS_MAX_BODY_BYTES",
                max_batch * _BYTES_PER_TRANSACTION + _BODY_ENVELOPE,
                minimum=1024,
            ),
            admin_token=env.get("FRAUDOPS_ADMIN_TOKEN") or None,
            workers=_int(env, "FRAUDOPS_WORKERS", 1, minimum=1),
            scoring_threads=_int(env, "FRAUDOPS_SCORING_THREADS", 1, minimum=1),
            access_log=_bool(env, "FRAUDOPS_ACCESS_LOG", False),
            trace_scoring=_bool(env, "FRAUDOPS_TRACE_SCORING", False),
        )


def default_prediction_log(env: Mapping[str, str]) -> str:
    """``sqlite:///<state dir>/predictions.sqlite``, the state directory being resolved now.

    Resolved to an absolute path at start-up, so the log stays put whatever directory BentoML
    switches to (it serves a built Bento from inside the Bento).
    """
    state = os.path.abspath(os.path.expanduser(env.get("FRAUDOPS_STATE_DIR") or "var"))
    return f"sqlite:///{os.path.join(state, 'predictions.sqlite')}"


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not value >= minimum:  # also refuses NaN
        raise SettingsError(f"{name}={raw} must be a number >= {minimum}")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _raw(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not one of {sorted(_TRUE | _FALSE)}")


#: ``FRAUDOPS_BATCHING``: ``auto`` micro-batches ``/predict`` only while a version is served
#: through its pipeline; ``on`` always; ``off`` never (the booleans of :func:`_bool` also work).
BATCHING_MODES = ("auto", "on", "off")


def _batching(env: Mapping[str, str], name: str) -> str:
    raw = _raw(env, name)
    if raw is None:
        return "auto"
    if raw.lower() in BATCHING_MODES:
        return raw.lower()
    try:
        return "on" if _bool(env, name, True) else "off"
    except SettingsError:
        raise SettingsError(
            f"{name}={raw!r} is not one of {list(BATCHING_MODES)} (or a boolean)"
        ) from None
