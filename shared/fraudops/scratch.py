"""A throw-away copy of the project, for runs that must not touch the real checkout.

The quick demo, the pipeline tests and the pipeline benchmark all run ``dvc repro`` on small or
fresh data; doing that in the user's checkout would overwrite its ``dvc.lock``, data and
registry. They run in a copy instead: the files git sees (tracked, plus untracked files that are
not ignored, so uncommitted work is included), committed into a new repository, because DVC
records the git commit and ``dvc metrics diff`` compares against one.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

#: The folders DVC tracks as pipeline inputs (new batches, labeled production data). Git keeps
#: no empty folder, so a fresh clone has neither until :func:`make_data_folders` makes them.
DATA_FOLDERS = ("data/batches", "data/feedback")

#: Commits in the copy are made under this name, never the user's.
_GIT_IDENTITY = ["-c", "user.name=fraudops", "-c", "user.email=fraudops@example.com"]


def copy_project(
    root: Path,
    dest: Path,
    *,
    message: str = "scratch copy of the project",
    edit: Callable[[Path], None] | None = None,
) -> Path:
    """Copy the project at ``root`` into ``dest`` as a fresh git repository with one commit.

    Args:
        root: the project's git checkout.
        dest: where the copy goes; an existing folder there is replaced.
        message: the copy's commit message.
        edit: called with ``dest`` before the commit (for example to write small params).

    Returns:
        ``dest``.

    Raises:
        subprocess.CalledProcessError: ``root`` is not a git checkout, or git failed.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    if dest.exists():
        shutil.rmtree(dest)
    for name in filter(None, listed.split("\0")):
        source = root / name
        if source.is_file():  # a deleted but still tracked file is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    make_data_folders(dest)
    if edit is not None:
        edit(dest)
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", *_GIT_IDENTITY, *cmd], cwd=dest, check=True, capture_output=True)
    return dest


def make_data_folders(root: Path) -> None:
    """Create the DVC-tracked input folders that a fresh clone lacks (see :data:`DATA_FOLDERS`).

    Without them ``dvc repro`` stops at once with "missing data 'source'".
    """
    for folder in DATA_FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
