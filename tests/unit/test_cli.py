"""The ``fraudops`` command line: help, version, and the ``data`` commands end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fraudops
import pytest
from fraudops.cli import main
from fraudops.data import load

# The console script installed beside this interpreter (the venv's bin/).
SCRIPT = Path(sys.executable).with_name("fraudops")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_installed_script_help_lists_the_commands():
    proc = run_script("--help")

    assert proc.returncode == 0, proc.stderr
    assert "usage: fraudops" in proc.stdout
    assert "data" in proc.stdout


def test_installed_script_data_validate_help_explains_options():
    proc = run_script("data", "validate", "--help")

    assert proc.returncode == 0, proc.stderr
    for option in ("PATH", "--allow-one-class", "--json", "line 1"):
        assert option in proc.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"fraudops {fraudops.__version__}"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_generate_writes_a_file_that_validate_accepts(tmp_path, capsys, suffix):
    out = tmp_path / "data" / f"tx{suffix}"
    argv = ["data", "generate", "--rows", "3000", "--seed", "1", "--fraud-rate", "0.02"]

    assert main([*argv, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    frauds = int(load(out)["Class"].sum())
    assert f"wrote 3,000 rows ({frauds:,} frauds" in said
    assert str(out) in said

    report = tmp_path / "reports" / "validation.json"
    assert main(["data", "validate", str(out), "--json", str(report)]) == 0
    summary = capsys.readouterr().out.strip()
    assert summary.startswith(f"OK: {out}: 3,000 rows, {frauds:,} frauds")
    assert "\n" not in summary  # one line when there is nothing to warn about
    assert json.loads(report.read_text())["ok"] is True


def test_generate_same_options_same_file(tmp_path, capsys):
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in paths:
        main(
            [
                "data",
                "generate",
                "--rows",
                "500",
                "--seed",
                "4",
                "--start-time",
                "600",
                "--out",
                str(path),
            ]
        )

    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert load(paths[0])["Time"].min() >= 600


def test_validate_one_class_file_needs_allow_one_class(tmp_path, capsys):
    path = tmp_path / "unlabelled.csv"
    main(["data", "generate", "--rows", "300", "--seed", "2", "--out", str(path)])
    df = load(path)
    df.assign(Class=0).to_csv(path, index=False)
    capsys.readouterr()

    assert main(["data", "validate", str(path)]) == 1
    assert "only class 0" in capsys.readouterr().out
    assert main(["data", "validate", str(path), "--allow-one-class"]) == 0


def test_generate_refuses_an_unknown_suffix_before_generating(tmp_path, capsys):
    out = tmp_path / "tx.xlsx"

    assert main(["data", "generate", "--rows", "10", "--seed", "0", "--out", str(out)]) == 1

    assert "unsupported file type '.xlsx'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "validate", "x.csv", "--no-such-option"],
        ["data", "generate", "--rows", "0", "--out", "x.csv"],
        ["data", "generate", "--fraud-rate", "1.5", "--out", "x.csv"],
        ["data", "generate", "--scenario", "sideways", "--out", "x.csv"],
        ["data", "generate", "--rows", "10"],  # --out is required
        ["data"],
    ],
)
def test_bad_arguments_exit_2_with_usage(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: fraudops")
    assert "error:" in err
