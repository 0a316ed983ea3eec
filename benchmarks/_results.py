"""Where benchmark figures go: one JSON file and one Markdown table per benchmark."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write(name: str, figures: dict[str, Any], markdown: str, *, where: Path = RESULTS) -> Path:
    """Save a benchmark's figures and its Markdown report under ``benchmarks/results``.

    Args:
        name: the benchmark's name (file stem).
        figures: JSON-serialisable results; the machine description is added.
        markdown: the human-readable report, tables first.
        where: the folder (another one for a run that must not replace the committed results).

    Returns:
        The Markdown file's path.
    """
    where.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **_plain(figures)}
    (where / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    md = where / f"{name}.md"
    header = f"<!-- written by `python -m benchmarks {name}`; do not edit by hand -->\n"
    md.write_text(header + markdown.rstrip() + "\n")
    return md


def table(rows: list[dict[str, Any]], columns: list[str], floatfmt: str = ".3f") -> str:
    """A Markdown table of ``rows`` (dicts) in the order of ``columns``."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            cells.append(format(v, floatfmt) if isinstance(v, float) else str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
