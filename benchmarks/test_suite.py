"""The test suite's profile: `.ci/run` on a fresh clone, as CI runs it, per commit.

For each commit (``BASELINE`` and ``HEAD`` by default; ``FRAUDOPS_SUITE_REFS="A B"`` to choose),
the benchmark clones the repository into a scratch folder with ``../shared`` beside it (as CI
has it), runs ``CI=true bash .ci/run`` with pytest's ``--durations`` and a temporary folder of
its own, and reads:

- the wall time of the whole run (install included) and pytest's own summary;
- the slowest tests and fixtures (``--durations``);
- the act chain's steps, their wall times and their limits (``act-results.jsonl``).

Beside them it gives the machine's speed, the generator figure of ``benchmarks/generator.py``
(best of 3 warm calls, 284,807 rows), since machines here differ 2x from one day to the next:
the suite's goals are stated at a generator figure (``level2/README.md``, issue "CI with
headroom"). Nothing else may run meanwhile: the suite uses both cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks._results import table, write
from benchmarks.generator import generator_seconds

ROOT = Path(__file__).resolve().parents[1]
#: The last commit before the CI-headroom work (its fresh-clone run took 13.6 min here).
BASELINE = "5850af1"
#: The goals, at the generator figure they are stated for (seconds).
GOALS = {1.8: 600, 3.7: 1200}
ACT_GOAL_SECONDS = 240
DURATIONS = 25


def run_suite(ref: str, scratch: Path) -> dict:
    """Clone ``ref`` beside a copy of ``../shared`` and time ``CI=true bash .ci/run`` there."""
    project = scratch / ref / "main"
    project.parent.mkdir(parents=True)
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (project.parent / "shared").symlink_to(shared)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "checkout", "-q", ref], check=True)
    commit = subprocess.run(
        ["git", "-C", str(project), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A temporary folder of its own (pytest's basetemp lives under it), where the act chain's
    # record is found afterwards. Not --basetemp: PYTEST_ADDOPTS would reach the pytest that
    # ci.yml's tests job runs under act, which must not share (and wipe) the outer one's.
    tmp = scratch / ref / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "CI": "true",
        "TMPDIR": str(tmp),
        "PYTEST_ADDOPTS": f"--durations={DURATIONS}",
    }
    print(f"{ref} ({commit}): CI=true bash .ci/run in {project}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(
        ["bash", ".ci/run"], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    (scratch / f"{ref}.log").write_text(proc.stdout + proc.stderr)
    out = proc.stdout
    summary = re.findall(r"^=+ (.*? in [\d.]+s.*?) =+$", out, re.MULTILINE)
    durations = re.findall(r"^([\d.]+)s (setup|call|teardown)\s+(\S+)$", out, re.MULTILINE)
    act = []
    for results in sorted(tmp.glob("pytest-of-*/pytest-*/**/act-results.jsonl")):
        act = [json.loads(line) for line in results.read_text().splitlines()]
    print(f"  exit {proc.returncode} in {wall:.0f}s: {summary[-1] if summary else '?'}", flush=True)
    return {
        "ref": ref,
        "commit": commit,
        "exit": proc.returncode,
        "wall_seconds": round(wall, 1),
        "pytest_summary": summary[-1] if summary else None,
        "durations": [
            {"seconds": float(s), "phase": phase, "test": test} for s, phase, test in durations
        ],
        "act_steps": act,
    }


def report(runs: list[dict], generator: float) -> str:
    lines = [
        "# The test suite: a fresh clone's `CI=true bash .ci/run`",
        "",
        f"Machine speed: the generator benchmark gave **{generator:.2f} s** "
        f"(284,807 rows, best of 3; `benchmarks/results/generator.md` has 1.77 s on a quick day). "
        "Every time below is from this one run of `python -m benchmarks test_suite`, which clones "
        "each commit beside `../shared` (as CI has it) and runs its `.ci/run` with nothing else "
        "on the machine; install included.",
        "",
        "| commit | exit | wall (install included) | pytest |",
        "|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['ref']} ({r['commit']}) | {r['exit']} | {r['wall_seconds'] / 60:.1f} min "
            f"({r['wall_seconds']:.0f} s) | {r['pytest_summary']} |"
        )
    goals = ", ".join(f"{s / 60:.0f} min at a generator figure of {g} s" for g, s in GOALS.items())
    scaled = runs[-1]["wall_seconds"] * 3.7 / generator
    lines += [
        "",
        f"Goals: at most {goals}. Scaled by the generator figure to a 3.7 s machine, the last "
        f"row's run would take about {scaled / 60:.1f} min.",
    ]
    for r in runs:
        lines += ["", f"## {r['ref']} ({r['commit']}): slowest {DURATIONS} tests and fixtures", ""]
        lines.append(table(r["durations"], ["seconds", "phase", "test"], ".2f"))
        if r["act_steps"]:
            total = sum(s["seconds"] for s in r["act_steps"])
            lines += [
                "",
                f"Act chain (`scripts/ci/act_chain.sh all`, inside the run above, beside the "
                f"other pytest worker): {total} s in its steps (goal {ACT_GOAL_SECONDS} s).",
                "",
            ]
            rows = [
                {
                    "step": s["step"],
                    "status": s["status"],
                    "seconds": s["seconds"],
                    "limit": s.get("limit") or "",
                }
                for s in r["act_steps"]
                if s["seconds"] or s.get("limit")
            ]
            lines.append(table(rows, ["step", "status", "seconds", "limit"]))
    return "\n".join(lines)


def main() -> None:
    refs = os.environ.get("FRAUDOPS_SUITE_REFS", f"{BASELINE} HEAD").split()
    generator = generator_seconds()
    print(f"generator: {generator:.2f} s", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="fraudops-suite-"))
    runs = [run_suite(ref, scratch) for ref in refs]
    if all(r["exit"] == 0 for r in runs):
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print(f"a run failed: its clone and log are kept in {scratch}", flush=True)
    md = report(runs, generator)
    write("test_suite", {"generator_seconds": generator, "runs": runs}, md)
    print(md)


if __name__ == "__main__":
    main()
