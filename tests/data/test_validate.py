"""The validator names the column and the rows of every problem a user's file can have.

Bad files are written to ``tmp_path`` from a small hand-made valid table, with one defect each,
then checked through ``validate_file`` and through ``fraudops data validate``. Row numbers are
CSV line numbers: the header is line 1, the first data row line 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fraudops.cli import main
from fraudops.data import (
    SCENARIOS,
    DataValidationError,
    ValidationReport,
    generate,
    save,
    validate_file,
    validate_frame,
)
from fraudops.data.validate import MAX_ROWS, Problem
from fraudops.schema import COLUMNS, V_COLUMNS

from tests.conftest import REAL_SAMPLE

HEADER = ",".join(COLUMNS)


def make_frame(rows: int = 12, seed: int = 0) -> pd.DataFrame:
    """A valid table: both classes, no duplicates, plain numbers."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, len(V_COLUMNS))).round(6), columns=list(V_COLUMNS))
    df.insert(0, "Time", np.arange(rows, dtype=float) * 10.0)
    df["Amount"] = rng.uniform(0, 500, rows).round(2)
    df["Class"] = (np.arange(rows) % 4 == 0).astype("int64")
    return df


def csv_lines(df: pd.DataFrame) -> list[str]:
    """The table as CSV lines; ``lines[0]`` is the header (file line 1)."""
    return [HEADER] + [",".join(str(v) for v in row) for row in df.astype(object).to_numpy()]


def set_field(lines: list[str], line: int, column: str, text: str) -> None:
    """Replace one field, addressed by file line number (1 = header) and column name."""
    fields = lines[line - 1].split(",")
    fields[COLUMNS.index(column)] = text
    lines[line - 1] = ",".join(fields)


def write(path: Path, lines: list[str], *, ending: str = "\n") -> Path:
    path.write_text(ending.join(lines) + ending, encoding="utf-8")
    return path


def find(report: ValidationReport, column: str | None, words: str) -> Problem:
    """The error about ``column`` whose message contains ``words`` (fails the test if none)."""
    for problem in report.errors:
        if problem.column == column and words in problem.message:
            return problem
    pytest.fail(f"no error on {column!r} mentioning {words!r} in:\n{report.format()}")


# Each case: (name, writer(tmp_path) -> file, column named, rows named, words in the message).
def _text_in_column(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 3, "V2", "abc")
    set_field(lines, 8, "V2", "12..5")
    return write(tmp / "data.csv", lines)


def _semicolons(tmp: Path) -> Path:
    return write(tmp / "data.csv", [line.replace(",", ";") for line in csv_lines(make_frame())])


def _tabs(tmp: Path) -> Path:
    return write(tmp / "data.csv", [line.replace(",", "\t") for line in csv_lines(make_frame())])


def _repeated_header(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    return write(tmp / "data.csv", lines[:5] + [HEADER] + lines[5:])


def _truncated(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    lines[-1] = ",".join(lines[-1].split(",")[:9])  # Time, V1..V8: cut short inside V9
    path = tmp / "data.csv"
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline, like a cut copy
    return path


def _latin1(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 4, "V3", "1.5\u00b5")  # 'µ' in Latin-1 is the single byte 0xb5
    path = tmp / "data.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path


def _unicode_minus(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 5, "V7", "\u22121.25")  # a typographic minus pasted from a document
    return write(tmp / "data.csv", lines)


def _overflow(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 3, "Amount", "1e400")
    return write(tmp / "data.csv", lines)


def _empty_field(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 7, "V4", "")
    set_field(lines, 9, "V4", "NaN")
    return write(tmp / "data.csv", lines)


def _infinite(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 10, "V6", "-inf")
    return write(tmp / "data.csv", lines)


def _negative_time(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 2, "Time", "-3.0")
    return write(tmp / "data.csv", lines)


def _negative_amounts(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    for line in range(3, 10):  # 7 rows: more than a report lists
        set_field(lines, line, "Amount", "-1.5")
    return write(tmp / "data.csv", lines)


def _class_two(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 6, "Class", "2")
    return write(tmp / "data.csv", lines)


def _one_class(tmp: Path) -> Path:
    return save(make_frame().assign(Class=0), tmp / "data.csv")


def _missing_column(tmp: Path) -> Path:
    return save(make_frame().drop(columns="V9"), tmp / "data.csv")


def _unexpected_column(tmp: Path) -> Path:
    return save(make_frame().assign(merchant=1.0), tmp / "data.csv")


def _out_of_order(tmp: Path) -> Path:
    df = make_frame()
    return save(df[["Class", *df.columns[:-1]]], tmp / "data.csv")


def _misnamed(tmp: Path) -> Path:
    return save(make_frame().rename(columns={"Amount": "amount "}), tmp / "data.csv")


def _saved_index(tmp: Path) -> Path:
    path = tmp / "data.csv"
    make_frame().to_csv(path)  # pandas writes its index as an unnamed first column
    return path


def _no_header(tmp: Path) -> Path:
    return write(tmp / "data.csv", csv_lines(make_frame())[1:])


def _extra_field(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    lines[3] += ",0.5"
    return write(tmp / "data.csv", lines)


def _stray_quote(tmp: Path) -> Path:
    lines = csv_lines(make_frame())
    set_field(lines, 4, "V5", '"0.5')
    return write(tmp / "data.csv", lines)


def _utf16(tmp: Path) -> Path:
    path = tmp / "data.csv"
    path.write_text("\n".join(csv_lines(make_frame())), encoding="utf-16")  # Excel "Unicode text"
    return path


def _empty_file(tmp: Path) -> Path:
    path = tmp / "data.csv"
    path.write_bytes(b"")
    return path


def _header_only(tmp: Path) -> Path:
    return write(tmp / "data.csv", [HEADER])


def _missing_file(tmp: Path) -> Path:
    return tmp / "nowhere" / "data.csv"


def _spreadsheet(tmp: Path) -> Path:
    path = tmp / "data.xlsx"
    path.write_bytes(b"PK\x03\x04")
    return path


def _not_parquet(tmp: Path) -> Path:
    path = tmp / "data.parquet"
    path.write_text("\n".join(csv_lines(make_frame())))
    return path


CASES: list[tuple[str, Callable[[Path], Path], str | None, list[int], str]] = [
    ("text in a number column", _text_in_column, "V2", [3, 8], "'abc', '12..5'"),
    ("semicolon-separated", _semicolons, None, [1], "looks like ';'-separated; expected comma"),
    ("tab-separated", _tabs, None, [1], "looks like tab-separated; expected comma"),
    ("header repeated in the data", _repeated_header, None, [6], "header line is repeated"),
    ("truncated last line", _truncated, "V9", [13], "truncated"),
    ("non-UTF-8 bytes", _latin1, "V3", [4], "not UTF-8"),
    ("unicode look-alike", _unicode_minus, "V7", [5], "U+2212 MINUS SIGN"),
    ("overflow to inf", _overflow, "Amount", [3], "too large for float64"),
    ("empty and NaN fields", _empty_field, "V4", [7, 9], "missing values"),
    ("infinite value", _infinite, "V6", [10], "infinite"),
    ("negative Time", _negative_time, "Time", [2], "negative"),
    ("negative Amount", _negative_amounts, "Amount", [3, 4, 5, 6, 7], "negative"),
    ("Class not 0/1", _class_two, "Class", [6], "other than 0 and 1"),
    ("one class only", _one_class, "Class", [], "only class 0"),
    ("missing column", _missing_column, "V9", [], "missing column"),
    ("unexpected column", _unexpected_column, "merchant", [], "unexpected column"),
    ("column out of order", _out_of_order, "Class", [], "out of order"),
    ("misspelled column", _misnamed, "Amount", [], "'amount ' should be named 'Amount'"),
    ("saved DataFrame index", _saved_index, "", [], "index=False"),
    ("no header line", _no_header, None, [], "no header line"),
    ("a line with an extra field", _extra_field, None, [4], "more fields"),
    ("unmatched quote", _stray_quote, "V5", [4], "unmatched"),
    ("UTF-16 file", _utf16, None, [], "UTF-16"),
    ("empty file", _empty_file, None, [], "empty (0 bytes)"),
    ("header only", _header_only, None, [], "no data rows"),
    ("missing file", _missing_file, None, [], "no such file"),
    ("unsupported suffix", _spreadsheet, None, [], "unsupported file type '.xlsx'"),
    ("not Parquet", _not_parquet, None, [], "cannot read"),
]


@pytest.mark.parametrize(
    ("make", "column", "rows", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_validate_file_names_column_and_rows(tmp_path, make, column, rows, words):
    report = validate_file(make(tmp_path))

    assert not report.ok
    problem = find(report, column, words)
    assert problem.rows == rows


@pytest.mark.parametrize(
    ("make", "column", "words"), [(c[1], c[2], c[4]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_cli_validate_exits_1_with_the_problem(tmp_path, capsys, make, column, words):
    path = make(tmp_path)

    status = main(["data", "validate", str(path)])

    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith(f"INVALID: {path}")
    assert words in out
    if column:
        assert f"{column}: " in out


def test_report_lists_a_few_rows_and_counts_them_all(tmp_path):
    report = validate_file(_negative_amounts(tmp_path))

    problem = find(report, "Amount", "negative")
    assert len(problem.rows) == MAX_ROWS
    assert problem.count == 7
    assert "7 rows: 3, 4, 5, 6, 7, ..." in problem.format()


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    lines = csv_lines(make_frame())
    set_field(lines, 2, "Time", "-1")
    set_field(lines, 5, "V2", "abc")
    set_field(lines, 11, "Class", "7")

    report = validate_file(write(tmp_path / "data.csv", lines))

    assert {(p.column, tuple(p.rows)) for p in report.errors} == {
        ("Time", (2,)),
        ("V2", (5,)),
        ("Class", (11,)),
    }


def test_row_numbers_stay_file_lines_after_blank_lines(tmp_path):
    lines = csv_lines(make_frame())
    set_field(lines, 6, "Amount", "-2")
    lines[2:2] = ["", ""]  # two blank lines before line 3: the bad Amount moves to line 8

    report = validate_file(write(tmp_path / "data.csv", lines, ending="\r\n"))

    assert find(report, "Amount", "negative").rows == [8]
    blank = [w for w in report.warnings if "blank" in w.message]
    assert [w.rows for w in blank] == [[3, 4]]


def test_problems_after_the_first_megabyte_keep_their_line_numbers(tmp_path):
    # pyarrow guesses column types from the first 1 MB block: damage further down takes the
    # slower path (text re-read, bytes re-read), which must still find each line.
    lines = csv_lines(make_frame(rows=6_000))
    assert sum(len(line) for line in lines[:4_500]) > 1_100_000
    set_field(lines, 4_500, "V3", "abc")
    set_field(lines, 5_200, "Time", "-1")
    lines.insert(5_000, HEADER)  # lines after 5,000 move down by one
    path = tmp_path / "data.csv"
    body = "\n".join(lines).encode() + b"\n"
    path.write_bytes(
        body.replace(b"\n" + lines[5_900].encode(), b"\n" + b"\xff" + lines[5_900].encode())
    )

    report = validate_file(path)

    assert find(report, "V3", "not numbers").rows == [4_500]
    assert find(report, None, "header line is repeated").rows == [5_001]
    assert find(report, "Time", "negative").rows == [5_201]
    assert find(report, "Time", "not UTF-8").rows == [5_901]
    assert report.n_rows == 6_000


def test_duplicated_rows_are_a_warning_naming_the_copies(tmp_path):
    df = make_frame()
    df = pd.concat([df, df.iloc[[2, 2, 5]]], ignore_index=True)  # copies land on lines 14-16

    report = validate_file(save(df, tmp_path / "data.csv"))

    assert report.ok
    (warning,) = report.warnings
    assert warning.rows == [14, 15, 16]
    assert warning.count == 3
    assert "repeat an earlier row exactly (2 distinct rows copied)" in warning.message


def test_one_class_is_accepted_when_asked(tmp_path):
    path = _one_class(tmp_path)

    assert not validate_file(path).ok
    assert validate_file(path, require_both_classes=False).ok


def test_validate_frame_numbers_rows_as_csv_lines():
    df = make_frame().astype({"V5": object})
    df.loc[0, "V5"] = "n/a?"
    df.loc[3, "Amount"] = np.nan

    report = validate_frame(df)

    assert find(report, "V5", "not numbers").rows == [2]
    assert find(report, "Amount", "missing values").rows == [5]


def test_validation_error_carries_the_report():
    report = validate_frame(make_frame().drop(columns="Amount"))

    error = DataValidationError(report)

    assert error.report is report
    assert "Amount: missing column 'Amount'" in str(error)


def test_report_as_json_names_column_and_rows(tmp_path):
    lines = csv_lines(make_frame())
    set_field(lines, 4, "Class", "-1")

    data = json.loads(json.dumps(validate_file(write(tmp_path / "d.csv", lines)).to_dict()))

    assert (data["ok"], data["n_rows"]) == (False, 12)
    (error,) = data["errors"]
    assert (error["column"], error["rows"], error["count"]) == ("Class", [4], 1)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_generated_data_validates_clean(tmp_path, scenario):
    df = generate(rows=3_000, seed=5, fraud_rate=0.02, scenario=scenario)

    for report in (validate_frame(df), validate_file(save(df, tmp_path / "gen.csv"))):
        assert report.ok, report.format()
        assert report.warnings == []
        assert report.n_rows == 3_000
        assert report.n_fraud == int(df["Class"].sum())


@pytest.mark.real
def test_real_sample_is_valid_with_its_duplicates_warned():
    if not REAL_SAMPLE.is_file():
        pytest.skip(f"real sample not found at {REAL_SAMPLE}")

    report = validate_file(REAL_SAMPLE)

    assert report.ok, report.format()
    assert (report.n_rows, report.n_fraud) == (5_412, 492)
    (warning,) = report.warnings
    assert warning.count == 19  # the original data's duplicated frauds: 19 copies of 13 rows
    assert "13 distinct rows copied" in warning.message
    # The rows named are file lines that repeat an earlier line of the file.
    text = REAL_SAMPLE.read_text().splitlines()
    for line in warning.rows:
        assert text[line - 1] in text[1 : line - 1]
