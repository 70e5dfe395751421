# ruff: noqa: E501
"""File-content checks against the real embedded Milvus 2.3.5: every verdict agrees with the server.

A corpus of bad files, one per rule that 2.3.5 applies: WITHOUT the client's check, the real job fails (its reason
is asserted); WITH it, ``bulk_import`` refuses before any Import, naming the file and the field, and the server
lists no new job. A corpus of files the server accepts passes every check (the full one too) and imports with its
rows. Rules 2.3.5 does not apply are tested by version against the 2.4+ test server (``test_files_testserver.py``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import helpers
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from milvus_server import MilvusServer

import pymilvus_import as pi
from pymilvus_import import FileMismatchError

pytestmark = pytest.mark.milvus

DIM = 8


def _vectors(n: int, dim: int = DIM) -> list[list[float]]:
    return [[float((i + j) % 7) / 7 for j in range(dim)] for i in range(n)]


@pytest.fixture(scope="module")
def collections(milvus_harness: object) -> Iterator[dict[str, str]]:
    """Three collections for the whole module: ``plain`` {id, vec(8)}, ``auto`` {id auto-id, vec(8)}, ``rich``
    {id, b, i32, f, d, s VarChar(8), j JSON, vec(8)}."""
    from pymilvus import DataType

    server: MilvusServer = milvus_harness.get(())  # type: ignore[attr-defined]
    names = {kind: f"files_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("plain", "auto", "rich")}
    with helpers.milvus_client(server.uri) as client:
        for kind, name in names.items():
            schema = client.create_schema(auto_id=kind == "auto", enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True, auto_id=kind == "auto")
            if kind == "rich":
                schema.add_field("b", DataType.BOOL)
                schema.add_field("i32", DataType.INT32)
                schema.add_field("f", DataType.FLOAT)
                schema.add_field("d", DataType.DOUBLE)
                schema.add_field("s", DataType.VARCHAR, max_length=8)
                schema.add_field("j", DataType.JSON)
            schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
            client.create_collection(name, schema=schema)  # not loaded: an Import does not need it (~2.5 s each)
            index = client.prepare_index_params()
            index.add_index("vec", index_type="FLAT", metric_type="L2")
            client.create_index(name, index)
    yield names
    with helpers.milvus_client(server.uri) as client:
        for name in names.values():
            client.drop_collection(name)


# --- file writers -------------------------------------------------------------------------------------------------


def npy(directory: Path, **arrays: np.ndarray) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, array in arrays.items():
        path = directory / f"{name}.npy"
        np.save(path, array)
        paths.append(str(path))
    return paths


def json_file(path: Path, content: object) -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return [str(path)]


def parquet(path: Path, **columns: pa.Array) -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return [str(path)]


def plain_rows(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"id": start + i, "vec": v} for i, v in enumerate(_vectors(n))]


def rich_rows(n: int) -> list[dict[str, object]]:
    return [
        {"id": i, "b": i % 2 == 0, "i32": i, "f": 0.5, "d": 1.5, "s": "é中", "j": {"k": i}, "vec": v}
        for i, v in enumerate(_vectors(n))
    ]


def vec_array(n: int, value_type: pa.DataType | None = None) -> pa.Array:
    return pa.array(_vectors(n), pa.list_(value_type or pa.float32()))


# --- the bad corpus -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A file group the 2.3.5 server fails, the reason it gave (measured), and what the client check names.
    ``full``: only the full check (``validate="full"``) finds it."""

    name: str
    collection: str  # plain | auto | rich
    write: Callable[[Path], list[str]]
    server_reason: str
    file: str  # basename of the file the client names
    field: str | None
    full: bool = False


def rich_npy(directory: Path, n: int = 3, **override: np.ndarray) -> list[str]:
    arrays = {
        "id": np.arange(n),
        "b": np.zeros(n, np.bool_),
        "i32": np.zeros(n, np.int32),
        "f": np.zeros(n, np.float32),
        "d": np.zeros(n, np.float64),
        "s": np.array(["a"] * n),
        "j": np.array(['{"a": 1}'] * n),
        "vec": np.zeros((n, DIM), np.float32),
    }
    return npy(directory, **{**arrays, **override})


def rich_parquet(path: Path, **override: pa.Array) -> list[str]:
    columns = {
        "id": pa.array([1], pa.int64()),
        "b": pa.array([True]),
        "i32": pa.array([1], pa.int32()),
        "f": pa.array([0.5], pa.float32()),
        "d": pa.array([0.5], pa.float64()),
        "s": pa.array(["x"]),
        "j": pa.array(['{"a": 1}']),
        "vec": vec_array(1),
    }
    return parquet(path, **{**columns, **override})


def rich_json(path: Path, **override: object) -> list[str]:
    return json_file(path, [{**rich_rows(1)[0], **override}])


_NAN_VECTORS = np.array([[0.5] * DIM, [np.nan] * DIM, [0.5] * DIM], np.float32)

BAD = [
    # NumPy
    Bad("npy-missing-field", "plain", lambda d: npy(d, id=np.arange(5)), "there is no file corresponding to field 'vec'", "id.npy", "vec"),
    Bad("npy-wrong-dtype", "plain", lambda d: npy(d, id=np.arange(5, dtype=np.int32), vec=np.zeros((5, DIM), np.float32)), "illegal data type Int32 of numpy file for scalar field 'id' with type Int64", "id.npy", "id"),
    Bad("npy-bool-as-int8", "rich", lambda d: rich_npy(d, b=np.zeros(3, np.int8)), "illegal data type Int8 of numpy file for scalar field 'b' with type Bool", "b.npy", "b"),
    Bad("npy-wrong-dim", "plain", lambda d: npy(d, id=np.arange(5), vec=np.zeros((5, DIM // 2), np.float32)), "illegal dimension 4 of numpy file for float vector field 'vec', dimension should be 8", "vec.npy", "vec"),
    Bad("npy-scalar-2d", "plain", lambda d: npy(d, id=np.zeros((5, 2), np.int64), vec=np.zeros((5, DIM), np.float32)), "illegal shape [5 2] of numpy file for scalar field 'id', shape should be 1", "id.npy", "id"),
    Bad("npy-row-counts", "plain", lambda d: npy(d, id=np.arange(5), vec=np.zeros((4, DIM), np.float32)), "the row count(5) of file 'id.npy' is not equal to row count(4) of file 'vec.npy'", "vec.npy", "vec"),
    Bad("npy-auto-id-key", "auto", lambda d: npy(d, id=np.arange(5), vec=np.zeros((5, DIM), np.float32)), "id.npy' has no corresponding field in collection", "id.npy", "id"),
    Bad("npy-extra-file", "plain", lambda d: npy(d, id=np.arange(3), vec=np.zeros((3, DIM), np.float32), color=np.arange(3)), "color.npy' has no corresponding field in collection", "color.npy", "color"),
    Bad("npy-meta-without-dynamic", "plain", lambda d: npy(d, id=np.arange(3), vec=np.zeros((3, DIM), np.float32), **{"$meta": np.array(["{}"] * 3)}), "$meta.npy' has no corresponding field in collection", "$meta.npy", "$meta"),
    Bad("npy-empty-file", "plain", lambda d: [*npy(d, id=np.arange(3)), str(_touch(d / "vec.npy"))], "vec.npy' size is zero", "vec.npy", None),
    Bad("npy-nan-float32-vector", "plain", lambda d: npy(d, id=np.arange(3), vec=_NAN_VECTORS), "illegal value in float vector array: value 'NaN' is not a number or infinity", "vec.npy", "vec", full=True),
    Bad("npy-nan-float64-vector", "plain", lambda d: npy(d, id=np.arange(3), vec=_NAN_VECTORS.astype(np.float64)), "illegal value in float vector array: value 'NaN' is not a number or infinity", "vec.npy", "vec", full=True),
    # JSON
    Bad("json-missing-key", "plain", lambda d: json_file(d / "rows.json", {"rows": [{"id": 1}]}), "value of field 'vec' is missed", "rows.json", "vec"),
    Bad("json-missing-key-second-row", "plain", lambda d: json_file(d / "rows.json", [{"id": 1, "vec": [0.5] * DIM}, {"id": 2}]), "value of field 'vec' is missed", "rows.json", "vec"),
    Bad("json-wrong-vector-length", "plain", lambda d: json_file(d / "rows.json", {"rows": [{"id": 1, "vec": [0.5] * (DIM - 1)}]}), "array size 7 doesn't equal to vector dimension 8 of field 'vec'", "rows.json", "vec"),
    Bad("json-extra-key", "plain", lambda d: json_file(d / "rows.json", {"rows": [{"id": 1, "vec": [0.5] * DIM, "color": "red"}]}), "the field 'color' is not defined in collection schema", "rows.json", "color"),
    Bad("json-auto-id-key", "auto", lambda d: json_file(d / "rows.json", [{"id": 1, "vec": [0.5] * DIM}]), "the primary key 'id' is auto-generated, no need to provide", "rows.json", "id"),
    Bad("json-string-for-int", "plain", lambda d: json_file(d / "rows.json", [{"id": "one", "vec": [0.5] * DIM}]), "illegal value 'one' for int64 type key field 'id'", "rows.json", "id"),
    Bad("json-float-for-int", "plain", lambda d: json_file(d / "rows.json", [{"id": 1.5, "vec": [0.5] * DIM}]), 'strconv.ParseInt: parsing "1.5": invalid syntax', "rows.json", "id"),
    Bad("json-int32-overflow", "rich", lambda d: rich_json(d / "rows.json", i32=2**40), 'parsing "1099511627776": value out of range', "rows.json", "i32"),
    Bad("json-null-in-int", "rich", lambda d: rich_json(d / "rows.json", i32=None), "illegal value '<nil>' for int32 type field 'i32'", "rows.json", "i32"),
    Bad("json-number-for-bool", "rich", lambda d: rich_json(d / "rows.json", b=1), "illegal value '1' for bool type field 'b'", "rows.json", "b"),
    Bad("json-list-for-json-field", "rich", lambda d: rich_json(d / "rows.json", j=[1, 2]), "illegal value '[1 2]' for JSON type field 'j'", "rows.json", "j"),
    Bad("json-number-for-json-field", "rich", lambda d: rich_json(d / "rows.json", j=3), "illegal value '3' for JSON type field 'j'", "rows.json", "j"),
    Bad("json-root-key", "plain", lambda d: json_file(d / "rows.json", {"data": plain_rows(2)}), "invalid JSON format, the root key should be 'rows', but get 'data'", "rows.json", None),
    Bad("json-empty-file", "plain", lambda d: [str(_touch(d / "rows.json"))], "rows.json' size is zero", "rows.json", None),
    # Parquet
    Bad("parquet-missing-column", "plain", lambda d: parquet(d / "t.parquet", id=pa.array([1, 2], pa.int64())), "there is no field in parquet file of name: vec", "t.parquet", "vec"),
    Bad("parquet-string-for-int", "plain", lambda d: parquet(d / "t.parquet", id=pa.array(["1", "2"]), vec=vec_array(2)), "collection field dataType: Int64, file field dataType:utf8", "t.parquet", "id"),
    Bad("parquet-extra-column", "plain", lambda d: parquet(d / "t.parquet", id=pa.array([1, 2], pa.int64()), vec=vec_array(2), tag=pa.array(["a", "b"])), "the field: tag is not in schema", "t.parquet", "tag"),
    Bad("parquet-auto-id-column", "auto", lambda d: parquet(d / "t.parquet", id=pa.array([1, 2], pa.int64()), vec=vec_array(2)), "the field: id is primary key, and autoID is true, please remove it from file", "t.parquet", "id"),
    Bad("parquet-large-string", "rich", lambda d: rich_parquet(d / "t.parquet", s=pa.array(["x"], pa.large_string())), "collection field dataType: VarChar, file field dataType:large_utf8", "t.parquet", "s"),
    Bad("parquet-float64-for-float", "rich", lambda d: rich_parquet(d / "t.parquet", f=pa.array([0.5], pa.float64())), "collection field dataType: Float, file field dataType:float64", "t.parquet", "f"),
    Bad("parquet-int-list-vector", "plain", lambda d: parquet(d / "t.parquet", id=pa.array([1], pa.int64()), vec=pa.array([[1] * DIM], pa.list_(pa.int32()))), "collection field dataType: FloatVector, file field dataType:list", "t.parquet", "vec"),
    Bad("parquet-string-list-vector", "plain", lambda d: parquet(d / "t.parquet", id=pa.array([1], pa.int64()), vec=pa.array([["a"] * DIM])), "collection field dataType: FloatVector, file field dataType:list", "t.parquet", "vec"),
    Bad("parquet-fixed-size-list", "plain", lambda d: parquet(d / "t.parquet", id=pa.array([1], pa.int64()), vec=pa.array([[0.5] * DIM], pa.list_(pa.float32(), DIM))), "collection field dataType: FloatVector, file field dataType:fixed_size_list", "t.parquet", "vec"),
    Bad("parquet-empty-file", "plain", lambda d: [str(_touch(d / "t.parquet"))], "t.parquet' size is zero", "t.parquet", None),
    Bad("parquet-short-vector-row", "plain", lambda d: parquet(d / "t.parquet", id=pa.array([1, 2], pa.int64()), vec=pa.array([[0.5] * DIM, [0.5] * 3], pa.list_(pa.float32()))), "float vector is irregular", "t.parquet", "vec", full=True),
]  # fmt: skip


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _server_reason(uri: str, option: pi.BulkImportOption) -> str:
    """Import without the client's checks and return the reason the real job failed with."""
    response = pi.bulk_import(option, timeout=60, preflight=False)
    try:
        final = pi.wait_for_import(uri, response, timeout=120)
    except pi.ImportFailedError as failed:
        return failed.reason
    raise AssertionError(f"the server accepted the bad files: {[(p.state, p.imported_rows) for p in final]}")


@pytest.mark.parametrize("case", BAD, ids=[case.name for case in BAD])
def test_a_bad_file_fails_on_the_server_and_is_refused_before_any_job(
    milvus: MilvusServer, collections: dict[str, str], import_dir: Path, case: Bad
) -> None:
    files = case.write(import_dir / case.name)
    option = pi.new_bulk_import_option(milvus.uri, collections[case.collection], [files])

    reason = _server_reason(milvus.uri, option)
    assert case.server_reason in reason

    before = len(pi.list_import_jobs(milvus.uri, timeout=30))
    with pytest.raises(FileMismatchError) as info:
        pi.bulk_import(option, timeout=30, validate="full" if case.full else None)
    assert len(pi.list_import_jobs(milvus.uri, timeout=30)) == before  # no new job
    named = [(os.path.basename(p.file), p.field) for p in info.value.problems]
    assert (case.file, case.field) in named, info.value.problems
    assert case.file in str(info.value)


# --- the good corpus ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Good:
    name: str
    collection: str
    write: Callable[[Path], list[str]]
    rows: int


GOOD = [
    Good("json-list-root", "plain", lambda d: json_file(d / "rows.json", plain_rows(7)), 7),
    Good("json-rows-root", "plain", lambda d: json_file(d / "rows.json", {"rows": plain_rows(6)}), 6),
    Good("json-rich-unicode", "rich", lambda d: json_file(d / "données é" / "lignes.json", rich_rows(5)), 5),
    Good(
        "json-json-field-as-string",
        "rich",
        lambda d: json_file(d / "rows.json", [{**r, "j": json.dumps(r["j"])} for r in rich_rows(3)]),
        3,
    ),
    Good(
        "npy-float64-vectors",
        "plain",
        lambda d: npy(d, id=np.arange(9), vec=np.asarray(_vectors(9), dtype=np.float64)),
        9,
    ),
    Good(
        "npy-rich",
        "rich",
        lambda d: npy(
            d / "ünï",
            id=np.arange(4),
            b=np.array([True, False, True, False]),
            i32=np.arange(4, dtype=np.int32),
            f=np.zeros(4, np.float32),
            d=np.zeros(4, np.float64),
            s=np.array(["é", "中文", "a", "b"]),
            j=np.array(['{"a": 1}'] * 4),
            vec=np.asarray(_vectors(4), dtype=np.float32),
        ),
        4,
    ),
    Good("npy-auto-id-without-key", "auto", lambda d: npy(d, vec=np.asarray(_vectors(3), np.float32)), 3),
    Good("json-auto-id-without-key", "auto", lambda d: json_file(d / "r.json", [{"vec": v} for v in _vectors(4)]), 4),
    Good(
        "parquet-plain",
        "plain",
        lambda d: parquet(d / "t.parquet", id=pa.array(range(5), pa.int64()), vec=vec_array(5)),
        5,
    ),
    Good(
        "parquet-float64-vectors",
        "plain",
        lambda d: parquet(d / "t.parquet", id=pa.array(range(3), pa.int64()), vec=vec_array(3, pa.float64())),
        3,
    ),
    Good(
        "parquet-int32-widened-to-int64",
        "plain",
        lambda d: parquet(d / "t.parquet", id=pa.array([1, 2], pa.int32()), vec=vec_array(2)),
        2,
    ),
    Good(
        "parquet-int8-widened-to-int32",
        "rich",
        lambda d: rich_parquet(d / "t.parquet", i32=pa.array([1], pa.int8())),
        1,
    ),
    Good(
        "parquet-float32-widened-to-double",
        "rich",
        lambda d: rich_parquet(d / "t.parquet", d=pa.array([0.5], pa.float32())),
        1,
    ),
    Good(
        "parquet-null-in-key-not-checked-on-2.3",
        "plain",
        lambda d: parquet(d / "t.parquet", id=pa.array([1, None], pa.int64()), vec=vec_array(2)),
        2,
    ),
    Good("npy-bytes-strings", "rich", lambda d: rich_npy(d, n=2, s=np.array([b"ab", b"c"])), 2),
    Good(
        "npy-varchar-over-max-length-not-checked-on-2.3",
        "rich",
        lambda d: rich_npy(d, n=2, s=np.array(["a" * 20, "c"])),
        2,
    ),
    Good("npy-big-endian", "plain", lambda d: npy(d, id=np.arange(3).astype(">i8"), vec=np.zeros((3, DIM), ">f4")), 3),
    Good("json-varchar-over-max-length-not-checked-on-2.3", "rich", lambda d: rich_json(d / "r.json", s="a" * 20), 1),
    Good("json-integers-for-floats", "rich", lambda d: rich_json(d / "r.json", f=1, d=2, vec=[1] * DIM), 1),
    Good("json-empty-list", "plain", lambda d: json_file(d / "r.json", []), 0),
    Good(
        "parquet-rich",
        "rich",
        lambda d: parquet(
            d / "t.parquet",
            id=pa.array([1, 2], pa.int64()),
            b=pa.array([True, False]),
            i32=pa.array([1, 2], pa.int32()),
            f=pa.array([0.5, 1.5], pa.float32()),
            d=pa.array([0.5, 2.5], pa.float64()),
            s=pa.array(["é", "中"]),
            j=pa.array(['{"a": 1}', "{}"]),
            vec=vec_array(2),
        ),
        2,
    ),
]


@pytest.mark.parametrize("case", GOOD, ids=[case.name for case in GOOD])
def test_files_the_server_accepts_pass_every_check_and_import(
    milvus: MilvusServer, collections: dict[str, str], import_dir: Path, case: Good
) -> None:
    files = case.write(import_dir / case.name)
    name = collections[case.collection]
    option = pi.new_bulk_import_option(milvus.uri, name, [files])
    with pi.ImportClient(milvus.uri) as client:
        report = client.check_files(option, full=True, timeout=30)
        assert report.ok, report.problems
        assert [v.status for v in report.verdicts] == ["ok"] * len(files)
    before = helpers.count_rows(milvus.uri, name)
    response = pi.bulk_import(option, timeout=30, validate="full")
    final = pi.wait_for_import(milvus.uri, response, timeout=120)
    assert sum(p.imported_rows for p in final) == case.rows
    assert helpers.count_rows(milvus.uri, name) == before + case.rows


def test_a_fortran_ordered_vector_file_is_imported_wrongly_by_the_server_and_refused_by_the_check(
    milvus: MilvusServer, collections: dict[str, str], import_dir: Path
) -> None:
    """The server never reads ``fortran_order``: it takes the bytes in C order, so the vectors it stores are not
    the array's rows. That silent corruption is why the check refuses such a file."""
    import time

    vectors = np.asfortranarray(np.arange(3 * DIM, dtype=np.float32).reshape(3, DIM))
    files = npy(import_dir / "fortran", id=np.arange(100, 103), vec=vectors)
    name = collections["plain"]
    option = pi.new_bulk_import_option(milvus.uri, name, [files])

    with pytest.raises(FileMismatchError) as info:
        pi.bulk_import(option, timeout=30)
    assert [(os.path.basename(p.file), p.field) for p in info.value.problems] == [("vec.npy", "vec")]
    assert "Fortran order" in info.value.problems[0].message

    final = pi.wait_for_import(milvus.uri, pi.bulk_import(option, timeout=30, validate="off"), timeout=120)
    assert sum(p.imported_rows for p in final) == 3  # accepted...
    with helpers.milvus_client(milvus.uri) as client:
        client.load_collection(name)
        deadline = time.monotonic() + 60
        while True:  # imported segments reach the query node a little after ImportCompleted
            got = client.query(name, filter="id >= 100 and id <= 102", output_fields=["vec"])
            if len(got) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        client.release_collection(name)
    stored = np.array([row["vec"] for row in sorted(got, key=lambda row: row["id"])], dtype=np.float32)
    # ...but stored as the raw bytes read in C order, not as the array's rows.
    assert stored.tolist() == np.frombuffer(vectors.tobytes(order="F"), np.float32).reshape(3, DIM).tolist()
    assert stored.tolist() != vectors.tolist()
