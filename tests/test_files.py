"""The file checks as pure code: readers over bytes, the rules table, verdicts by version (no server).

What the real 2.3.5 server does with each kind of file is in ``test_files_milvus.py``; what a 2.4+ server does
(by version) through ``bulk_import`` in ``test_files_testserver.py``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymilvus_import._files import csv as csv_format
from pymilvus_import._files import json as json_format
from pymilvus_import._files import npy
from pymilvus_import._files.check import check_files
from pymilvus_import._files.parquet import read_footer
from pymilvus_import._files.rules import ALL, NEVER, RULES, Versions, before, between, since
from pymilvus_import._files.source import BytesSource
from pymilvus_import._wire import CollectionSchema, FieldInfo

ROOT = Path(__file__).resolve().parent.parent

PLAIN = CollectionSchema(
    "books", (FieldInfo("id", "Int64", is_primary=True), FieldInfo("vec", "FloatVector", type_params={"dim": "4"}))
)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def run(schema: CollectionSchema, version: tuple[int, int, int] | None, groups: dict[str, bytes], **kw: object):  # type: ignore[no-untyped-def]
    """check_files over in-memory files; each key is a path, grouped: '.npy' paths together, others one each."""
    npys = [p for p in groups if p.endswith(".npy")]
    others = [[p] for p in groups if not p.endswith(".npy")]
    layout = ([npys] if npys else []) + others
    return check_files(schema, version, layout, lambda p: BytesSource(p, groups[p]), **kw)  # type: ignore[arg-type]


def problems(report) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return [(p.file, p.field) for p in report.problems]


# --- readers ------------------------------------------------------------------------------------------------------

DTYPES = st.sampled_from(["<i1", "<i2", "<i4", "<i8", "<f4", ">f8", "|b1", "<U7", "|S3", "|u1"])


@settings(max_examples=60, deadline=None)
@given(dtype=DTYPES, shape=st.lists(st.integers(0, 5), min_size=1, max_size=3), fortran=st.booleans())
def test_the_npy_header_reads_what_numpy_wrote(dtype: str, shape: list[int], fortran: bool) -> None:
    array = np.zeros(shape, dtype=dtype, order="F" if fortran else "C")
    header = npy.read_header(BytesSource("x.npy", npy_bytes(array)))
    assert np.dtype(header.descr) == array.dtype
    assert header.shape == tuple(shape)
    assert header.fortran_order == (fortran and len(shape) > 1 and not array.flags.c_contiguous)
    assert header.version[0] in (1, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 not numpy", "not a valid NumPy file format"),
        (b"\x93NUMPY\x09\x00\x10\x00", "invalid major version number (9)"),
        (b"\x93NUMPY\x01\x00\x08\x00{'a': 1}", "must hold 'descr', 'fortran_order' and 'shape'"),
        (b"\x93NUMPY\x01\x00\x04\x00oops", "not a dict literal"),
    ],
)
def test_a_bad_npy_header_says_why(data: bytes, message: str) -> None:
    with pytest.raises(npy.NpyFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        npy.read_header(BytesSource("x.npy", data))


def test_the_parquet_footer_is_read_without_row_data() -> None:
    table = pa.table({"id": pa.array([1, None], pa.int64()), "vec": pa.array([[1.0] * 4] * 2, pa.list_(pa.float32()))})
    data = parquet_bytes(table)

    class Counting(BytesSource):
        read_bytes = 0

        def read(self, offset: int, length: int) -> bytes:
            piece = super().read(offset, length)
            Counting.read_bytes += len(piece)
            return piece

    facts = read_footer(Counting("t.parquet", data))
    assert [(c.name, str(c.type), c.null_count) for c in facts.columns] == [
        ("id", "int64", 1),
        ("vec", "list<float32>", None),  # a list's statistics belong to its leaf, not to the column
    ]
    assert facts.num_rows == 2


def test_a_huge_parquet_file_costs_only_its_footer() -> None:
    # 64 MiB of row data, read through a source that counts: only the footer's bytes are fetched.
    big = pa.table({"id": pa.array(np.arange(8 << 20, dtype=np.int64))})
    data = parquet_bytes(big)
    fetched: list[int] = []

    class Counting(BytesSource):
        def read(self, offset: int, length: int) -> bytes:
            fetched.append(length)
            return super().read(offset, length)

    read_footer(Counting("t.parquet", data))
    assert sum(fetched) < 1 << 20 < len(data)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00\r"), max_size=6),
            min_size=2,
            max_size=2,
        ),
        min_size=1,
        max_size=6,
    ),
    sep=st.sampled_from([",", ";", "\t", "|"]),
)
def test_strict_csv_records_read_what_python_wrote(rows: list[list[str]], sep: str) -> None:
    import csv

    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    expected = rows
    got = [fields for _line, fields in csv_format.read_records(BytesSource("a.csv", buffer.getvalue().encode()), sep)]
    # Python writes an all-empty record as a line of separators only, never a blank line, so nothing is skipped.
    assert got == expected


@pytest.mark.parametrize(
    "text", ['id,vec\n1,"[1,2\n', 'id,vec\n1,"[1]"x\n', 'id,vec\n1,ab"c\n'], ids=["unclosed", "after-quote", "bare"]
)
def test_a_badly_quoted_record_is_an_error(text: str) -> None:
    with pytest.raises(csv_format.CsvRecordError):
        list(csv_format.read_records(BytesSource("a.csv", text.encode()), ","))


def test_the_csv_header_keeps_a_bom_and_takes_the_separator() -> None:
    header = csv_format.read_header(BytesSource("a.csv", "\ufeffid;vec\n1;[1]\n".encode()), ";")
    assert header is not None
    assert (header.names, header.bom, header.clean_names) == (("\ufeffid", "vec"), True, ("id", "vec"))
    assert csv_format.read_header(BytesSource("a.csv", b"\n\n"), ",") is None
    assert (
        csv_format.separator_problem('"')
        and csv_format.separator_problem("ab")
        and not csv_format.separator_problem(";")
    )


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.dictionaries(st.sampled_from(["id", "vec", "s"]), st.integers(-5, 5) | st.text(max_size=3)), max_size=30
    ),
    wrapped=st.booleans(),
)
def test_json_rows_stream_out_of_both_roots(rows: list[dict[str, object]], wrapped: bool) -> None:
    content = json.dumps({"rows": rows} if wrapped else rows)
    got = list(json_format.read_rows(BytesSource("r.json", content.encode())))
    assert got == rows
    lines = "\n".join(json.dumps(r) for r in rows).encode()
    assert list(json_format.read_rows(BytesSource("r.jsonl", lines), lines=True)) == rows


def test_json_rows_in_pieces_larger_than_one_read() -> None:
    rows = [{"id": i, "vec": [0.125] * 300} for i in range(2000)]  # ~3.5 MB: many pieces
    data = json.dumps(rows).encode()
    assert list(json_format.read_rows(BytesSource("r.json", data))) == rows
    head = list(json_format.read_rows(BytesSource("r.json", data), budget=100_000))
    assert 0 < len(head) < len(rows) and head == rows[: len(head)]


# --- the rules as data ----------------------------------------------------------------------------------------------

VERSIONS = st.tuples(st.integers(0, 4), st.integers(0, 8), st.integers(0, 30))
RANGES = st.lists(st.tuples(VERSIONS, VERSIONS), max_size=4).map(Versions.of)


@given(a=RANGES, b=RANGES, v=VERSIONS)
def test_version_sets_behave_like_sets(a: Versions, b: Versions, v: tuple[int, int, int]) -> None:
    assert (v in (a | b)) == (v in a or v in b)
    assert (v in (a & b)) == (v in a and v in b)
    assert (v in ~a) == (v not in a)
    assert a.holds(None) == a.everywhere


def test_an_unknown_version_applies_only_rules_that_hold_everywhere() -> None:
    assert ALL.holds(None) and not since(2, 4, 10).holds(None) and not NEVER.holds(None)
    assert (before(2, 4) | since(2, 4)).holds(None)
    assert str(between((2, 5, 0), (2, 6, 0))) == "2.5.0 to 2.6.0 (excluded)"
    assert RULES["value-max-length"].versions == since(2, 4, 10)


# --- verdicts by version ---------------------------------------------------------------------------------------------


def test_every_problem_of_every_file_is_reported_at_once() -> None:
    files = {
        "/d/id.npy": npy_bytes(np.arange(3, dtype=np.int32)),
        "/d/vec.npy": npy_bytes(np.zeros((2, 5), np.float32)),
        "/d/a.json": json.dumps([{"id": "x", "vec": [1.0] * 3}]).encode(),
        "/d/b.parquet": parquet_bytes(pa.table({"vec": pa.array([[1.0] * 4], pa.list_(pa.float32()))})),
    }
    report = run(PLAIN, (2, 3, 5), files)
    assert sorted(problems(report)) == sorted(
        [
            ("/d/id.npy", "id"),  # dtype
            ("/d/vec.npy", "vec"),  # dim
            ("/d/vec.npy", "vec"),  # rows 2 vs 3 ... named with both files (a tie)
            ("/d/id.npy", "id"),
            ("/d/a.json", "id"),  # a string for Int64
            ("/d/a.json", "vec"),  # 3 values for dim 4
            ("/d/b.parquet", "id"),  # no column
        ]
    )
    assert [v.status for v in report.verdicts] == ["problems"] * 4


def test_a_file_that_cannot_be_read_gets_no_verdict() -> None:
    report = check_files(PLAIN, (2, 5, 0), [["/nowhere/a.json"]], lambda p: None)
    assert report.ok
    assert [(v.status, v.detail) for v in report.verdicts] == [
        ("not readable", "the client cannot read this file: no verdict")
    ]


def test_max_length_is_checked_only_from_2_4_10() -> None:
    schema = CollectionSchema(
        "c",
        (
            FieldInfo("id", "Int64", is_primary=True),
            FieldInfo("s", "VarChar", type_params={"max_length": "4"}),
            FieldInfo("vec", "FloatVector", type_params={"dim": "2"}),
        ),
    )
    files = {"/d/r.json": json.dumps([{"id": 1, "s": "ééé", "vec": [1, 2]}]).encode()}  # 6 UTF-8 bytes, 3 chars
    for version, refused in [
        ((2, 3, 5), False),
        ((2, 4, 9), False),
        ((2, 4, 10), True),
        ((2, 6, 0), True),
        (None, False),
    ]:
        report = run(schema, version, files, full=True)
        assert (problems(report) == [("/d/r.json", "s")]) == refused, version
    assert run(schema, (2, 6, 0), files).ok  # a header check does not read every value


def test_widened_and_narrowed_parquet_types_follow_the_version() -> None:
    schema = CollectionSchema(
        "c",
        (
            FieldInfo("id", "Int64", is_primary=True),
            FieldInfo("f", "Float"),
            FieldInfo("vec", "FloatVector", type_params={"dim": "2"}),
        ),
    )

    def table(**over: pa.Array) -> dict[str, bytes]:
        columns = {
            "id": pa.array([1], pa.int64()),
            "f": pa.array([0.5], pa.float32()),
            "vec": pa.array([[1.0, 2.0]], pa.list_(pa.float32())),
        }
        return {"/d/t.parquet": parquet_bytes(pa.table({**columns, **over}))}

    assert run(schema, (2, 3, 5), table(id=pa.array([1], pa.int32()))).ok  # widening: measured on 2.3.5
    assert problems(run(schema, (2, 3, 5), table(f=pa.array([0.5], pa.float64())))) == [("/d/t.parquet", "f")]
    assert run(schema, (2, 4, 0), table(f=pa.array([0.5], pa.float64()))).ok  # narrowed from 2.4
    assert run(schema, None, table(f=pa.array([0.5], pa.float64()))).ok  # unknown: some version takes it
    fixed = table(vec=pa.array([[1.0, 2.0]], pa.list_(pa.float32(), 2)))
    assert problems(run(schema, (2, 6, 17), fixed)) == [("/d/t.parquet", "vec")]
    assert run(schema, (2, 6, 18), fixed).ok
    wrong_size = table(vec=pa.array([[1.0, 2.0, 3.0]], pa.list_(pa.float32(), 3)))
    assert problems(run(schema, (2, 6, 18), wrong_size)) == [("/d/t.parquet", "vec")]
    for never in (pa.array(["x"], pa.large_string()), pa.array([1], pa.uint32()), pa.array(["a"]).dictionary_encode()):
        assert problems(run(schema, None, table(f=never))) == [("/d/t.parquet", "f")], never.type


def test_extra_columns_and_keys_are_refused_only_before_2_6() -> None:
    parquet_file = {
        "/d/t.parquet": parquet_bytes(
            pa.table(
                {
                    "id": pa.array([1], pa.int64()),
                    "vec": pa.array([[1.0] * 4], pa.list_(pa.float32())),
                    "tag": pa.array(["a"]),
                }
            )
        )
    }
    json_file = {"/d/r.json": json.dumps([{"id": 1, "vec": [1.0] * 4, "tag": "a"}]).encode()}
    for files, name in ((parquet_file, "/d/t.parquet"), (json_file, "/d/r.json")):
        assert problems(run(PLAIN, (2, 5, 27), files)) == [(name, "tag")]
        assert run(PLAIN, (2, 6, 0), files).ok
        assert run(PLAIN, None, files).ok


def test_auto_id_keys_are_refused_where_the_server_cannot_take_them() -> None:
    schema = CollectionSchema(
        "c",
        (
            FieldInfo("id", "Int64", is_primary=True, auto_id=True),
            FieldInfo("vec", "FloatVector", type_params={"dim": "4"}),
        ),
    )
    rows = {"/d/r.json": json.dumps([{"id": 1, "vec": [1.0] * 4}]).encode()}
    group = {"/d/id.npy": npy_bytes(np.arange(2)), "/d/vec.npy": npy_bytes(np.zeros((2, 4), np.float32))}
    for version, json_refused in [
        ((2, 3, 5), True),
        ((2, 5, 18), True),
        ((2, 5, 19), False),
        ((2, 6, 2), True),
        ((2, 6, 3), False),
    ]:
        assert (not run(schema, version, rows).ok) == json_refused, version
        assert problems(run(schema, version, group)) == [("/d/id.npy", "id")]  # NumPy: never


def test_nullable_fields_by_version_and_format() -> None:
    schema = CollectionSchema(
        "c",
        (
            FieldInfo("id", "Int64", is_primary=True),
            FieldInfo("n", "Int32", nullable=True),
            FieldInfo("vec", "FloatVector", type_params={"dim": "4"}),
        ),
    )
    group = {"/d/id.npy": npy_bytes(np.arange(2)), "/d/vec.npy": npy_bytes(np.zeros((2, 4), np.float32))}
    assert problems(run(schema, (2, 5, 10), group)) == [
        ("/d/id.npy", "n"),
        ("/d/id.npy", "n"),
    ]  # 2.5: nullable + missing
    assert run(schema, (2, 6, 0), group).ok  # 2.6: filled with null
    csv_file = {"/d/a.csv": b'id,vec\n1,"[1,2,3,4]"\n'}
    assert problems(run(schema, (2, 5, 10), csv_file)) == [("/d/a.csv", "n")]
    assert run(schema, (2, 6, 0), csv_file).ok


def test_the_silent_losses_are_refused_with_the_rows_at_stake() -> None:
    vectors = np.ones((10, 4), np.float32)
    vectors[6, 1] = np.nan
    group = {"/d/id.npy": npy_bytes(np.arange(10)), "/d/vec.npy": npy_bytes(vectors)}
    for version in ((2, 4, 10), (2, 5, 27)):
        (problem,) = run(PLAIN, version, group, full=True).problems
        assert problem.field == "vec" and "4 of 10 rows would be dropped silently" in problem.message
    assert "the server fails the job" in run(PLAIN, (2, 6, 0), group, full=True).problems[0].message
    assert run(PLAIN, (2, 5, 27), group).ok  # the header check does not read values

    csv_file = {"/d/a.csv": b'id,vec\n1,"[1,2,3,4]"\n2,"[1,2,3,4]"x\n3,"[1,2,3,4]"\n'}
    (problem,) = run(PLAIN, (2, 5, 0), csv_file, full=True).problems
    assert problem.message.startswith("line 3:") and "lost silently" in problem.message

    uneven = {"/d/id.npy": npy_bytes(np.arange(10)), "/d/vec.npy": npy_bytes(np.ones((8, 4), np.float32))}
    assert [p.file for p in run(PLAIN, (2, 4, 10), uneven).problems] == ["/d/id.npy", "/d/vec.npy"]
    assert all("drops rows silently" in p.message for p in run(PLAIN, (2, 4, 10), uneven).problems)


def test_import_pymilvus_import_loads_no_file_code() -> None:
    prefixes = ("pyarrow", "numpy", "pymilvus_import._files.check", "pymilvus_import._files.npy")
    code = f"import sys, pymilvus_import; print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_a_1_gib_numpy_file_is_fully_checked_with_bounded_memory(tmp_path: Path) -> None:
    rows, dim = 1 << 20, 256  # 1 GiB of float32
    vectors = np.lib.format.open_memmap(tmp_path / "vec.npy", mode="w+", dtype=np.float32, shape=(rows, dim))
    for start in range(0, rows, 1 << 16):
        vectors[start : start + (1 << 16)] = 0.5
    vectors[rows - 3, 7] = np.nan  # near the end: the whole file must be read to find it
    vectors.flush()
    del vectors
    np.save(tmp_path / "id.npy", np.arange(rows))
    script = f"""
from pymilvus_import._files.check import check_files
from pymilvus_import._files.source import LocalFile
from pymilvus_import._wire import CollectionSchema, FieldInfo
schema = CollectionSchema("c", (FieldInfo("id", "Int64", is_primary=True),
                                FieldInfo("vec", "FloatVector", type_params={{"dim": "{dim}"}})))
group = [{str(tmp_path / "id.npy")!r}, {str(tmp_path / "vec.npy")!r}]
report = check_files(schema, (2, 5, 0), [group], LocalFile, full=True)
print(len(report.problems), report.problems[0].message if report.problems else "")
# The peak resident set of this process (VmHWM: ru_maxrss would carry the parent's peak over fork + exec).
status = open("/proc/self/status").read()
print(int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) // 1024)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    first, peak_mb = out.strip().splitlines()
    assert first.startswith("1 row 1048573 holds NaN or Inf") and "3 of 1048576 rows would be dropped" in first
    assert int(peak_mb) < 250, f"peak RSS {peak_mb} MB for a 1 GiB file"
