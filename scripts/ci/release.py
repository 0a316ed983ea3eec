"""cd.yml "production" job: record that a Bento, serving a given @champion, is in production.

    python scripts/ci/release.py promote --bento TAG --file FILE --model-version V --staging REPORT

Locally (and under act) "production" is a release record beside the registry:
``$FRAUDOPS_STATE_DIR/deployments/production.json`` (the current release: Bento tag and file,
the model version staging served, the commit, the staging results) and ``history.jsonl``
(every release, newest last). The previous release stays in the history, so a rollback is
``fraudops registry rollback`` plus re-deploying the previous Bento file. On a real platform this
step is where the Bento image is rolled out (Kubernetes, BentoCloud); the job is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def promote(args: argparse.Namespace) -> int:
    state = Path(os.environ.get("FRAUDOPS_STATE_DIR", "var")).resolve()
    staging = json.loads(Path(args.staging).read_text()) if args.staging else None
    if staging is not None and not staging.get("passed"):
        print(f"staging did not pass ({staging.get('error')}): not promoting")
        return 1
    served = staging.get("model_version") if staging else None
    if served is not None and args.model_version and str(served) != str(args.model_version):
        print(f"staging served v{served}, not the build's v{args.model_version}: not promoting")
        return 1
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": "production",
        "bento": args.bento,
        "bento_file": args.file,
        "model_version": str(args.model_version),
        "commit": os.environ.get("GITHUB_SHA"),
        "run_id": os.environ.get("GITHUB_RUN_ID"),
        "staging": staging,
    }
    folder = state / "deployments"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "production.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(folder / "production.json")
    with open(folder / "history.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    text = (
        f"### Production: {args.bento} serving model v{args.model_version}\n\n"
        f"release record: {folder / 'production.json'}"
    )
    print(text)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as fh:
            fh.write(text + "\n\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("promote")
    p.add_argument("--bento", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--model-version", required=True)
    p.add_argument("--staging", help="the staging smoke/load report (JSON) that must have passed")
    p.set_defaults(func=promote)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
