"""Reading ``params.yaml``: one section per stage, each into a typed object.

DVC passes parameters through the file, not the command line, so every stage reads its own
section here. ``load_section`` fails with the section and the unknown or missing key named,
instead of a ``KeyError`` deep in a stage.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")


class ParamsError(ValueError):
    """``params.yaml`` is missing, malformed, or a section does not fit its stage."""


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read the whole parameter file.

    Args:
        path: the YAML file, ``params.yaml`` in the working directory by default.

    Returns:
        The mapping of section name to section.

    Raises:
        ParamsError: the file is missing or is not a YAML mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: parameter file not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def from_section(cls: type[T], section: dict[str, Any] | None, name: str) -> T:
    """Build the dataclass ``cls`` from one section, refusing unknown keys.

    Args:
        cls: a dataclass whose fields are the section's keys (fields with defaults are optional).
        section: the section's mapping (``None`` means empty).
        name: the section's name, for error messages.

    Raises:
        ParamsError: a key is unknown or a required key is missing.
    """
    section = dict(section or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ParamsError(
            f"params.yaml section '{name}': unknown key(s) {unknown}; allowed: {sorted(fields)}"
        )
    missing = [
        f.name
        for f in fields.values()
        if f.name not in section
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ParamsError(f"params.yaml section '{name}': missing key(s) {missing}")
    return cls(**section)


def load_section(cls: type[T], name: str, path: str | Path = DEFAULT_PARAMS) -> T:
    """Read section ``name`` of the parameter file into ``cls`` (see :func:`from_section`)."""
    return from_section(cls, load_params(path).get(name), name)
