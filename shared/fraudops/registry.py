"""The model registry: one registered model, ``fraud-detector``, and two aliases.

``@challenger`` is the newest registered candidate; ``@champion`` is the version in production
(the service loads ``models:/fraud-detector@champion``). Aliases, not the deprecated stages.

Only :func:`promote` and :func:`rollback` move ``@champion``, and each move is appended to the
promotion log (``<state_dir>/promotion_log.jsonl``, one JSON object per line) under a file lock,
so two processes (the CT job and a person at the CLI) never interleave or race. The version that
becomes champion remembers the one it replaced in its ``previous_champion`` tag: that is what
:func:`rollback` restores.

Every registered version carries the tag ``threshold``: the operating threshold chosen on
validation, which the service and the gate use with that model.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from fraudops import tracking

MODEL_NAME = "fraud-detector"
CHAMPION = "champion"
CHALLENGER = "challenger"
#: Tag on a version naming the champion it replaced (what a rollback restores).
PREVIOUS_CHAMPION = "previous_champion"
THRESHOLD = "threshold"
LOG_NAME = "promotion_log.jsonl"

# Marks "do not check who the champion is" in promote() (None means "there is no champion").
_UNCHECKED: Any = object()


class RegistryError(Exception):
    """A registry request that cannot be met: unknown version, no champion, nothing to roll back."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _missing(exc: MlflowException) -> bool:
    # An unknown model or version is RESOURCE_DOES_NOT_EXIST; an unknown alias is reported as
    # INVALID_PARAMETER_VALUE.
    return exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _version_numbers() -> list[str]:
    client = tracking.connect()
    try:
        found = client.search_model_versions(f"name='{MODEL_NAME}'")
    except MlflowException as exc:
        if _missing(exc):
            return []
        raise
    return sorted((str(v.version) for v in found), key=int)


def _model_version(ref: str | int) -> ModelVersion:
    """The registry entry that ``ref`` (a version number or an alias) designates."""
    ref = str(ref).strip().lstrip("@")
    client = tracking.connect()
    try:
        if ref.isdigit():
            return client.get_model_version(MODEL_NAME, ref)
        return client.get_model_version_by_alias(MODEL_NAME, ref)
    except MlflowException as exc:
        if not _missing(exc):
            raise
    if ref.isdigit():
        known = ", ".join(_version_numbers()) or "none"
        raise RegistryError(f"{MODEL_NAME} has no version {ref} (registered versions: {known})")
    raise RegistryError(f"no version of {MODEL_NAME} has the alias @{ref}")


def _resolve(ref: str | int) -> str:
    """The version number that ``ref`` (a version number or an alias) designates."""
    return str(_model_version(ref).version)


def register(model_uri: str, *, tags: Mapping[str, Any]) -> str:
    """Register a logged model as a new version of ``fraud-detector`` and make it ``@challenger``.

    Args:
        model_uri: the logged model (``ModelInfo.model_uri`` from :func:`fraudops.tracking.log_model`).
        tags: the version's tags; must include ``threshold``. Also recommended: ``estimator``,
            ``average_precision`` and ``recall`` on the test split (``fraudops registry list``
            shows them), the data version and git commit.

    Returns:
        The new version number, as a string.

    Raises:
        ValueError: ``threshold`` is missing or not a number in [0, 1].
    """
    import mlflow

    if THRESHOLD not in tags:
        raise ValueError(f"register: tags must include '{THRESHOLD}' (the operating threshold)")
    try:
        threshold = float(tags[THRESHOLD])
    except (TypeError, ValueError):
        threshold = math.nan
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(
            f"register: tag '{THRESHOLD}' must be a number in [0, 1], got {tags[THRESHOLD]!r}"
        )
    client = tracking.connect()
    version = mlflow.register_model(
        model_uri, MODEL_NAME, tags={k: str(v) for k, v in tags.items()}
    )
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, version.version)
    return str(version.version)


def version_of(alias: str) -> str | None:
    """The version holding ``alias`` (``champion``, ``challenger``...), or ``None``."""
    try:
        return str(tracking.connect().get_model_version_by_alias(MODEL_NAME, alias).version)
    except MlflowException as exc:
        if _missing(exc):
            return None
        raise


def load_model(ref: str | int) -> Any:
    """Load a version (``"3"``, ``3``) or an alias (``"champion"``) as the fitted sklearn pipeline.

    Raises:
        RegistryError: no such version or alias.
    """
    import mlflow.sklearn

    version = _resolve(ref)
    # Load by number, not by alias, so that the model is the version resolved above even if
    # the alias moves meanwhile.
    return mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")


def version_info(ref: str | int) -> dict[str, Any]:
    """What the registry knows about a version (or the version an alias points to).

    Returns:
        ``version``, ``aliases``, ``created`` (ISO time, UTC), ``run_id``, ``source``, ``tags``,
        ``threshold`` (float, or ``None`` when the tag is missing), ``metrics`` (the run's).

    Raises:
        RegistryError: no such version or alias.
    """
    client = tracking.connect()
    version = _model_version(ref)
    metrics: dict[str, float] = {}
    if version.run_id:
        try:
            metrics = dict(client.get_run(version.run_id).data.metrics)
        except MlflowException as exc:
            if not _missing(exc):  # a deleted run leaves the version without metrics
                raise
    threshold = version.tags.get(THRESHOLD)
    return {
        "version": str(version.version),
        "aliases": sorted(version.aliases),
        "created": datetime.fromtimestamp(version.creation_timestamp / 1000, UTC).isoformat(
            timespec="seconds"
        ),
        "run_id": version.run_id,
        "source": version.source,
        "tags": dict(version.tags),
        THRESHOLD: None if threshold is None else float(threshold),
        "metrics": metrics,
    }


def list_versions() -> list[dict[str, Any]]:
    """Every version of ``fraud-detector``, oldest first, as :func:`version_info` describes it."""
    return [version_info(v) for v in _version_numbers()]


def set_alias(alias: str, version: str | int) -> None:
    """Point ``alias`` at ``version``.

    Use :func:`promote` for ``@champion``: it records the move and what it replaced.

    Raises:
        RegistryError: no such version.
    """
    tracking.connect().set_registered_model_alias(MODEL_NAME, alias, _resolve(version))


def set_tags(version: str | int, tags: Mapping[str, Any]) -> None:
    """Set tags on a version (values are stored as strings)."""
    client = tracking.connect()
    number = _resolve(version)
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAME, number, key, str(value))


def log_path() -> Path:
    """The promotion log: ``<state_dir>/promotion_log.jsonl``."""
    return tracking.state_dir() / LOG_NAME


@contextmanager
def _locked_log() -> Iterator[int]:
    """Hold an exclusive lock on the promotion log; yield its descriptor, open for appending.

    The lock serialises every champion move (read the champion, move the alias, append the line)
    across processes on this machine.
    """
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars from metrics
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to the promotion log: {value!r}")


def _append(fd: int, record: Mapping[str, Any]) -> None:
    # One write() of a whole line on an O_APPEND descriptor: a reader never sees half a record.
    line = json.dumps(record, default=_json_default, sort_keys=False) + "\n"
    os.write(fd, line.encode())
    os.fsync(fd)


def append_log(record: Mapping[str, Any]) -> dict[str, Any]:
    """Append a decision to the promotion log (adds ``time`` when absent); return the record."""
    record = {"time": _now(), **record}
    with _locked_log() as fd:
        _append(fd, record)
    return record


def promotion_log() -> list[dict[str, Any]]:
    """Every recorded decision, oldest first (empty when nothing was ever promoted).

    Raises:
        ValueError: a line is not valid JSON (the file was edited by hand).
    """
    path = log_path()
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {number}: not a JSON record ({exc})") from None
    return records


def promote(
    version: str | int,
    *,
    reason: str,
    metrics: Mapping[str, Any] | None = None,
    actor: str = "manual",
    expected_champion: str | None = _UNCHECKED,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Make ``version`` the champion, remembering the one it replaces, and log the move.

    Args:
        version: a version number (or an alias such as ``challenger``).
        reason: why (the gate's reason, or a person's).
        metrics: the figures that justified it, kept in the log.
        actor: who decided (``manual``, ``gate``...).
        expected_champion: when given, the champion the decision was made against (``None``
            for "no champion"); if another process moved ``@champion`` since, nothing changes
            and :class:`RegistryError` is raised.
        details: extra fields for the log record (the gate's holdout and both metric sets).

    Returns:
        The log record: ``time``, ``action`` (``promote``), ``version``, ``previous_champion``,
        ``reason``, ``actor``, ``metrics`` and the ``details``.

    Raises:
        RegistryError: unknown version, already the champion, or the champion changed.
    """
    client = tracking.connect()
    with _locked_log() as fd:
        number = _resolve(version)
        previous = version_of(CHAMPION)
        if previous == number:
            raise RegistryError(f"version {number} is already the champion")
        if expected_champion is not _UNCHECKED and previous != expected_champion:
            raise RegistryError(
                f"the champion changed while deciding (expected {expected_champion}, "
                f"now {previous}): run the gate again"
            )
        record = {
            "time": _now(),
            "action": "promote",
            "version": number,
            "previous_champion": previous,
            "reason": reason,
            "actor": actor,
            "metrics": dict(metrics) if metrics is not None else None,
            **(details or {}),
        }
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, number)
        if previous is None:
            # A re-promoted first model must not keep a stale tag from an earlier reign.
            if PREVIOUS_CHAMPION in client.get_model_version(MODEL_NAME, number).tags:
                client.delete_model_version_tag(MODEL_NAME, number, PREVIOUS_CHAMPION)
        else:
            client.set_model_version_tag(MODEL_NAME, number, PREVIOUS_CHAMPION, previous)
        client.set_model_version_tag(MODEL_NAME, number, "promoted_at", record["time"])
        client.set_model_version_tag(MODEL_NAME, number, "promoted_by", actor)
        if version_of(CHALLENGER) == number:
            # The challenger won: no candidate is waiting any more.
            client.delete_registered_model_alias(MODEL_NAME, CHALLENGER)
        _append(fd, record)
    return record


def rollback(*, reason: str = "rollback", actor: str = "manual") -> dict[str, Any]:
    """Give ``@champion`` back to the version the current champion replaced, and log it.

    Repeated rollbacks walk further back (each champion remembers its own predecessor).

    Returns:
        The log record (``action`` is ``rollback``; ``version`` is the restored champion and
        ``previous_champion`` the one rolled back).

    Raises:
        RegistryError: there is no champion, or the champion replaced none (the first model).
    """
    client = tracking.connect()
    with _locked_log() as fd:
        current = version_of(CHAMPION)
        if current is None:
            raise RegistryError("there is no champion: nothing to roll back")
        restored = client.get_model_version(MODEL_NAME, current).tags.get(PREVIOUS_CHAMPION)
        if not restored:
            raise RegistryError(
                f"version {current} replaced no earlier champion: there is nothing to roll back to"
            )
        restored = _resolve(restored)
        record = {
            "time": _now(),
            "action": "rollback",
            "version": restored,
            "previous_champion": current,
            "reason": reason,
            "actor": actor,
            "metrics": None,
        }
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, restored)
        client.set_model_version_tag(MODEL_NAME, current, "rolled_back_at", record["time"])
        _append(fd, record)
    return record
