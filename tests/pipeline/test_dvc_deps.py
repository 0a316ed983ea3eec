"""Every DVC stage lists, in its ``deps``, all the project code it runs.

``dvc repro`` reruns a stage only when a dependency changed, so a module the stage imports but
does not list is a change that silently keeps a stale model. The imports are read from the
source (module-level and function-level ``import`` statements, followed through the project's
own packages, parents included, since importing ``fraudops.data.io`` runs
``fraudops/data/__init__.py`` too), so a new import fails this test until ``dvc.yaml`` lists it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
#: Where the project's own top-level packages live (everything else is a third-party import).
PACKAGES = {"level1": ROOT / "level1", "fraudops": ROOT / "shared" / "fraudops"}
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def source_of(module: str) -> Path | None:
    """The project file that defines ``module``, or None for a third-party or unknown name."""
    top, *rest = module.split(".")
    if top not in PACKAGES:
        return None
    base = PACKAGES[top].joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path, module: str) -> set[str]:
    """Modules (and ``module.name`` candidates) that ``path`` imports anywhere in its body."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            # `from fraudops.data import io` imports the module fraudops.data.io.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def project_files(module: str) -> set[Path]:
    """Every project source file that running ``python -m module`` imports."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            path = source_of(name)
            if path is not None and name not in seen:
                seen[name] = path
                todo.extend(imported_names(path, name))
    return set(seen.values())


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def stage_module(stage: dict) -> str:
    words = stage["cmd"].split()
    return words[words.index("-m") + 1]


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_lists_all_the_project_code_it_imports(name: str) -> None:
    stage = STAGES[name]
    files = project_files(stage_module(stage))
    assert files, f"{name}: found no project code for {stage_module(stage)}"
    missing = sorted(
        rel for rel in (str(p.relative_to(ROOT)) for p in files) if not covered(rel, stage["deps"])
    )
    assert not missing, f"stage {name!r} imports code its deps do not list: {missing}"


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_lists_no_project_code_it_does_not_import(name: str) -> None:
    """A stale code dependency reruns the stage (and all after it) for a change it never runs."""
    stage = STAGES[name]
    files = {str(p.relative_to(ROOT)) for p in project_files(stage_module(stage))}
    stale = sorted(d for d in stage["deps"] if d.endswith(".py") and d not in files)
    assert not stale, f"stage {name!r} lists code it does not import: {stale}"


def test_the_import_reader_follows_function_level_and_relative_imports() -> None:
    """The reader itself: it must see what a stage imports lazily, or the test above is blind."""
    files = {str(p.relative_to(ROOT)) for p in project_files("level1.stages.train_custom")}
    assert "level1/stages/common.py" in files  # module level
    assert "shared/fraudops/__init__.py" in files  # parent package
    assert "shared/fraudops/models.py" in files
    assert "shared/fraudops/tracking.py" in files  # imported only inside a function of training.py
    assert not any(f.startswith("level2/") for f in files)  # the library never imports a level
