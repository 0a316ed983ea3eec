"""Loading and saving: the Kaggle file format, plain CSV and Parquet give back the same table."""

from __future__ import annotations

import pandas as pd
import pytest
from fraudops.data import generate, load, save, validate_frame
from fraudops.data.io import DataFormatError
from fraudops.schema import COLUMNS, FEATURES, TARGET


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(rows=500, seed=3, fraud_rate=0.05)


def kaggle_csv(df: pd.DataFrame) -> str:
    """The layout of Kaggle's creditcard.csv: quoted header, quoted "0"/"1" class, bare numbers."""
    header = ",".join(f'"{c}"' for c in df.columns)
    rows = (
        ",".join(repr(float(v)) for v in row[:-1]) + f',"{int(row[-1])}"'
        for row in df.itertuples(index=False)
    )
    return "\n".join([header, *rows]) + "\n"


def test_real_sample_loads_with_schema_columns_and_types(real_sample):
    assert list(real_sample.columns) == list(COLUMNS)
    assert (real_sample.dtypes[list(FEATURES)] == "float64").all()
    assert real_sample[TARGET].dtype == "int64"
    assert len(real_sample) == 5_412
    assert real_sample[TARGET].sum() == 492


def test_kaggle_quoted_file_round_trips(tmp_path, frame):
    path = tmp_path / "creditcard.csv"
    path.write_text(kaggle_csv(frame))
    assert path.read_text().startswith('"Time","V1",')

    loaded = load(path)

    pd.testing.assert_frame_equal(loaded, frame)
    assert validate_frame(loaded).ok


@pytest.mark.parametrize("name", ["out/data.csv", "out/data.parquet", "out/data.pq", "DATA.CSV"])
def test_save_then_load_gives_the_same_table(tmp_path, frame, name):
    path = save(frame, tmp_path / name)

    pd.testing.assert_frame_equal(load(path), frame)  # exact floats, same dtypes
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_saved_csv_has_a_plain_header(tmp_path, frame):
    path = save(frame, tmp_path / "data.csv")

    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_whole_number_columns_load_as_float_features_and_int_class(tmp_path):
    path = tmp_path / "data.csv"
    header = ",".join(COLUMNS)
    path.write_text(
        header + "\n" + ",".join(["0"] * 30 + ["1"]) + "\n" + ",".join(["7"] * 31) + "\n"
    )

    df = load(path)

    assert (df.dtypes[list(FEATURES)] == "float64").all()
    assert df[TARGET].tolist() == [1, 7]  # loaded as in the file; the validator judges it


def test_excel_byte_order_mark_and_blank_lines_are_harmless(tmp_path, frame):
    header, *rows = kaggle_csv(frame.head(3)).splitlines()
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([header, "", *rows, "", ""]).encode())

    df = load(path)

    assert list(df.columns) == list(COLUMNS)
    pd.testing.assert_frame_equal(df, frame.head(3))


def test_load_refuses_a_truncated_file_naming_the_line(tmp_path, frame):
    path = save(frame.head(20), tmp_path / "data.csv")
    text = path.read_text()
    path.write_text(text[: len(text) - 200])  # cut inside the last line

    with pytest.raises(DataFormatError, match=r"line 21 of .* has \d+ fields, expected 31"):
        load(path)


def test_load_refuses_a_repeated_header_naming_the_line(tmp_path, frame):
    path = save(frame.head(5), tmp_path / "a.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + lines) + "\n")  # two files pasted together

    with pytest.raises(DataFormatError, match="line 7 .* repeats the header"):
        load(path)


@pytest.mark.parametrize("name", ["data.xlsx", "data.json", "data"])
def test_unknown_suffix_is_a_clear_error(tmp_path, frame, name):
    with pytest.raises(DataFormatError, match="unsupported file type .*use one of .csv, .parquet"):
        save(frame, tmp_path / name)
    with pytest.raises(DataFormatError, match="unsupported file type"):
        load(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.csv")
