"""File-content checks through ``bulk_import`` / ``check_files`` / the CLI against the 2.4+ TEST server, by version.

These are the rules the real 2.3.5 does not apply (max_length from 2.4.10, extra keys ignored from 2.6, NumPy and
nullable fields on 2.5, fixed_size_list from 2.6.18, the silent losses of 2.4/2.5 ...): each is refused for the
versions it holds on (no Import reaches the server) and not refused for the others (the Import is sent).
The test server (``tests/fake_milvus.py``) listens on 127.0.0.1, so the default header check reads local files.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import helpers
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fake_milvus import Milvus24TestServer

import pymilvus_import as pi
from pymilvus_import._filecheck import is_local_address
from pymilvus_import._files.source import BytesSource
from pymilvus_import._generated import common_pb2, schema_pb2


def field(name: str, data_type: str, *, primary: bool = False, nullable: bool = False, **params: object) -> object:
    return schema_pb2.FieldSchema(
        name=name,
        data_type=schema_pb2.DataType.Value(data_type),
        is_primary_key=primary,
        nullable=nullable,
        type_params=[common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in params.items()],
    )


FIELDS = [field("id", "Int64", primary=True), field("s", "VarChar", max_length=4), field("vec", "FloatVector", dim=4)]


@pytest.fixture
def serve() -> Iterator[object]:
    """serve(version) -> a running test server of that version with collection 'books' (FIELDS)."""
    servers: list[Milvus24TestServer] = []

    def start(version: str, fields: list[object] | None = None) -> Milvus24TestServer:
        server = Milvus24TestServer(version=version).start()
        server.add_collection("books", fields=fields or FIELDS)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def rows_file(tmp_path: Path, rows: object, name: str = "rows.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(rows), encoding="utf-8")
    return str(path)


def npy_group(tmp_path: Path, **arrays: np.ndarray) -> list[str]:
    paths = []
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
        paths.append(str(tmp_path / f"{name}.npy"))
    return paths


def outcome(server: Milvus24TestServer, files: list[list[str]], **kw: object) -> pi.FileMismatchError | None:
    """What bulk_import does: the FileMismatchError (and no Import sent), or None when the Import went out."""
    option = pi.new_bulk_import_option(server.uri, "books", files)
    before = server.import_count()
    try:
        pi.bulk_import(option, timeout=10, **kw)  # type: ignore[arg-type]
    except pi.FileMismatchError as error:
        assert server.import_count() == before  # no Import reached the server
        return error
    assert server.import_count() == before + len(files)
    return None


GOOD_ROW = {"id": 1, "s": "ab", "vec": [0.5] * 4}


@pytest.mark.parametrize(("version", "refused"), [("v2.4.9", False), ("v2.4.10", True), ("v2.5.27", True)])
def test_max_length_in_utf8_bytes_is_refused_from_2_4_10_with_the_full_check(
    serve, tmp_path: Path, version: str, refused: bool
) -> None:
    server = serve(version)
    path = rows_file(tmp_path, [GOOD_ROW, {**GOOD_ROW, "id": 2, "s": "ééé"}])  # 3 characters, 6 UTF-8 bytes
    error = outcome(server, [[path]], validate="full")
    assert (error is not None) == refused
    if error is not None:
        assert error.problems == ((path, "s", "row 1: a value of 6 UTF-8 bytes exceeds max_length 4 of 's'"),)
    assert outcome(server, [[path]]) is None  # the default header check reads no values


@pytest.mark.parametrize(("version", "refused"), [("v2.4.10", True), ("v2.5.27", True), ("v2.6.0", False)])
def test_an_extra_json_key_is_refused_until_2_6_ignores_it(serve, tmp_path: Path, version: str, refused: bool) -> None:
    server = serve(version)
    path = rows_file(tmp_path, [{**GOOD_ROW, "colour": "red"}])
    error = outcome(server, [[path]])
    assert (error is not None) == refused
    if error is not None:
        assert [(p.file, p.field) for p in error.problems] == [(path, "colour")]


@pytest.mark.parametrize("version", ["v2.4.10", "v2.5.27"])
def test_nan_in_a_float32_numpy_vector_is_refused_as_silent_row_loss_on_2_4_and_2_5(
    serve, tmp_path: Path, version: str
) -> None:
    server = serve(version)
    vectors = np.ones((10, 4), np.float32)
    vectors[7, 2] = np.inf
    group = npy_group(tmp_path, id=np.arange(10), s=np.array(["a"] * 10), vec=vectors)
    error = outcome(server, [group], validate="full")
    assert error is not None
    ((file, name, message),) = error.problems
    assert (Path(file).name, name) == ("vec.npy", "vec")
    assert "3 of 10 rows would be dropped silently" in message
    assert outcome(server, [group]) is None  # headers only: the file looks right


def test_a_badly_quoted_csv_record_is_refused_as_silent_row_loss_on_2_5(serve, tmp_path: Path) -> None:
    server = serve("v2.5.27")
    path = tmp_path / "rows.csv"
    path.write_text('id,s,vec\n1,ab,"[1,2,3,4]"\n2,"a"b,"[1,2,3,4]"\n3,cd,"[1,2,3,4]"\n', encoding="utf-8")
    error = outcome(server, [[str(path)]], validate="full")
    assert error is not None
    ((file, name, message),) = error.problems
    assert (file, name) == (str(path), None)
    assert message.startswith("line 3:") and "the rows would be lost silently" in message


@pytest.mark.parametrize("version", ["v2.4.10", "v2.6.0"])
def test_numpy_files_with_different_row_counts_are_refused_by_the_header_check(
    serve, tmp_path: Path, version: str
) -> None:
    server = serve(version)
    group = npy_group(tmp_path, id=np.arange(8), s=np.array(["a"] * 8), vec=np.ones((6, 4), np.float32))
    error = outcome(server, [group])
    assert error is not None
    assert [(Path(p.file).name, p.field) for p in error.problems] == [("vec.npy", "vec")]
    assert "drops rows silently" in error.problems[0].message


@pytest.mark.parametrize(("version", "refused"), [("v2.6.17", True), ("v2.6.18", False)])
def test_a_fixed_size_list_vector_column_is_read_from_2_6_18(
    serve, tmp_path: Path, version: str, refused: bool
) -> None:
    server = serve(version)
    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "id": pa.array([1], pa.int64()),
            "s": pa.array(["a"]),
            "vec": pa.array([[0.5] * 4], pa.list_(pa.float32(), 4)),
        }
    )
    pq.write_table(table, path)
    error = outcome(server, [[str(path)]])
    assert (error is not None) == refused


@pytest.mark.parametrize(("version", "refused"), [("v2.5.27", True), ("v2.6.0", False)])
def test_numpy_into_a_collection_with_a_nullable_field(serve, tmp_path: Path, version: str, refused: bool) -> None:
    fields = [*FIELDS, field("note", "VarChar", nullable=True, max_length=8)]
    server = serve(version, fields)
    group = npy_group(tmp_path, id=np.arange(2), s=np.array(["a", "b"]), vec=np.ones((2, 4), np.float32))
    error = outcome(server, [group])
    assert (error is not None) == refused


def test_every_problem_of_every_group_in_one_error(serve, tmp_path: Path) -> None:
    server = serve("v2.5.27")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rows = rows_file(tmp_path / "a", [{"id": "1", "vec": [0.5] * 3}])
    group = npy_group(tmp_path / "b", id=np.arange(3, dtype=np.int32), s=np.array(["a"] * 3), vec=np.ones((3, 5)))
    error = outcome(server, [[rows], group])
    assert error is not None
    assert sorted((Path(p.file).name, p.field) for p in error.problems) == [
        ("id.npy", "id"),
        ("rows.json", "id"),
        ("rows.json", "s"),
        ("rows.json", "vec"),
        ("vec.npy", "vec"),
    ]
    assert error.created_job_ids == ()
    assert "5 problems in 3 files" in str(error)


def test_turning_the_check_off(serve, tmp_path: Path) -> None:
    server = serve("v2.5.27")
    path = rows_file(tmp_path, [{"id": "not a number"}])
    assert outcome(server, [[path]]) is not None
    assert outcome(server, [[path]], validate="off") is None
    assert outcome(server, [[path]], preflight=False) is None
    with pi.ImportClient(server.uri, read_local_files=False) as client:
        client.bulk_import(pi.new_bulk_import_option("", "books", [[path]]), timeout=10)  # files are not read
    with pi.ImportClient(server.uri, validate="off") as client:
        client.bulk_import(pi.new_bulk_import_option("", "books", [[path]]), timeout=10)
    with pytest.raises(pi.InvalidInputError, match="validate must be one of"):
        pi.bulk_import(pi.new_bulk_import_option(server.uri, "books", [[path]]), validate="everything")  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1:19530", True),
        ("127.5.0.1:19530", True),
        ("localhost:19530", True),
        ("[::1]:19530", True),
        ("unix:/tmp/milvus.sock", True),
        ("10.0.0.5:19530", False),
        ("milvus.example.com:443", False),
        ("", False),
    ],
)
def test_which_servers_count_as_this_machine(address: str, local: bool) -> None:
    assert is_local_address(address) == local


def test_check_files_returns_the_report_and_reads_sources_you_give(serve, tmp_path: Path) -> None:
    server = serve("v2.4.10")
    good = rows_file(tmp_path, [GOOD_ROW], "good.json")
    option = pi.new_bulk_import_option("", "books", [[good], ["bucket/key/rows.json"], ["/nowhere/x.json"]])
    remote = BytesSource("bucket/key/rows.json", json.dumps([{"id": 1}]).encode())
    with pi.ImportClient(server.uri) as client:
        report = client.check_files(option, sources={"bucket/key/rows.json": remote}, timeout=10)
    assert [(v.file, v.status) for v in report.verdicts] == [
        (good, "ok"),
        ("bucket/key/rows.json", "problems"),
        ("/nowhere/x.json", "not readable"),
    ]
    assert [(p.file, p.field) for p in report.problems] == [
        ("bucket/key/rows.json", "s"),
        ("bucket/key/rows.json", "vec"),
    ]
    assert report.server_version == "v2.4.10" and not report.ok
    assert server.import_count() == 0


def test_the_async_client_checks_files_in_a_worker_thread(serve, tmp_path: Path) -> None:
    server = serve("v2.4.10")
    bad = rows_file(tmp_path, [{"id": 1, "s": 5, "vec": [0.5] * 4}])

    async def main() -> tuple[pi.FileReport, pi.FileMismatchError | None]:
        async with pi.AsyncImportClient(server.uri) as client:
            option = pi.new_bulk_import_option("", "books", [[bad]])
            report = await client.check_files(option, timeout=10)
            try:
                await client.bulk_import(option, timeout=10)
            except pi.FileMismatchError as error:
                return report, error
            return report, None

    report, error = asyncio.run(main())
    assert [(p.field, p.message) for p in report.problems] == [
        ("s", "row 0: field 's' (VarChar) takes a string, got integer 5")
    ]
    assert error is not None and error.problems == report.problems
    assert server.import_count() == 0


def test_the_cli_check_prints_every_problem_and_exits_2(
    serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve("v2.5.27")
    bad = rows_file(tmp_path, [{"id": 1.5, "s": "ab", "vec": [0.5] * 4}, {"id": 2, "s": "ab"}])
    good = rows_file(tmp_path, [GOOD_ROW], "good.json")
    result = helpers.run_cli(capsys, "check", "--uri", server.uri, "-c", "books", bad, good)
    assert result.code == 2, result
    assert "FILE" in result.out and "FIELD" in result.out and "PROBLEM" in result.out
    assert f"{bad}  id" in result.out and f"{bad}  vec" in result.out
    assert "2 problem(s) found; nothing was imported." in result.out

    result = helpers.run_cli(capsys, "check", "--uri", server.uri, "-c", "books", "--json", bad)
    assert result.code == 2
    assert [(p["file"], p["field"]) for p in result.json()["problems"]] == [(bad, "id"), (bad, "vec")]

    result = helpers.run_cli(capsys, "check", "--uri", server.uri, "-c", "books", good)
    assert result.code == 0 and "No problem found." in result.out
    assert server.import_count() == 0


@pytest.mark.parametrize("version", ["v2.4.10", "v2.5.27", "v2.6.0"])
@pytest.mark.parametrize("validate", ["header", "off"])
def test_a_npy_file_for_no_field_is_ignored_from_2_4_and_neither_check_nor_preflight_refuses_it(
    serve, tmp_path: Path, version: str, validate: str
) -> None:
    """2.4+ ignores a .npy file that names no field (2.3.5 fails the job: tests/test_files_milvus.py,
    tests/test_preflight_milvus.py). check_files says OK, and bulk_import sends the Import, with the file check on
    or off: the preflight's own verdict reads the same rule."""
    server = serve(version)
    group = npy_group(
        tmp_path, id=np.arange(3), s=np.array(["a", "b", "c"]), vec=np.ones((3, 4), np.float32), colour=np.arange(3)
    )
    option = pi.new_bulk_import_option(server.uri, "books", [group])
    with pi.ImportClient(server.uri) as client:
        report = client.check_files(option, timeout=10)
    assert report.ok and report.problems == ()
    assert outcome(server, [group], validate=validate) is None
    assert pi.bulk_import(option, timeout=10, dry_run=True).requests[0].files == tuple(group)


def test_a_misspelt_npy_file_on_2_4_is_refused_as_the_field_it_leaves_missing(serve, tmp_path: Path) -> None:
    server = serve("v2.4.10")
    group = npy_group(tmp_path, id=np.arange(3), s=np.array(["a", "b", "c"]), vecs=np.ones((3, 4), np.float32))
    option = pi.new_bulk_import_option(server.uri, "books", [group])
    before = server.import_count()
    with pytest.raises(pi.SchemaMismatchError, match="no file for field 'vec'") as info:
        pi.bulk_import(option, timeout=10, validate="off")
    assert "names no field and is ignored by the server; did you mean 'vec.npy'?" in str(info.value)
    assert server.import_count() == before


# --- value rules of the full check by version (Array elements, $meta objects, UTF-8, binary row lengths) ----------

TAGS = schema_pb2.FieldSchema(
    name="tags",
    data_type=schema_pb2.DataType.Array,
    element_type=schema_pb2.DataType.VarChar,
    type_params=[
        common_pb2.KeyValuePair(key="max_length", value="3"),
        common_pb2.KeyValuePair(key="max_capacity", value="2"),
    ],
)


def parquet_file(tmp_path: Path, name: str = "t.parquet", **columns: pa.Array) -> str:
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return str(path)


def good_columns(n: int) -> dict[str, pa.Array]:
    return {
        "id": pa.array(range(n), pa.int64()),
        "s": pa.array(["ab"] * n),
        "vec": pa.array([[0.5] * 4] * n, pa.list_(pa.float32())),
    }


@pytest.mark.parametrize(
    ("fmt", "version", "refused"),
    [
        ("json", "v2.5.27", False),
        ("json", "v2.6.0", True),
        ("parquet", "v2.4.10", False),
        ("parquet", "v2.5.0", True),
        ("csv", "v2.5.0", True),
    ],
)
def test_an_array_element_over_max_length_is_refused_where_the_format_checks_it(
    serve, tmp_path: Path, fmt: str, version: str, refused: bool
) -> None:
    server = serve(version, [*FIELDS, TAGS])
    tags = [["a"], ["abcd"]]  # 4 bytes > max_length 3; capacity is fine
    if fmt == "json":
        path = rows_file(tmp_path, [{**GOOD_ROW, "id": i, "tags": t} for i, t in enumerate(tags)])
    elif fmt == "parquet":
        path = parquet_file(tmp_path, **good_columns(2), tags=pa.array(tags, pa.list_(pa.string())))
    else:
        path = str(tmp_path / "rows.csv")
        Path(path).write_text('id,s,vec,tags\n0,ab,"[1,2,3,4]","[""a""]"\n1,ab,"[1,2,3,4]","[""abcd""]"\n')
    error = outcome(server, [[path]], validate="full")
    assert (error is not None) == refused
    if error is not None:
        assert error.problems == (
            (path, "tags", ("line 3" if fmt == "csv" else "row 1") + ": an element of 4 UTF-8 bytes in field 'tags' "
             "exceeds its max_length 3"),
        )  # fmt: skip


@pytest.mark.parametrize(("version", "refused"), [("v2.4.9", False), ("v2.4.10", True), ("v2.6.0", True)])
def test_an_array_over_max_capacity_is_refused_from_2_4_10(serve, tmp_path: Path, version: str, refused: bool) -> None:
    server = serve(version, [*FIELDS, TAGS])
    path = parquet_file(tmp_path, **good_columns(2), tags=pa.array([["a"], ["a", "b", "c"]], pa.list_(pa.string())))
    error = outcome(server, [[path]], validate="full")
    assert (error is not None) == refused
    if error is not None:
        assert [(p.field, "3 elements exceed max_capacity 2" in p.message) for p in error.problems] == [("tags", True)]


@pytest.mark.parametrize(("version", "refused"), [("v2.4.0", False), ("v2.4.1", True), ("v2.6.0", True)])
def test_meta_text_that_is_not_an_object_is_refused_from_2_4_1(
    serve, tmp_path: Path, version: str, refused: bool
) -> None:
    server = Milvus24TestServer(version=version).start()
    try:
        server.add_collection("books", fields=FIELDS, enable_dynamic_field=True)
        rows = rows_file(tmp_path, [GOOD_ROW, {**GOOD_ROW, "id": 2, "$meta": "[1, 2]"}])
        table = parquet_file(tmp_path, **good_columns(2), **{"$meta": pa.array(["{}", "[1, 2]"])})
        for path in (rows, table):
            error = outcome(server, [[path]], validate="full")
            assert (error is not None) == refused, path
            if error is not None:
                ((file, name, message),) = error.problems
                assert (file, name) == (path, "$meta")
                assert message.startswith("row 1:") and "not an object" in message
            bad_json = rows_file(tmp_path, [{**GOOD_ROW, "$meta": "{oops"}], name="bad.json")
            assert outcome(server, [[bad_json]], validate="full") is not None  # not JSON at all: every version
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("version", "says"),
    [
        ("v2.5.7", "this server imports it, and then every query returning field 's' fails"),
        ("v2.5.8", "the server fails the job"),
    ],
)
def test_invalid_utf8_is_refused_saying_what_this_server_would_do(
    serve, tmp_path: Path, version: str, says: str
) -> None:
    server = serve(version)
    values = [b"ab", b"a\xff"]
    offsets = np.cumsum([0, *map(len, values)]).astype(np.int32)
    s = pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(values))])
    table = parquet_file(tmp_path, **{**good_columns(2), "s": s})
    csv_path = tmp_path / "rows.csv"
    csv_path.write_bytes(b'id,s,vec\n0,ab,"[1,2,3,4]"\n1,a\xff,"[1,2,3,4]"\n')
    for path, at in ((table, "row 1"), (str(csv_path), "line 3")):
        error = outcome(server, [[path]], validate="full")
        assert error is not None
        ((file, name, message),) = error.problems
        assert (file, name) == (path, "s") and message.startswith(f"{at}: b'a\\xff': byte 1") and says in message
        assert outcome(server, [[path]]) is None  # the header check reads no values


@pytest.mark.parametrize("version", ["v2.4.10", "v2.6.0"])
def test_a_binary_vector_row_of_the_wrong_length_is_refused_as_silent_corruption(
    serve, tmp_path: Path, version: str
) -> None:
    server = serve(version, [field("id", "Int64", primary=True), field("bvec", "BinaryVector", dim=16)])
    path = parquet_file(
        tmp_path, id=pa.array([1, 2], pa.int64()), bvec=pa.array([b"\x01", b"\x02\x03\x04"], pa.binary())
    )
    error = outcome(server, [[path]], validate="full")
    assert error is not None
    ((file, name, message),) = error.problems
    assert (file, name) == (path, "bvec")
    assert message.startswith("row 0: 1 bytes") and "(and 1 more rows)" in message and "without an error" in message
    assert outcome(server, [[path]]) is None
