"""The full check's value rules, as pure code over many values (hypothesis): a rule refuses exactly the values it
should, for the versions it holds on, in every format it concerns, naming the first offending row and the count.

Vector row lengths in Parquet (``binary`` and ``list`` columns), UTF-8 of strings (Parquet, CSV), JSON text of JSON
fields and ``$meta`` (JSON, CSV, Parquet, NumPy), Array<VarChar> element ``max_length`` and ``max_capacity``. What
the real 2.3.5 does with each is in ``test_files_milvus.py``; 2.4+ by version in ``test_files_testserver.py``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymilvus_import._files.check import check_files
from pymilvus_import._files.source import BytesSource
from pymilvus_import._wire import CollectionSchema, FieldInfo

VERSIONS = [(2, 3, 5), (2, 4, 0), (2, 4, 9), (2, 4, 10), (2, 5, 7), (2, 5, 8), (2, 6, 0), None]
EXAMPLES = settings(max_examples=40, deadline=None)

SCHEMA = CollectionSchema(
    "c",
    (
        FieldInfo("id", "Int64", is_primary=True),
        FieldInfo("s", "VarChar", type_params={"max_length": "64"}),
        FieldInfo("j", "JSON"),
        FieldInfo("tags", "Array", element_type="VarChar", type_params={"max_length": "3", "max_capacity": "2"}),
        FieldInfo("vec", "FloatVector", type_params={"dim": "2"}),
        FieldInfo("$meta", "JSON", is_dynamic=True),
    ),
    enable_dynamic_field=True,
)


def parquet_bytes(columns: dict[str, pa.Array]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, row_group_size=7)  # several batches' worth of row groups
    return buffer.getvalue()


def strings(values: list[bytes]) -> pa.Array:
    """A string column holding exactly these bytes (pyarrow would refuse invalid UTF-8 through pa.array)."""
    offsets = np.cumsum([0, *map(len, values)]).astype(np.int32)
    buffers = [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(values))]
    return pa.Array.from_buffers(pa.string(), len(values), buffers)


def check(version: Any, path: str, data: bytes | dict[str, bytes], schema: CollectionSchema = SCHEMA) -> Any:
    files = data if isinstance(data, dict) else {path: data}
    group = list(files)
    return check_files(schema, version, [group], lambda p: BytesSource(p, files[p]), full=True)


def named(report: Any) -> list[tuple[str | None, str]]:
    return [(p.field, p.message) for p in report.problems]


def base_columns(n: int) -> dict[str, pa.Array]:
    return {
        "id": pa.array(range(n), pa.int64()),
        "s": pa.array(["x"] * n),
        "j": pa.array(["{}"] * n),
        "tags": pa.array([["a"]] * n, pa.list_(pa.string())),
        "vec": pa.array([[0.5, 0.5]] * n, pa.list_(pa.float32())),
    }


def base_row(i: int) -> dict[str, Any]:
    return {"id": i, "s": "x", "j": {}, "tags": ["a"], "vec": [0.5, 0.5]}


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """A CSV the server reads: JSON text in JSON/Array/vector cells; str cells may carry surrogate escapes (bytes
    that are not UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = list(rows[0])
    writer.writerow(names)
    for row in rows:
        writer.writerow([v if isinstance(v, str) else json.dumps(v) for v in row.values()])
    return out.getvalue().encode("utf-8", "surrogateescape")


def first_and_count(flags: list[bool]) -> tuple[int, int]:
    return flags.index(True), sum(flags)


def expect_one(report: Any, field: str, row: int, count: int) -> str:
    (problem,) = [p for p in report.problems if p.field == field]
    assert problem.message.startswith(f"row {row}:") or problem.message.startswith(f"line {row + 2}:"), problem
    more = f"(and {count - 1} more " if count > 1 else None
    assert (more in problem.message) if more else "more" not in problem.message, problem.message
    return problem.message


# --- 1. vector row lengths in Parquet -----------------------------------------------------------------------------


@EXAMPLES
@given(
    data_type=st.sampled_from(["BinaryVector", "Float16Vector", "BFloat16Vector"]),
    dim=st.sampled_from([8, 16, 32]),
    lengths=st.lists(st.integers(0, 10), min_size=1, max_size=30),
    version=st.sampled_from(VERSIONS),
)
def test_a_binary_vector_row_of_the_wrong_byte_length_is_refused_as_silent_corruption(
    data_type: str, dim: int, lengths: list[int], version: Any
) -> None:
    width = dim // 8 if data_type == "BinaryVector" else dim * 2
    lengths = [width if n == 0 else n for n in lengths[:-1]] + [lengths[-1]]  # many good rows, some bad
    schema = CollectionSchema(
        "c", (FieldInfo("id", "Int64", is_primary=True), FieldInfo("v", data_type, type_params={"dim": str(dim)}))
    )
    data = parquet_bytes(
        {"id": pa.array(range(len(lengths)), pa.int64()), "v": pa.array([b"\x01" * n for n in lengths], pa.binary())}
    )
    report = check(version, "/d/t.parquet", data, schema)
    wrong = [n != width for n in lengths]
    if not any(wrong):
        assert report.ok, report.problems
        return
    row, count = first_and_count(wrong)
    message = expect_one(report, "v", row, count)
    assert f"{lengths[row]} bytes in field 'v'" in message and f"takes {width} bytes per row" in message
    assert "imported wrong without an error" in message


@EXAMPLES
@given(
    lengths=st.lists(st.sampled_from([4, 4, 4, 0, 3, 5]), min_size=1, max_size=30),
    element=st.sampled_from([pa.float32(), pa.float64(), pa.int16()]),
    version=st.sampled_from(VERSIONS),
)
def test_a_list_vector_row_of_the_wrong_length_is_refused(lengths: list[int], element: Any, version: Any) -> None:
    schema = CollectionSchema(
        "c", (FieldInfo("id", "Int64", is_primary=True), FieldInfo("v", "FloatVector", type_params={"dim": "4"}))
    )
    vectors = pa.array([[1] * n for n in lengths], pa.list_(element))
    report = check(version, "/d/t.parquet", parquet_bytes({"id": pa.array(range(len(lengths))), "v": vectors}), schema)
    header_refused = element == pa.int16() and version is not None and version < (2, 4, 0)  # 2.3: floats only
    wrong = [n != 4 for n in lengths]
    vector_problems = [p for p in report.problems if "values in field 'v'" in p.message]
    if header_refused:  # the type alone fails the job there
        assert any("does not take" in p.message for p in report.problems), report.problems
        return
    if not any(wrong):
        assert not vector_problems
        return
    row, count = first_and_count(wrong)
    message = expect_one(report, "v", row, count)
    assert f"a vector of {lengths[row]} values" in message and "which takes 4" in message


# --- 2. UTF-8 of strings (Parquet, CSV) ----------------------------------------------------------------------------

RAW = st.lists(st.binary(max_size=6) | st.text(max_size=4).map(str.encode), min_size=1, max_size=20)


def _valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_outcome(message: str, version: Any) -> None:
    if version is None:
        assert "fails the job (2.5.8+) or imports it" in message
    elif version >= (2, 5, 8):
        assert message.endswith("the server fails the job") or "fails the job (and" in message
    else:
        assert "every query returning field 's' fails" in message


@EXAMPLES
@given(values=RAW, version=st.sampled_from(VERSIONS))
def test_invalid_utf8_in_a_parquet_string_column_is_refused_in_every_version(values: list[bytes], version: Any) -> None:
    columns = {**base_columns(len(values)), "s": strings(values)}
    report = check(version, "/d/t.parquet", parquet_bytes(columns))
    bad = [not _valid(v) for v in values]
    if not any(bad):
        assert not [p for p in report.problems if p.field == "s"], report.problems
        return
    row, count = first_and_count(bad)
    _utf8_outcome(expect_one(report, "s", row, count), version)


@EXAMPLES
@given(values=RAW, version=st.sampled_from([v for v in VERSIONS if v is None or v >= (2, 5, 0)]))
def test_invalid_utf8_in_a_csv_cell_is_refused(values: list[bytes], version: Any) -> None:
    values = [v.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"") for v in values]
    rows = [{**base_row(i), "s": v.decode("utf-8", "surrogateescape")} for i, v in enumerate(values)]
    report = check(version, "/d/a.csv", csv_bytes(rows))
    bad = [not _valid(v) for v in values]
    if not any(bad):
        assert report.ok, report.problems
        return
    row, count = first_and_count(bad)
    _utf8_outcome(expect_one(report, "s", row, count), version)


# --- 3. JSON text of JSON fields and $meta, in every format ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
TEXTS = JSON_VALUES.map(json.dumps) | st.sampled_from(["{oops", "", "[1,", "{'a': 1}", "NaN", '{"a": 1} x'])


def _kind(text: str) -> str:
    try:
        value = json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    except ValueError:
        return "invalid"
    return "object" if isinstance(value, dict) else "other"


def _files(fmt: str, column: str, texts: list[str]) -> tuple[str, dict[str, bytes]]:
    n = len(texts)
    if fmt == "parquet":
        return "/d/t.parquet", {"/d/t.parquet": parquet_bytes({**base_columns(n), column: pa.array(texts)})}
    if fmt == "json":
        rows = [{**base_row(i), column: t} for i, t in enumerate(texts)]
        return "/d/r.json", {"/d/r.json": json.dumps(rows).encode()}
    if fmt == "csv":
        rows = [{**base_row(i), column: t} for i, t in enumerate(texts)]
        return "/d/a.csv", {"/d/a.csv": csv_bytes(rows)}
    schema_npy = {"id": np.arange(n), "s": np.array(["x"] * n), "j": np.array(["{}"] * n)}
    schema_npy[column] = np.array(texts, dtype=f"<U{max(1, *map(len, texts))}")
    schema_npy["vec"] = np.zeros((n, 2), np.float32)
    files = {}
    for name, array in schema_npy.items():
        buffer = io.BytesIO()
        np.save(buffer, array)
        files[f"/d/{name}.npy"] = buffer.getvalue()
    return f"/d/{column}.npy", files


NPY_SCHEMA = CollectionSchema(
    "c", tuple(f for f in SCHEMA.fields if f.name != "tags"), enable_dynamic_field=True
)  # NumPy cannot fill an Array field


@EXAMPLES
@given(
    texts=st.lists(TEXTS, min_size=1, max_size=12),
    fmt=st.sampled_from(["parquet", "json", "csv", "npy"]),
    meta=st.booleans(),
    version=st.sampled_from([(2, 3, 5), (2, 4, 0), (2, 4, 1), (2, 5, 27), (2, 6, 0), None]),
)
def test_json_fields_take_json_text_and_meta_takes_objects(
    texts: list[str], fmt: str, meta: bool, version: Any
) -> None:
    if fmt == "csv" and (version is None or version < (2, 5, 0)):
        version = (2, 5, 27)
    if fmt == "csv":
        texts = [t.replace("\r", "").replace("\x00", "") or "{}" for t in texts]  # "" is the null key
    if fmt == "npy":
        texts = [t.rstrip("\x00") for t in texts]  # NumPy's U dtype drops trailing NULs
    column = "$meta" if meta else "j"
    path, files = _files(fmt, column, texts)
    report = check(version, path, files, NPY_SCHEMA if fmt == "npy" else SCHEMA)
    kinds = [_kind(t) for t in texts]
    problems = [p for p in report.problems if p.field == column]
    meta_rule = version is not None and version >= (2, 4, 1)
    invalid = [k == "invalid" for k in kinds]
    not_object = [k == "other" for k in kinds]
    if fmt == "json" and not meta:
        not_object = [False] * len(texts)  # a JSON field takes any JSON text given as a string
    expected: list[tuple[int, int]] = []
    if any(invalid):
        expected.append(first_and_count(invalid))
    if meta and meta_rule and any(not_object):
        expected.append(first_and_count(not_object))
    assert len(problems) == len(expected), (kinds, report.problems)
    unit = "line" if fmt == "csv" else "row"
    for row, count in expected:
        at = row + 2 if fmt == "csv" else row
        assert any(p.message.startswith(f"{unit} {at}:") for p in problems), (row, problems)
        if count > 1:
            assert any(f"(and {count - 1} more" in p.message for p in problems), problems


# --- 4. Array<VarChar> elements: max_length and max_capacity ---------------------------------------------------------


@EXAMPLES
@given(
    tags=st.lists(st.lists(st.text(max_size=5).filter(lambda t: "\x00" not in t), max_size=4), min_size=1, max_size=12),
    fmt=st.sampled_from(["parquet", "json", "csv"]),
    version=st.sampled_from([(2, 3, 5), (2, 4, 9), (2, 4, 10), (2, 5, 0), (2, 5, 27), (2, 6, 0), None]),
)
def test_array_elements_follow_max_length_and_capacity_by_format_and_version(
    tags: list[list[str]], fmt: str, version: Any
) -> None:
    if fmt == "csv" and (version is None or version < (2, 5, 0)):
        version = (2, 5, 0)
    n = len(tags)
    if fmt == "parquet":
        path, data = "/d/t.parquet", parquet_bytes({**base_columns(n), "tags": pa.array(tags, pa.list_(pa.string()))})
    elif fmt == "json":
        path, data = "/d/r.json", json.dumps([{**base_row(i), "tags": t} for i, t in enumerate(tags)]).encode()
    else:
        path, data = "/d/a.csv", csv_bytes([{**base_row(i), "tags": t} for i, t in enumerate(tags)])
    report = check(version, path, data)
    messages = [p.message for p in report.problems if p.field == "tags"]
    long_rule = version is not None and version >= ((2, 6, 0) if fmt == "json" else (2, 5, 0))
    capacity_rule = version is not None and version >= (2, 4, 10)
    too_long = any(len(e.encode()) > 3 for t in tags for e in t)
    too_many = any(len(t) > 2 for t in tags)
    assert any("exceeds its max_length 3" in m for m in messages) == (long_rule and too_long), messages
    assert any("max_capacity 2" in m for m in messages) == (capacity_rule and too_many), messages
    assert len(messages) == (long_rule and too_long) + (capacity_rule and too_many), messages


# --- 5. a large file of each row format is fully checked with bounded memory ------------------------------------------

GIB = 1 << 30


def _write_big(path: Any, fmt: str, size: int) -> int:
    """A file of ``size`` bytes (about) of good rows, one bad row at the end; returns its index (CSV: line)."""
    dim = 64
    vector = [0.5] * dim
    if fmt == "parquet":
        rows = 1 << 16
        table = pa.table(
            {
                "id": pa.array(np.arange(rows), pa.int64()),
                "s": pa.array(["abcdefgh"] * rows),
                "vec": pa.FixedSizeListArray.from_arrays(pa.array(np.full(rows * dim, 0.5, np.float32)), dim).cast(
                    pa.list_(pa.float32())
                ),
            }
        )
        groups = size // (rows * (dim * 4 + 8 + 12)) + 1
        with pq.ParquetWriter(path, table.schema, compression="none", use_dictionary=False) as writer:
            for _ in range(groups - 1):
                writer.write_table(table)
            bad = table.set_column(2, "vec", pa.array([vector] * (rows - 1) + [vector[:-1]], pa.list_(pa.float32())))
            writer.write_table(bad)
        return groups * rows - 1
    row = {"id": 1, "s": "abcdefgh", "vec": vector}
    if fmt == "json":
        line = json.dumps(row).encode() + b",\n"
        block = line * 4096
        count = size // len(block) + 1
        with open(path, "wb") as out:
            out.write(b"[\n")
            for _ in range(count):
                out.write(block)
            out.write(json.dumps({**row, "vec": vector[:-1]}).encode() + b"\n]")
        return count * 4096
    line = b'1,abcdefgh,"' + json.dumps(vector).encode() + b'"\n'
    block = line * 4096
    count = size // len(block) + 1
    with open(path, "wb") as out:
        out.write(b"id,s,vec\n")
        for _ in range(count):
            out.write(block)
        out.write(b'1,abcdefgh,"' + json.dumps(vector[:-1]).encode() + b'"\n')
    return count * 4096 + 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "size", "bound_mb"), [("parquet", GIB, 300), ("json", 96 << 20, 80), ("csv", 96 << 20, 80)]
)
def test_a_large_row_file_is_fully_checked_with_bounded_memory(
    tmp_path: Any, fmt: str, size: int, bound_mb: int
) -> None:
    """Parquet: 1 GiB (~6 s here). JSON and CSV: 96 MiB (~8 s), since their full check parses every row in Python;
    at 1 GiB their peak RSS was measured once at 35 MB (JSON) and 42 MB (CSV), the same as at 96 MiB."""
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / f"big.{fmt}"
    bad = _write_big(path, fmt, size)
    assert path.stat().st_size >= size
    script = f"""
from pymilvus_import._files.check import check_files
from pymilvus_import._files.source import LocalFile
from pymilvus_import._wire import CollectionSchema, FieldInfo
schema = CollectionSchema("c", (FieldInfo("id", "Int64", is_primary=True),
                                FieldInfo("s", "VarChar", type_params={{"max_length": "16"}}),
                                FieldInfo("vec", "FloatVector", type_params={{"dim": "64"}})))
report = check_files(schema, (2, 5, 8), [[{str(path)!r}]], LocalFile, full=True)
print(repr([p.message for p in report.problems]))
status = open("/proc/self/status").read()
print(int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) // 1024)
"""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True).stdout
    messages, peak_mb = out.strip().splitlines()
    unit = "line" if fmt == "csv" else "row"
    assert messages.startswith(f'["{unit} {bad}: a vector of 63 values') or f"{unit} {bad}: " in messages, messages
    print(f"{fmt}: peak RSS {peak_mb} MB for {path.stat().st_size / 1e9:.2f} GB")
    assert int(peak_mb) < bound_mb, f"peak RSS {peak_mb} MB for a {size >> 20} MiB {fmt} file"
