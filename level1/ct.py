"""fraudops ct: the Level 1 continuous-training trigger.

Each check looks for new batches (*.csv, *.parquet) in data/incoming/:

* none: prints "no new data" and runs nothing;
* a batch that fails validation is moved to data/rejected/ with its report beside it
  (NAME.report.json and NAME.report.txt); nothing else changes, the champion included;
* a valid batch is moved into data/batches/ under a new, unique name (nothing is ever
  overwritten), `dvc add data/batches` records the new data version (and `dvc push` copies it
  to the DVC remote), then `dvc repro` retrains, evaluates, registers and gates; a summary
  says what changed.

Run it once (--once, e.g. from cron or CI) or as a loop (--every SECONDS; Ctrl-C stops it
cleanly). A lock file in the state directory keeps two runs from overlapping. Exit status: 0
when everything went through or there was nothing to do, 1 when a batch was rejected or the
pipeline failed. A batch that reached data/batches stays recorded either way: fix the failure
and run `dvc repro`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudops.cli import CommandError

INCOMING = Path("data/incoming")
BATCHES = Path("data/batches")
#: Labeled production data (``fraudops retrain``): split on its own by the pipeline.
FEEDBACK = Path("data/feedback")
REJECTED = Path("data/rejected")
REGISTRATION = Path("reports/registration.json")
DATA_SUFFIXES = (".csv", ".parquet")


@dataclass
class CheckResult:
    """What one check found and did.

    Attributes:
        accepted: batches moved into ``data/batches`` or ``data/feedback`` (their new paths).
        rejected: batches moved into ``data/rejected`` (their new paths).
        pipeline_ok: None when the pipeline did not run, else whether it succeeded.
        summary: before/after facts (data version, registered version, gate, champion).
    """

    accepted: list[Path] = field(default_factory=list)
    rejected: list[Path] = field(default_factory=list)
    pipeline_ok: bool | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected or self.pipeline_ok is False else 0


def new_batches(incoming: Path) -> list[Path]:
    """Data files waiting in ``incoming``, oldest first (by name on equal times)."""
    if not incoming.is_dir():
        return []
    files = [p for p in incoming.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def unique_destination(directory: Path, name: str, now: datetime | None = None) -> Path:
    """A path in ``directory`` for ``name`` that does not exist yet.

    The name gets a UTC timestamp prefix, so batches sort by arrival (ingest appends them in
    name order) and a second ``transactions.csv`` never overwrites the first.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    candidate = directory / f"{stamp}-{stem}{suffix}"
    n = 1
    while candidate.exists():
        candidate = directory / f"{stamp}-{stem}-{n}{suffix}"
        n += 1
    return candidate


def accept(path: Path, batches: Path) -> Path:
    """Move a valid batch into ``batches`` under a unique name; return its new path."""
    batches.mkdir(parents=True, exist_ok=True)
    target = unique_destination(batches, path.name)
    shutil.move(str(path), target)
    return target


def reject(path: Path, report: Any, rejected: Path) -> Path:
    """Move an invalid batch to ``rejected`` with its validation report beside it.

    Args:
        path: the batch.
        report: its :class:`fraudops.data.ValidationReport`.
        rejected: the folder for rejected batches.

    Returns:
        The batch's new path; the report is ``<new path>.report.json`` and ``.report.txt``.
    """
    rejected.mkdir(parents=True, exist_ok=True)
    target = unique_destination(rejected, path.name)
    shutil.move(str(path), target)
    payload = {"batch": path.name, "rejected_at": datetime.now(UTC).isoformat(), **report.to_dict()}
    Path(f"{target}.report.json").write_text(json.dumps(payload, indent=2) + "\n")
    Path(f"{target}.report.txt").write_text(report.format() + "\n")
    return target


def tool_env() -> dict[str, str]:
    """The environment for DVC: this interpreter's ``bin/`` first on PATH, so the stages'
    ``python -m ...`` commands run in the same virtualenv as ``fraudops`` itself."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_streaming(cmd: list[str], *, cwd: Path, prefix: str = "  | ") -> int:
    """Run ``cmd``, echoing its output line by line as it comes; return the exit status."""
    print(f"ct: $ {' '.join(cmd)}", flush=True)
    with subprocess.Popen(
        cmd,
        cwd=cwd,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(prefix + line.rstrip("\n"), flush=True)
    return proc.returncode


def data_version(project: Path, batches: Path = BATCHES) -> str | None:
    """The md5 that ``<batches>.dvc`` records for the folder (its data version)."""
    import yaml

    dvc_file = project / f"{batches}.dvc"
    if not dvc_file.is_file():
        return None
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    return outs[0].get("md5")


def registry_state() -> dict[str, Any]:
    """The current ``@champion`` and the number of registered versions."""
    from fraudops import registry

    return {
        "champion": registry.version_of(registry.CHAMPION),
        "versions": len(registry.list_versions()),
    }


def _registration(project: Path) -> dict[str, Any] | None:
    path = project / REGISTRATION
    return json.loads(path.read_text()) if path.is_file() else None


def check(project: Path, incoming: Path, *, batches: Path = BATCHES) -> CheckResult:
    """One pass of the trigger: validate new batches, version the good ones, retrain.

    Args:
        project: the project root (holds ``dvc.yaml``).
        incoming: the folder new batches are dropped into.
        batches: the DVC-tracked folder (relative to ``project``) valid batches join:
            ``data/batches`` for new transactions, ``data/feedback`` for labeled production
            data.

    Returns:
        What was accepted, rejected and run (see :class:`CheckResult`).
    """
    from fraudops.data import validate_file

    result = CheckResult()
    files = new_batches(incoming)
    if not files:
        print(f"ct: no new data in {incoming}", flush=True)
        return result

    for path in files:
        # A batch may hold no fraud at all; only the whole training table must have both.
        report = validate_file(path, require_both_classes=False)
        if report.ok:
            target = accept(path, project / batches)
            result.accepted.append(target)
            print(
                f"ct: accepted {path.name} -> {target.relative_to(project)} ({report.summary()})",
                flush=True,
            )
        else:
            target = reject(path, report, project / REJECTED)
            result.rejected.append(target)
            print(f"ct: REJECTED {path.name} -> {target.relative_to(project)}", flush=True)
            print(report.format(), flush=True)
    if not result.accepted:
        print(
            "ct: nothing accepted; the pipeline does not run and the champion is unchanged",
            flush=True,
        )
        return result

    before = {
        "data_version": data_version(project, batches),
        "registration": _registration(project),
        **registry_state(),
    }
    dvc = str(Path(sys.executable).parent / "dvc")
    dvc = dvc if Path(dvc).is_file() else "dvc"
    start = time.perf_counter()
    ok = run_streaming([dvc, "add", str(batches)], cwd=project) == 0
    if not ok:
        print(
            f"ct: `dvc add {batches}` failed; the batch(es) are in {batches} but not versioned",
            flush=True,
        )
        result.pipeline_ok = False
        return result
    # The new data version must outlive this workspace (a CI job's copy, a laptop): push the
    # batches to the DVC remote. Without a reachable remote the version still exists locally.
    if run_streaming([dvc, "push", f"{batches}.dvc"], cwd=project) != 0:
        print("ct: warning: could not push the batches to the DVC remote", flush=True)
    ok = run_streaming([dvc, "repro"], cwd=project) == 0
    result.pipeline_ok = ok
    after = {
        "data_version": data_version(project, batches),
        "registration": _registration(project),
        **registry_state(),
    }
    result.summary = summarize(before, after, seconds=time.perf_counter() - start)
    print(format_summary(result), flush=True)
    return result


def summarize(before: dict[str, Any], after: dict[str, Any], *, seconds: float) -> dict[str, Any]:
    """What changed between two snapshots of data version, registration and registry."""
    registration = after["registration"]
    new = registration if registration and registration != before["registration"] else None
    decision = (new or {}).get("decision") or {}
    return {
        "data_version": [before["data_version"], after["data_version"]],
        "new_version": new["version"] if new else None,
        "candidate": new["candidate"] if new else None,
        "promoted": decision.get("promote") if new else None,
        "reason": decision.get("reason") if new else None,
        "champion": [before["champion"], after["champion"]],
        "versions": [before["versions"], after["versions"]],
        "seconds": round(seconds, 1),
    }


def format_summary(result: CheckResult) -> str:
    """The closing lines of a check that ran the pipeline."""
    s = result.summary
    status = "succeeded" if result.pipeline_ok else "FAILED"
    old, new = s["data_version"]
    lines = [
        f"ct: pipeline {status} in {s['seconds']:.0f}s",
        f"ct:   data version  {old} -> {new} (+{len(result.accepted)} batch(es))",
    ]
    if s["new_version"] is not None:
        verdict = "promoted to @champion" if s["promoted"] else "refused, stays @challenger"
        lines += [
            f"ct:   registered    fraud-detector version {s['new_version']} ({s['candidate']})",
            f"ct:   gate          {verdict}: {s['reason']}",
        ]
    else:
        lines.append("ct:   registered    no new version")
    lines.append(f"ct:   champion      {s['champion'][0]} -> {s['champion'][1]}")
    if not result.pipeline_ok:
        lines.append(
            "ct: the batch stays recorded (DVC-versioned); fix the failure above and run "
            "`dvc repro` (the next ct check only looks at new files)"
        )
    return "\n".join(lines)


def lock_path() -> Path:
    """The lock every run that adds a data version and runs ``dvc repro`` holds.

    ``fraudops ct`` and ``fraudops retrain`` share it: both add a data version and run the
    pipeline in the same workspace, so they must never overlap.
    """
    from fraudops import tracking

    return tracking.state_dir() / "ct.lock"


@contextmanager
def exclusive(path: Path, *, wait: float | None = None, who: str = "fraudops ct") -> Iterator[None]:
    """Hold an exclusive lock on ``path``; by default fail at once if another run holds it.

    ``flock`` locks die with their process, so a crashed run never leaves a stale lock.

    Args:
        path: the lock file (holds the holder's pid and command, for the error message).
        wait: seconds to wait for the holder to finish (``None`` or 0: fail at once). Waiting
            is what serialises two runs started together.
        who: this run's command, written into the lock for the next one's error message.

    Raises:
        CommandError: another run still holds the lock (after ``wait`` seconds).
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (wait or 0.0)
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                handle.seek(0)
                pid, _, command = handle.read().strip().partition(" ")
                raise CommandError(
                    f"another `{command or 'fraudops ct'}` is running (lock {path}, pid "
                    f"{pid or 'unknown'}); wait for it to finish"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {who}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(args: argparse.Namespace) -> int:
    project = Path.cwd()
    if not (project / "dvc.yaml").is_file():
        raise CommandError(f"no dvc.yaml in {project}: run `fraudops ct` from the project root")
    incoming = Path(args.incoming)

    def once() -> int:
        with exclusive(lock_path()):
            return check(project, incoming).exit_code

    if args.every is None:
        return once()
    if args.every <= 0:
        raise CommandError(f"--every must be a positive number of seconds, got {args.every:g}")
    print(f"ct: checking {incoming} every {args.every:g}s (Ctrl-C stops)", flush=True)
    try:
        while True:
            try:
                once()
            except CommandError as exc:  # another run holds the lock: try again next time
                print(f"ct: skipped this check: {exc}", flush=True)
            time.sleep(args.every)
    except KeyboardInterrupt:
        print("\nct: stopped", flush=True)
        return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fraudops ct`` to the command line."""
    p = subparsers.add_parser(
        "ct",
        help="continuous training: version new data batches and retrain with dvc repro",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="check once and exit (the default)")
    when.add_argument(
        "--every", type=float, metavar="SECONDS", help="check repeatedly, this many seconds apart"
    )
    p.add_argument(
        "--incoming",
        default=str(INCOMING),
        metavar="DIR",
        help=f"folder new batches are dropped into (default: {INCOMING})",
    )
    p.set_defaults(func=_run)
