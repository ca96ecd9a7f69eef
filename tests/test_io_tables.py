"""Tables: reading with one-line errors, target inference, the feature encoder and its state."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gdlab.io.safe_npz import ModelFileError, load_arrays, save_arrays
from gdlab.io.tables import (
    SUPPORTED_EXTENSIONS,
    DataFileError,
    FeatureEncoder,
    infer_task,
    read_table,
    sniff_sep,
    split_features_target,
    task_rule,
    task_summary,
)


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def _err(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg  # one line, always
    return msg


# ------------------------------------------------------------------------------- read_table


def test_read_csv_values_and_line_index(tmp_path: Path) -> None:
    text = '\ufeffa,b,city\n1,2.5,Paris\n\n2,-3e2,"Rome, IT"\n  \n3,,"New\nYork"\n4,5,Oslo\n'
    p = _write(tmp_path, "d.csv", text)
    df = read_table(p)
    assert list(df.columns) == ["a", "b", "city"]  # BOM stripped
    assert df.index.name == "line"
    # header = line 1; blank lines skipped; the 2-line record starts at line 6
    assert df.index.tolist() == [2, 4, 6, 8]
    assert df["a"].tolist() == [1, 2, 3, 4]
    assert df["b"].iloc[1] == -300.0 and np.isnan(df["b"].iloc[2])
    assert df["city"].tolist() == ["Paris", "Rome, IT", "New\nYork", "Oslo"]


def test_read_csv_gz_tsv_and_columns(tmp_path: Path) -> None:
    body = "x,y,z\n1,2,3\n4,5,6\n"
    gz = tmp_path / "d.csv.gz"
    gz.write_bytes(gzip.compress(body.encode()))
    tsv = _write(tmp_path, "d.tsv", body.replace(",", "\t"))
    for p in (gz, tsv):
        df = read_table(p)
        assert df.to_numpy().tolist() == [[1, 2, 3], [4, 5, 6]]
    sub = read_table(gz, columns=["z", "x"])
    assert list(sub.columns) == ["z", "x"]
    assert sub.to_numpy().tolist() == [[3, 1], [6, 4]]
    with pytest.raises(DataFileError) as exc:
        read_table(gz, columns=["x", "w"])
    assert _err(exc) == f"{gz}: no column(s) 'w'; available columns: 'x', 'y', 'z'."


def test_read_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1.5, 2.5, 3.5], "c": ["u", "v", "u"], "y": [0, 1, 1]})
    p = tmp_path / "d.parquet"
    df.to_parquet(p)
    out = read_table(p)
    assert out.index.name == "row" and out.index.tolist() == [1, 2, 3]
    pd.testing.assert_frame_equal(out.reset_index(drop=True), df)
    # a stored named index is data, kept as a column
    q = tmp_path / "d.pq"
    df.set_index(pd.Index([10, 11, 12], name="id")).to_parquet(q)
    assert list(read_table(q).columns) == ["id", "a", "c", "y"]
    # a frame from read_table written back does not grow a 'row'/'line' column
    r = tmp_path / "again.parquet"
    out.to_parquet(r)
    assert list(read_table(r).columns) == ["a", "c", "y"]
    assert list(read_table(p, columns=["y"]).columns) == ["y"]
    # Parquet rows are numbered from 1 in messages
    nan = tmp_path / "nan.parquet"
    df.assign(a=[1.5, np.nan, 3.5]).to_parquet(nan)
    X, _ = split_features_target(read_table(nan), "y", path=nan)
    with pytest.raises(
        DataFileError,
        match=r"column 'a' has a missing value \(empty or NaN\) at "
        r"row 2 ",
    ):
        FeatureEncoder().fit(X, path=nan)
    with pytest.raises(DataFileError) as exc:
        read_table(p, columns=["nope"])
    assert _err(exc) == f"{p}: no column(s) 'nope'; available columns: 'a', 'c', 'y'."


def test_missing_file_directory_and_extension(tmp_path: Path) -> None:
    with pytest.raises(DataFileError) as exc:
        read_table(tmp_path / "nope.csv")
    assert _err(exc) == f"{tmp_path / 'nope.csv'}: no such file; check the path."
    with pytest.raises(DataFileError, match="is a directory"):
        read_table(tmp_path)
    p = _write(tmp_path, "data.xlsx", "a,b\n1,2\n")
    with pytest.raises(DataFileError) as exc:
        read_table(p)
    assert _err(exc) == (
        f"{p}: unsupported file type '.xlsx'; supported: .csv, .csv.gz, .tsv, .tsv.gz, "
        ".parquet, .pq (rename the file or convert it)."
    )
    assert SUPPORTED_EXTENSIONS == (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq")


def test_empty_files(tmp_path: Path) -> None:
    p = _write(tmp_path, "e.csv", "")
    with pytest.raises(DataFileError) as exc:
        read_table(p)
    assert _err(exc) == (
        f"{p}: the file is empty (0 bytes); expected a header line and at least one row."
    )
    p = _write(tmp_path, "blank.csv", "\n \n\n")
    with pytest.raises(DataFileError, match=r"blank.csv: the file is empty; expected a header"):
        read_table(p)
    p = _write(tmp_path, "h.csv", "a,b\n\n")
    with pytest.raises(DataFileError) as exc:
        read_table(p)
    assert _err(exc) == f"{p}: no data rows (only the header line); expected at least one row."
    q = tmp_path / "e.parquet"
    pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(q)
    with pytest.raises(DataFileError) as exc:
        read_table(q)
    assert _err(exc) == f"{q}: no data rows; expected at least one row."


def test_duplicate_and_empty_headers(tmp_path: Path) -> None:
    p = _write(tmp_path, "d.csv", "a,b,a\n1,2,3\n")
    with pytest.raises(DataFileError) as exc:
        read_table(p)
    assert _err(exc) == (
        f"{p}: duplicate column name 'a' in the header (columns 1 and 3); rename them so every "
        "column name is unique."
    )
    p = _write(tmp_path, "i.csv", ",a,b\n0,1,2\n")
    with pytest.raises(DataFileError, match=r"header field 1 is empty \(an unnamed index column"):
        read_table(p)
    p = _write(tmp_path, "j.csv", "a,,b\n0,1,2\n")
    with pytest.raises(DataFileError, match="header field 2 is empty; give every column a name"):
        read_table(p)


def test_ragged_rows_too_many_and_too_few(tmp_path: Path) -> None:
    p = _write(tmp_path, "many.csv", "a,b,c\n1,2,3\n4,5,6,7\n")
    with pytest.raises(DataFileError) as exc:
        read_table(p)
    assert _err(exc) == (
        f"{p}: line 3 has 4 fields but the header has 3 (too many); every row needs one value "
        "per column (an empty value is written as nothing between two separators)."
    )
    # pandas would silently pad this row with NaN
    p = _write(tmp_path, "few.csv", "a,b,c\n1,2,3\n\n4,5,6\n7,8\n9,10,11\n")
    with pytest.raises(
        DataFileError,
        match=r"few.csv: line 5 has 2 fields but the header has 3 "
        r"\(too few\)",
    ):
        read_table(p)
    p = _write(tmp_path, "one.csv", "a,b\n1,2\n3\n")
    with pytest.raises(DataFileError, match=r"line 3 has 1 field but the header has 2"):
        read_table(p)
    # all rows with a trailing comma: pandas would turn column 1 into the index
    p = _write(tmp_path, "trail.csv", "a,b\n1,2,\n3,4,\n")
    with pytest.raises(DataFileError, match=r"line 2 has 3 fields but the header has 2"):
        read_table(p)


def test_bad_quoting_and_encoding(tmp_path: Path) -> None:
    p = _write(tmp_path, "q.csv", 'a,b\n1,2\n3,"x\n4,5\n')
    with pytest.raises(DataFileError) as exc:
        read_table(p)
    assert _err(exc).startswith(f"{p}: the record starting at line 3 is not valid CSV (")
    p = _write(tmp_path, "l.csv", b"a,b\n1,2\n3,caf\xe9\n")
    with pytest.raises(DataFileError) as exc:
        read_table(p)
    assert _err(exc) == (
        f"{p}: line 3 is not UTF-8 text (byte 0xe9); save the file as UTF-8 CSV, or if it is "
        "another format give it the right extension."
    )
    p = _write(tmp_path, "g.parquet", "a,b\n1,2\n")
    with pytest.raises(DataFileError, match=r"g.parquet: not a readable Parquet file \("):
        read_table(p)
    p = _write(tmp_path, "bad.csv.gz", b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataFileError, match=r"bad.csv.gz: cannot be read"):
        read_table(p)


# ---------------------------------------------------------------- split_features_target


def test_split_features_target(tmp_path: Path) -> None:
    p = _write(tmp_path, "d.csv", "a,b,price\n1,2,10.5\n3,4,11\n")
    df = read_table(p)
    X, y = split_features_target(df, "price", path=p)
    assert list(X.columns) == ["a", "b"] and y.tolist() == [10.5, 11.0]
    assert y.name == "price" and y.index.tolist() == [2, 3]
    with pytest.raises(DataFileError) as exc:
        split_features_target(df, "prce", path=p)
    assert _err(exc) == (
        f"{p}: no target column 'prce' (did you mean 'price'?); available columns: 'a', 'b', "
        "'price'."
    )
    with pytest.raises(DataFileError, match=r"no target column 'PRICE' \(did you mean 'price'"):
        split_features_target(df, "PRICE", path=p)
    with pytest.raises(DataFileError, match=r"^data: no target column 'zzz'; available"):
        split_features_target(df, "zzz")
    with pytest.raises(DataFileError, match="no feature columns: 'a' is the only column"):
        split_features_target(df[["a"]], "a", path=p)


def test_target_nan_and_inf_name_the_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "d.csv", "a,y\n1,0\n2,1\n\n3,\n4,NA\n")
    df = read_table(p)
    with pytest.raises(DataFileError) as exc:
        split_features_target(df, "y", path=p)
    assert _err(exc) == (
        f"{p}: the target column 'y' has a missing value at line 5 (2 missing in all); remove "
        "those rows or fill them in, or pass --missing drop (or mean, median, most-frequent: "
        "rows without a target are dropped)."
    )
    p = _write(tmp_path, "i.csv", "a,y\n1,0.5\n2,inf\n")
    with pytest.raises(
        DataFileError,
        match=r"target column 'y' has an infinite value inf at "
        r"line 3",
    ):
        split_features_target(read_table(p), "y", path=p)


# ------------------------------------------------------------------------------ infer_task


def test_infer_task_rules() -> None:
    rng = np.random.default_rng(0)
    assert infer_task(pd.Series(rng.normal(size=50))) == "regression"
    assert infer_task(pd.Series([0.5, 1.0, 2.0])) == "regression"  # one non-integer value
    assert infer_task(pd.Series([0, 1, 1, 0])) == "binary"
    assert infer_task(pd.Series([-1.0, 1.0])) == "binary"
    assert infer_task(pd.Series(["yes", "no", "no"])) == "binary"
    assert infer_task(pd.Series([True, False, True])) == "binary"
    assert infer_task(np.array([0, 1, 2, 2, 1, 0, 2, 1, 0])) == "multiclass"  # 3 <= sqrt(9)
    assert infer_task(np.array([0, 1, 2, 2, 1])) == "regression"  # 3 > floor(sqrt(5)) = 2
    assert infer_task(pd.Series([1.0, 2.0, 3.0] * 3)) == "multiclass"  # integer-valued floats
    assert infer_task(pd.Series(["a", "b", "c"])) == "multiclass"
    assert infer_task(pd.Series(pd.Categorical(["lo", "mid", "hi"]))) == "multiclass"
    # integer-like: classes up to min(20, floor(sqrt(n))); more distinct values -> regression
    assert infer_task(pd.Series(np.arange(20).repeat(20))) == "multiclass"  # n=400: 20
    assert infer_task(pd.Series(np.arange(20).repeat(19))) == "regression"  # n=380: 19
    assert infer_task(pd.Series(np.arange(21).repeat(400))) == "regression"  # 21 > 20
    assert infer_task(pd.Series(np.arange(30)), max_classes=30) == "multiclass"
    # longley's TOTEMP: 16 employment counts in 16 rows are numbers
    totemp = pd.Series([60323.0, 61122, 60171, 61187, 63221, 63639, 64989, 63761, 66019, 67857,
                        68169, 66513, 68655, 69564, 69331, 70551], name="TOTEMP")
    assert infer_task(totemp) == "regression"
    assert task_rule(totemp, "regression") == (
        "16 distinct integers in 16 rows, more than min(20, sqrt(rows)) = 4, are numbers, not "
        "class labels; --model softmax treats them as classes")
    assert task_rule(pd.Series([0, 1, 2] * 3), "multiclass") == (
        "3 distinct integers, at most min(20, sqrt(9 rows)) = 3, are class labels; --model "
        "linear treats them as numbers")
    # numeric strings (an object column) are numbers
    assert infer_task(pd.Series(["1.5", "2.25", "3"], dtype=object)) == "regression"


def test_infer_task_single_class_and_bad_targets() -> None:
    with pytest.raises(DataFileError) as exc:
        infer_task(pd.Series(["x", "x", "x"], name="c"), path="f.csv")
    assert _err(exc) == (
        "f.csv: the target column 'c' has a single class 'x'; a classifier needs at least two "
        "(and a constant has nothing to regress)."
    )
    with pytest.raises(DataFileError, match="the target column 'y' has a single class 1;"):
        infer_task(pd.Series([1.0, 1.0], name="y"))
    with pytest.raises(DataFileError, match="has 60 distinct text values in 60 rows"):
        infer_task(pd.Series([f"id{i}" for i in range(60)], name="id"))
    s = pd.Series(
        [str(i % 5) for i in range(20)],
        name="t",
        index=pd.Index(range(2, 22), name="line"),
        dtype=object,
    )
    s.iloc[15] = "abc"
    with pytest.raises(DataFileError) as exc:
        infer_task(s, path="f.csv")
    assert _err(exc) == (
        "f.csv: the target column 't' is numeric but line 17 holds 'abc' (1 non-numeric "
        "cell(s) in all); fix those cells (a missing value is an empty cell)."
    )
    with pytest.raises(DataFileError, match="target column 'target' has a missing value at row 1"):
        infer_task(np.array([0.0, np.nan, 1.0]))


def test_task_summary() -> None:
    y = pd.Series(["virginica", "setosa", "versicolor", "setosa"], name="species")
    assert task_summary(y, infer_task(y)) == (
        "target 'species': 3 classes ('setosa', 'versicolor', 'virginica') -> multiclass "
        "(softmax regression)"
    )
    y = pd.Series([1.0, 0.0, 1.0], name="spam")
    assert (
        task_summary(y, "binary") == "target 'spam': 2 classes (0, 1) -> binary (logistic "
        "regression)"
    )
    y = pd.Series([0.25, -3.5, 100.0], name="price")
    assert task_summary(y, "regression") == (
        "target 'price': continuous values in [-3.5, 100] -> regression (linear regression)"
    )


# --------------------------------------------------------------------------- FeatureEncoder


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x1": [1.0, 2.0, 3.0, 4.0],
            "city": pd.array(["Rome", "Paris", "Rome", "Oslo"], dtype="string"),
            "n": [10, 10, 10, 10],  # zero variance
            "flag": [True, False, True, True],
        },
        index=pd.Index([2, 3, 4, 5], name="line"),
    )


def test_onehot_exact() -> None:
    enc = FeatureEncoder().fit(_frame())
    assert enc.numeric_columns_ == ["x1", "n"]
    assert enc.categorical_columns_ == ["city", "flag"]
    assert enc.categories_ == {"city": ["Oslo", "Paris", "Rome"], "flag": ["False", "True"]}
    assert enc.feature_names_out_ == [
        "x1",
        "city=Oslo",
        "city=Paris",
        "city=Rome",
        "n",
        "flag=False",
        "flag=True",
    ]
    X = enc.transform(_frame())
    expected = np.array(
        [
            [1, 0, 0, 1, 10, 0, 1],
            [2, 0, 1, 0, 10, 1, 0],
            [3, 0, 0, 1, 10, 0, 1],
            [4, 1, 0, 0, 10, 0, 1],
        ],
        dtype=np.float64,
    )
    np.testing.assert_array_equal(X, expected)
    assert X.dtype == np.float64 and X.flags.c_contiguous
    # columns matched by name: another order gives the same matrix
    shuffled = _frame()[["flag", "n", "city", "x1"]]
    np.testing.assert_array_equal(enc.transform(shuffled), expected)
    # a subset of categories at transform time is fine
    np.testing.assert_array_equal(enc.transform(_frame().iloc[[1]]), expected[[1]])
    X32 = enc.transform(_frame(), dtype=np.float32)
    assert X32.dtype == np.float32
    np.testing.assert_array_equal(X32, expected.astype(np.float32))


def test_standardize() -> None:
    enc = FeatureEncoder(standardize=True).fit(_frame())
    x1 = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(enc.means_, [x1.mean(), 0, 0, 0, 10.0, 0, 0])
    np.testing.assert_array_equal(enc.scales_, [x1.std(), 1, 1, 1, 1.0, 1, 1])  # n: scale 1
    X = enc.transform(_frame())
    np.testing.assert_allclose(X[:, 0], (x1 - 2.5) / np.sqrt(1.25), rtol=0, atol=1e-15)
    assert X[:, 0].mean() == pytest.approx(0.0, abs=1e-15)
    assert X[:, 0].std() == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_array_equal(X[:, 4], 0.0)  # constant column centred, not divided by 0
    np.testing.assert_array_equal(X[:, 1:4].sum(axis=1), 1.0)  # one-hot untouched


def test_categorical_error_mode() -> None:
    with pytest.raises(DataFileError) as exc:
        FeatureEncoder(categorical="error").fit(_frame(), path="d.csv")
    assert _err(exc) == (
        "d.csv: column 'city' is not numeric (values like 'Rome'); pass --categorical onehot "
        "to one-hot encode it."
    )
    with pytest.raises(ValueError, match=r"'categorical' parameter of FeatureEncoder must be one"):
        FeatureEncoder(categorical="ordinal")  # type: ignore[arg-type]


def test_numeric_column_with_a_bad_cell(tmp_path: Path) -> None:
    rows = [f"{i},{i * 0.5},{i % 3}" for i in range(15)]
    rows[15 - 1] = "14,abc,2"  # data row 15 -> line 16; then one more row
    rows.append("15,7.5,0")
    p = _write(tmp_path, "d.csv", "a,b,y\n" + "\n".join(rows) + "\n")
    X, _ = split_features_target(read_table(p), "y", path=p)
    with pytest.raises(DataFileError) as exc:
        FeatureEncoder().fit(X, path=p)
    assert _err(exc) == (
        f"{p}: column 'b' is numeric but line 16 holds 'abc' (1 non-numeric cell(s) in all); "
        "fix those cells (a missing value is an empty cell)."
    )


def test_nan_and_inf_cells(tmp_path: Path) -> None:
    p = _write(tmp_path, "d.csv", "a,b,y\n1,2,0\n2,,1\n3,4,1\n")
    X, _ = split_features_target(read_table(p), "y", path=p)
    with pytest.raises(DataFileError) as exc:
        FeatureEncoder().fit(X, path=p)
    assert _err(exc) == (
        f"{p}: column 'b' has a missing value (empty or NaN) at line 3 (1 non-finite cell(s) "
        "in the column); fill or drop those rows, or pass --missing "
        "drop|mean|median|most-frequent."
    )
    p = _write(tmp_path, "i.csv", "a,b,y\n1,2,0\n2,3,1\n3,-inf,1\n")
    X, _ = split_features_target(read_table(p), "y", path=p)
    with pytest.raises(DataFileError, match=r"column 'b' has an infinite value \(-inf\) at line 4"):
        FeatureEncoder().fit(X, path=p)
    df = pd.DataFrame({"c": ["u", None, "v"], "y": [0, 1, 0]})
    with pytest.raises(DataFileError, match=r"categorical column 'c' has a missing value at row 1"):
        FeatureEncoder().fit(df)


def test_transform_checks(tmp_path: Path) -> None:
    enc = FeatureEncoder().fit(_frame(), path="train.csv")
    with pytest.raises(DataFileError) as exc:
        enc.transform(_frame().drop(columns=["n", "x1"]), path="new.csv")
    assert _err(exc) == (
        "new.csv: missing column(s) 'x1', 'n' that the model was trained on; the data needs "
        "every training column (matched by name): 'x1', 'city', 'n', 'flag'."
    )
    extra = _frame().assign(z=1.0, w=2.0)
    with pytest.raises(DataFileError) as exc:
        enc.transform(extra, path="new.csv")
    assert _err(exc) == (
        "new.csv: unexpected column(s) 'z', 'w' not seen in training; drop them (or allow "
        "extra columns to ignore them)."
    )
    np.testing.assert_array_equal(enc.transform(extra, allow_extra=True), enc.transform(_frame()))
    unseen = _frame()
    unseen.loc[4, "city"] = "Lyon"
    with pytest.raises(DataFileError) as exc:
        enc.transform(unseen, path="new.csv")
    assert _err(exc) == (
        "new.csv: column 'city' has the value 'Lyon' at line 4, not seen in training (known: "
        "'Oslo', 'Paris', 'Rome'); drop those rows, pass --unknown-category ignore (all-zero "
        "one-hot columns) or retrain with data that includes it."
    )
    texty = _frame().assign(x1=["a", "b", "c", "d"])
    with pytest.raises(DataFileError, match="column 'x1' was numeric in training but holds text"):
        enc.transform(texty, path="new.csv")
    nan = _frame().assign(x1=[1.0, np.nan, 2.0, 3.0])
    with pytest.raises(DataFileError, match="column 'x1' has a missing value .* at line 3"):
        enc.transform(nan, path="new.csv")
    with pytest.raises(RuntimeError, match="not fitted yet"):
        FeatureEncoder().transform(_frame())


def test_other_refusals() -> None:
    ids = pd.DataFrame({"user": [f"u{i}" for i in range(120)]})
    with pytest.raises(
        DataFileError, match=r"column 'user' has 120 distinct values .*\(limit 100\)"
    ):
        FeatureEncoder().fit(ids)
    assert FeatureEncoder(max_categories=200).fit(ids).n_features_out_ == 120
    dates = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-02-01"])})
    with pytest.raises(DataFileError, match=r"column 'd' has dtype datetime64"):
        FeatureEncoder().fit(dates)
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataFileError, match=r"duplicate column name\(s\) 'a'"):
        FeatureEncoder().fit(dup)


def test_encoder_round_trip_through_model_file(tmp_path: Path) -> None:
    train = _frame()
    enc = FeatureEncoder(standardize=True).fit(train)
    X = enc.transform(train)
    theta = np.arange(enc.n_features_out_ + 1, dtype=np.float64)
    p = tmp_path / "model.npz"
    save_arrays(
        p,
        {"theta": theta, **enc.to_arrays()},
        {"model": "linear", "encoder": enc.to_meta()},
        kind="model",
    )
    schema = {"theta": ("f", (None,)), **FeatureEncoder.schema()}
    arrays, meta = load_arrays(p, kind="model", schema=schema)
    enc2 = FeatureEncoder.from_state(arrays, meta["encoder"], path=p)
    assert enc2.feature_names_out_ == enc.feature_names_out_
    assert enc2.categories_ == enc.categories_
    assert (
        repr(enc2)
        == repr(enc)
        == ("FeatureEncoder(categorical='onehot', standardize=True, 4 -> 7 columns)")
    )
    X2 = enc2.transform(train)
    assert X2.tobytes() == X.tobytes()  # bit-identical


def test_from_state_refuses_bad_state() -> None:
    enc = FeatureEncoder(standardize=True).fit(_frame())
    arrays, meta = enc.to_arrays(), enc.to_meta()
    FeatureEncoder.from_state(arrays, meta)  # fine

    def refused(a: dict, m: dict, text: str) -> None:
        with pytest.raises(ModelFileError) as exc:
            FeatureEncoder.from_state(a, m, path="m.npz")
        msg = _err(exc)
        assert msg.startswith("m.npz: the feature encoder state is invalid (")
        assert text in msg

    refused(arrays, {**meta, "feature_names_in": ["x1", "x1", "n", "flag"]}, "duplicates")
    refused(arrays, {**meta, "extra": 1}, "unknown keys ['extra']")
    refused(arrays, {**meta, "state_version": 3}, "state_version 3, this gdlab reads 1 and 2")
    refused(arrays, {**meta, "infrequent": {"city": ["Lyon"]}}, "infrequent of 'city'")
    refused(arrays, {**meta, "missing": "mean"}, "category_fill must give a value")
    refused(
        arrays,
        {**meta, "categories": {"city": ["Rome", "Oslo"], "flag": ["False", "True"]}},
        "sorted list of distinct str",
    )
    refused({**arrays, "encoder.scales": np.ones(3)}, meta, "expected (7,) float")
    refused({**arrays, "encoder.scales": -np.ones(7)}, meta, "non-positive")
    refused({"encoder.means": arrays["encoder.means"]}, meta, "encoder.scales is missing")
    refused(arrays, {**meta, "categorical": "maybe"}, "'categorical' parameter")


CASES = {
    "ok": "a,b\n1,2\n\n3,4\r\n  \n5,6",  # blank, whitespace-only, CRLF, no final newline
    "few": "a,b,c\n1,2,3\n\n4,5\n",
    "many": "a,b\n1,2\n3,4,5\n",
    "dup": "x,y,x\n1,2,3\n",
    "noname": ",y\n1,2\n",
    "header_only": "\n\na,b\n\n",
    "blank": " \n\n",
    "one_col": "a\n1\n\n2\n",
    "latin1": "a,b\n1,2\n3,caf\xe9\n",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_scan_agrees_with_csv_module(tmp_path: Path, case: str) -> None:
    from gdlab.io.tables import _scan_csv, _scan_csv_fast

    p = tmp_path / f"{case}.csv"
    p.write_bytes(CASES[case].encode("latin-1"))

    def outcome(fast: bool) -> tuple[str, object]:
        try:
            header, lines = _scan_csv(p, ".csv", fast=fast)
        except DataFileError as exc:
            return "error", str(exc)
        return "ok", (header, lines.tolist())

    if case == "latin1":
        assert _scan_csv_fast(p, ".csv", ",") is None  # not UTF-8: handed to the exact path
    else:
        assert outcome(True) == outcome(False)
    if case == "ok":
        assert outcome(True) == ("ok", (["a", "b"], [2, 4, 6]))


def test_fast_scan_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gdlab.io.tables as tables

    monkeypatch.setattr(tables, "_CHUNK", 7)  # every block boundary splits lines
    body = "\ufeffa,b\n" + "".join(f"{i},{i * 2}\n" for i in range(40)) + "\n41,82,0\n"
    p = _write(tmp_path, "d.csv", body)
    with pytest.raises(DataFileError, match=r"line 43 has 3 fields but the header has 2"):
        tables._scan_csv(p, ".csv")
    p = _write(tmp_path, "e.csv", body.replace("\n41,82,0\n", "\n41,82"))
    header, lines = tables._scan_csv(p, ".csv")
    assert header == ["a", "b"]
    assert lines.tolist() == list(range(2, 42)) + [43]
    assert read_table(p)["b"].iloc[-1] == 82


def test_separator_is_sniffed_or_given(tmp_path: Path) -> None:
    p = _write(tmp_path, "semi.csv", "a;b\n1,5;2\n3;4\n")
    assert sniff_sep(p) == ";"
    assert read_table(p)["b"].tolist() == [2, 4]
    assert read_table(p)["a"].tolist() == ["1,5", "3"]
    p = _write(tmp_path, "c.tsv", "a,b\n1,2\n")
    assert sniff_sep(p) == "," and read_table(p)["b"].tolist() == [2]
    p = _write(tmp_path, "one.csv", "a\n1\n2\n")
    assert sniff_sep(p) == "," and read_table(p)["a"].tolist() == [1, 2]
    p = _write(tmp_path, "pipe.csv", "a|b\n1|2\n")
    assert read_table(p, sep="|")["b"].tolist() == [2]
    p = _write(tmp_path, "semi2.csv", "a;b\n1;2\n")
    with pytest.raises(DataFileError) as exc:
        read_table(p, sep=",")
    assert _err(exc) == (
        f"{p}: the header 'a;b' is one column containing semicolons but the separator is ','; "
        "pass --sep ';' (or convert the file)."
    )
    with pytest.raises(DataFileError, match="the separator must be one character"):
        read_table(p, sep=";;")


# ------------------------------------------------- missing cells, grouped and unknown categories


def _gappy() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, 10.0, np.nan, 4.0],
            "c": pd.array(["u", "v", None, "v", "w", "v"], dtype="string"),
        },
        index=pd.Index(range(2, 8), name="line"),
    )


@pytest.mark.parametrize("rule", ["mean", "median", "most-frequent"])
def test_imputation_matches_simple_imputer(rule: str) -> None:
    from sklearn.impute import SimpleImputer

    df = _gappy()
    enc = FeatureEncoder(missing=rule).fit(df)
    strategy = rule.replace("-", "_")
    want_x = SimpleImputer(strategy=strategy).fit_transform(df[["x"]])[:, 0]
    X = enc.transform(df)
    assert enc.feature_names_out_ == ["x", "c=u", "c=v", "c=w"]
    np.testing.assert_array_equal(X[:, 0], want_x)
    assert enc.fill_["c"] == "v"  # categories take the most frequent value under every rule
    np.testing.assert_array_equal(X[1:3, 1:], [[0, 1, 0], [0, 1, 0]])  # line 4 filled with 'v'
    # the fill values come from the fitting rows only
    enc_tr = FeatureEncoder(missing="mean").fit(df, fit_rows=np.array([0, 1, 2]))
    assert enc_tr.fill_["x"] == 2.0


def test_fill_values_and_groups_survive_the_model_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "x": np.where(rng.random(200) < 0.1, np.nan, rng.normal(size=200)),
        "city": rng.choice(["a", "b", "c", "d", "e", "f"], 200, p=[.4, .3, .1, .1, .05, .05]),
    })
    df.loc[5, "city"] = None
    enc = FeatureEncoder(missing="median", max_categories=3, standardize=True).fit(df)
    from sklearn.preprocessing import OneHotEncoder

    ref = OneHotEncoder(max_categories=3, sparse_output=False).fit(
        df[["city"]].fillna(enc.fill_["city"]))
    assert enc.infrequent_ == {"city": sorted(ref.infrequent_categories_[0])}
    assert enc.feature_names_out_ == ["x", "city=a", "city=b", "city=infrequent"]
    X = enc.transform(df)
    p = tmp_path / "m.npz"
    save_arrays(p, enc.to_arrays(), {"encoder": enc.to_meta()}, kind="model")
    arrays, meta = load_arrays(p, kind="model", schema=FeatureEncoder.schema())
    enc2 = FeatureEncoder.from_state(arrays, meta["encoder"], path=p)
    assert enc2.transform(df).tobytes() == X.tobytes()
    assert enc2.infrequent_ == enc.infrequent_ and enc2.fill_ == enc.fill_


def test_unknown_category_ignore_gives_zero_columns() -> None:
    enc = FeatureEncoder().fit(_frame())
    new = _frame().iloc[[0]].copy()
    new["city"] = "Lyon"
    with pytest.raises(DataFileError, match="'Lyon' at line 2, not seen in training"):
        enc.transform(new, path="new.csv")
    X = enc.transform(new, unknown="ignore")
    np.testing.assert_array_equal(X[0, 1:4], [0, 0, 0])
    assert FeatureEncoder(unknown="ignore").fit(_frame()).transform(new)[0, 1:4].sum() == 0


def test_version_1_state_is_read() -> None:
    enc = FeatureEncoder(standardize=True).fit(_frame())
    meta = {k: v for k, v in enc.to_meta().items()
            if k not in ("missing", "unknown", "infrequent", "category_fill")}
    meta.update(state_version=1, max_categories=100)
    arrays = {k: v for k, v in enc.to_arrays().items() if not k.endswith("fill")}
    old = FeatureEncoder.from_state(arrays, meta)
    assert old.missing == "error" and old.max_categories is None
    assert old.transform(_frame()).tobytes() == enc.transform(_frame()).tobytes()


def test_messages_never_carry_a_whole_cell() -> None:
    enc = FeatureEncoder().fit(_frame())
    new = _frame().iloc[[0]].copy()
    new["city"] = "z" * 5000
    with pytest.raises(DataFileError) as exc:
        enc.transform(new)
    assert len(_err(exc)) < 400 and "z" * 100 not in _err(exc)


def test_a_long_column_name_is_cut_in_messages() -> None:
    long = "n" * 3000
    with pytest.raises(DataFileError) as exc:
        split_features_target(pd.DataFrame({long: [1.0, np.nan], "x": [1, 2]}), long)
    assert "n" * 100 not in _err(exc) and "nnn...'" in _err(exc)


def test_transform_of_plain_numeric_columns_equals_the_column_path():
    """Float and integer columns take whole-matrix operations; a column with a pandas
    extension dtype takes the column-by-column path: the same bits either way."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(5, 3, 300), "b": rng.integers(-9, 9, 300),
                       "c": rng.normal(size=300) * 1e6})
    for standardize in (True, False):
        enc = FeatureEncoder(standardize=standardize).fit(df)
        plain = enc.transform(df)
        by_column = enc.transform(df.astype({"a": "Float64"}))
        assert plain.flags.c_contiguous and plain.dtype == np.float64
        np.testing.assert_array_equal(plain, by_column)
        np.testing.assert_array_equal(enc.transform(df, dtype=np.float32),
                                      by_column.astype(np.float32))
        np.testing.assert_array_equal(enc.transform(df[["c", "a", "b"]]), plain)
    bad = df.copy()
    bad.loc[7, "c"] = np.inf
    with pytest.raises(DataFileError, match=r"column 'c' has an infinite value \(inf\) at "):
        enc.transform(bad)


@pytest.mark.parametrize("kind", ["plain", "column path", "categories"])
def test_transform_in_column_major_order_gives_the_same_values(kind: str) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(5, 3, 200), "b": rng.integers(-9, 9, 200)})
    if kind == "categories":
        df["city"] = rng.choice(["x", "y", "z"], 200)
    enc = FeatureEncoder().fit(df)
    frame = df.astype({"a": "Float64"}) if kind == "column path" else df
    rows = enc.transform(frame)
    cols = enc.transform(frame, order="F")
    assert cols.flags.f_contiguous and not cols.flags.c_contiguous
    np.testing.assert_array_equal(cols, rows)
    assert enc.transform(frame, order="F", dtype=np.float32).flags.f_contiguous
    with pytest.raises(ValueError, match=r"'order' parameter .* must be 'C' or 'F'\. Got 'K'"):
        enc.transform(frame, order="K")  # type: ignore[arg-type]


def test_transform_without_copy_scales_the_frame_in_place() -> None:
    """copy=False: the result is pandas' own block of float64 columns, scaled in place, with
    the values of copy=True; a bad cell is named as before and leaves the frame unchanged."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(3, 2, (500, 4)), columns=list("abcd"))
    enc = FeatureEncoder().fit(df)
    expected = enc.transform(df, order="F")
    frame = df.copy()
    block = frame.to_numpy(copy=False)
    got = enc.transform(frame, order="F", copy=False)
    assert np.shares_memory(got, block)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(frame.to_numpy(), expected)  # overwritten, as documented
    # row-major asked of a column-major block: a new matrix, the frame untouched
    frame = df.copy()
    np.testing.assert_array_equal(enc.transform(frame, copy=False), expected)
    np.testing.assert_array_equal(frame.to_numpy(), df.to_numpy())
    bad = df.copy()
    bad.iloc[7, 2] = np.nan
    before = bad.to_numpy()
    with pytest.raises(DataFileError, match=r"column 'c' has a missing value"):
        enc.transform(bad, order="F", copy=False)
    np.testing.assert_array_equal(bad.to_numpy(), before)
