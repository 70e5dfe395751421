"""``bulk_import`` against the real embedded Milvus 2.3.5 (``milvus-server`` from the ``milvus`` wheel).

Job ids returned by the library are followed with the raw generated stub (``helpers.wait_import_raw``) and the rows
are counted on the server with pymilvus, so these tests depend on the library only for the import itself.

Milvus 2.3 answers one task per ``.json``/``.parquet`` file and one task for all ``.npy`` files of a request, so one
group here is one task, like one job on 2.4+.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import helpers
import pytest
from milvus_server import MilvusServer

import pymilvus_import as pi
from pymilvus_import._generated import milvus_pb2
from tools import milvus_pb2_grpc

pytestmark = pytest.mark.milvus


def _name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def partitioned(milvus: MilvusServer) -> Iterator[str]:
    name = helpers.create_collection(milvus.uri, _name(), partitions=("p1",))
    yield name
    helpers.drop_collection(milvus.uri, name)


def _completed(milvus: MilvusServer, job_ids: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Wait for every job; return (row_count, infos) of each, asserting it completed."""
    done = []
    for job_id in job_ids:
        state, rows, infos = helpers.wait_import_raw(milvus.address, int(job_id), timeout=120)
        assert state == "ImportCompleted", (job_id, infos)
        done.append((rows, infos))
    return done


def test_json_and_numpy_groups_in_one_call_into_a_partition(
    milvus: MilvusServer, partitioned: str, import_dir: Path
) -> None:
    json_file = helpers.write_json_rows(import_dir / "rows.json", 300, start_id=0)
    npy_files = helpers.write_npy_group(import_dir / "npy", 200, start_id=10_000)
    option = pi.new_bulk_import_option(milvus.uri, partitioned, [[json_file], npy_files]).with_partition("p1")

    response = pi.bulk_import(option, timeout=30)

    assert (response.status, response.message) == (0, "")
    assert len(response.job_ids) == 2  # one per group
    assert response.job_id == response.job_ids[0]
    assert all(job_id.isdigit() and int(job_id) > 0 for job_id in response.job_ids)
    (json_rows, json_infos), (npy_rows, npy_infos) = _completed(milvus, response.job_ids)
    assert (json_rows, npy_rows) == (300, 200)
    assert json_infos["partition"] == npy_infos["partition"] == "p1"
    assert json_infos["collection"] == partitioned
    assert helpers.count_rows(milvus.uri, partitioned, partition="p1") == 500
    assert helpers.count_rows(milvus.uri, partitioned, partition="_default") == 0


@pytest.mark.parametrize("how", ["with_database", "uri_path"])
def test_import_into_a_non_default_database(milvus: MilvusServer, import_dir: Path, how: str) -> None:
    db = _name("db")
    name = helpers.create_collection(milvus.uri, _name(), db_name=db)
    try:
        files = [[helpers.write_json_rows(import_dir / "rows.json", 120)]]
        if how == "with_database":
            with pi.ImportClient(milvus.uri) as client:
                response = client.bulk_import(pi.new_bulk_import_option("", name, files).with_database(db), timeout=30)
        else:
            response = pi.bulk_import(pi.new_bulk_import_option(f"{milvus.uri}/{db}", name, files), timeout=30)
        ((rows, infos),) = _completed(milvus, response.job_ids)
        assert rows == 120
        assert infos["collection"] == name
        assert helpers.count_rows(milvus.uri, name, db_name=db) == 120
    finally:
        helpers.drop_collection(milvus.uri, name, db_name=db)
        with helpers.milvus_client(milvus.uri) as client:
            client.drop_database(db)


def test_unknown_partition_is_a_bulk_import_error(milvus: MilvusServer, partitioned: str, import_dir: Path) -> None:
    files = [[helpers.write_json_rows(import_dir / "rows.json", 10)]]
    with pi.ImportClient(milvus.uri) as client, pytest.raises(pi.BulkImportError) as err:
        # preflight=False: the server's own answer (with the preflight, PartitionNotFoundError comes first)
        client.bulk_import(
            pi.new_bulk_import_option("", partitioned, files).with_partition("zz"), timeout=30, preflight=False
        )
    assert err.value.status == 200
    assert err.value.server_message == "partition not found[partition=zz]"
    assert "partition not found[partition=zz]" in str(err.value)
    assert err.value.created_job_ids == ()
    assert err.value.group_index == 0
    assert err.value.response.status == 200


def test_two_json_files_in_one_request_server_rule_matches_our_preflight(
    milvus: MilvusServer, collection: str, import_dir: Path
) -> None:
    """The server's own rule (raw stub) and our preflight refuse the same input; ours sends nothing."""
    a = helpers.write_json_rows(import_dir / "a.json", 5, start_id=0)
    b = helpers.write_json_rows(import_dir / "b.json", 5, start_id=5)
    with grpc.insecure_channel(milvus.address) as channel:
        raw = milvus_pb2_grpc.MilvusServiceStub(channel).Import(
            milvus_pb2.ImportRequest(collection_name=collection, files=[a, b]), timeout=30
        )
    assert raw.status.code == 65535
    assert "for JSON or parquet file, each task only accepts one file" in raw.status.reason
    with pytest.raises(pi.InvalidInputError) as err:
        pi.bulk_import(pi.new_bulk_import_option(milvus.uri, collection, [[a, b]]), timeout=30)
    assert repr(b) in str(err.value)


def test_idempotency_key_is_ignored_by_2_3(milvus: MilvusServer, collection: str, import_dir: Path) -> None:
    """Milvus 2.3 does not know field 9: the same key twice gives two tasks (why Import is never retried there)."""
    missing = str(import_dir / "missing.json")  # accepted; the task fails later, so no rows are imported
    option = pi.new_bulk_import_option(milvus.uri, collection, [[missing]]).with_idempotency_key("same-key")
    first = pi.bulk_import(option, timeout=30)
    second = pi.bulk_import(option, timeout=30)
    assert first.job_id != second.job_id
    for job_id in (first.job_id, second.job_id):
        state, _rows, _infos = helpers.wait_import_raw(milvus.address, int(job_id), timeout=60)
        assert state in ("ImportFailed", "ImportFailedAndCleaned")


def test_unknown_collection_is_refused_by_the_preflight_and_by_the_server(
    milvus: MilvusServer, import_dir: Path
) -> None:
    """The preflight names the collection at once; without it, Milvus 2.3.5 retries internally for 12-53 s before
    its own answer (65535), which a tight deadline brings forward (measured: the facts file, section 9)."""
    files = [[helpers.write_json_rows(import_dir / "rows.json", 5)]]
    name = "nope_" + uuid.uuid4().hex[:8]
    with pytest.raises(pi.CollectionNotFoundError) as refused:
        pi.bulk_import(pi.new_bulk_import_option(milvus.uri, name, files), timeout=90)
    assert refused.value.collection_name == name and repr(name) in str(refused.value)
    # measured: the server gives up its retries at ~60 % of the caller's deadline (3.0 s of 5 s) and answers
    with pytest.raises(pi.BulkImportError) as err:
        pi.bulk_import(pi.new_bulk_import_option(milvus.uri, name, files), timeout=5, preflight=False)
    assert err.value.status == 65535
    assert "collection not found" in err.value.server_message
    assert err.value.created_job_ids == ()
