"""Merge a parameter profile over params.yaml (section by section, key by key).

    python scripts/ci/apply_params.py scripts/ci/profile-small.yaml params.yaml

The workflows run the same pipeline on small data in CI by changing values, never stages: the
profile only overrides keys, and a key the profile names must already exist in params.yaml
(except in the sections that only CI reads, ``quality_gate``, and ``monitor``, whose every key
has a default), so a renamed parameter fails here instead of silently training on full data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

#: Sections a profile may add although params.yaml does not have them (yet).
NEW_SECTIONS_ALLOWED = {"quality_gate", "monitor"}


def merge(base: dict, profile: dict) -> dict:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, values in profile.items():
        if section not in merged:
            if section not in NEW_SECTIONS_ALLOWED:
                raise SystemExit(f"profile section '{section}' is not in params.yaml")
            merged[section] = {}
        for key, value in values.items():
            if key not in merged[section] and section not in NEW_SECTIONS_ALLOWED:
                raise SystemExit(f"profile key '{section}.{key}' is not in params.yaml")
            merged[section][key] = value
    return merged


def main(argv: list[str]) -> int:
    profile_path, params_path = map(Path, argv)
    profile = yaml.safe_load(profile_path.read_text()) or {}
    params = yaml.safe_load(params_path.read_text()) or {}
    params_path.write_text(yaml.safe_dump(merge(params, profile), sort_keys=False))
    changed = ", ".join(f"{s}.{k}={v}" for s, kv in profile.items() for k, v in kv.items())
    print(f"{params_path}: applied {profile_path.name}: {changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
