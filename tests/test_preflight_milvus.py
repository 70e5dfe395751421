"""The preflight against the real embedded Milvus 2.3.5: each verdict comes back in milliseconds, names the value,
and no import job is created; a correct request passes and its import still completes with its rows.

Measured here (see the report in issue 10): DescribeCollection answers in ~1-5 ms; an unknown collection answers
code 100 "can't find collection collection not found[database=default][collection=...]" at once, where the Import
RPC itself takes 12-53 s (it retries internally).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import helpers
import pytest
from milvus_server import MilvusServer

import pymilvus_import as pi
from pymilvus_import import CollectionNotFoundError, PartitionNotFoundError, SchemaMismatchError

pytestmark = pytest.mark.milvus


@pytest.fixture
def channel(milvus: MilvusServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(milvus.address) as ch:
        yield ch


def check(channel: grpc.Channel, milvus: MilvusServer, opt: pi.BulkImportOption) -> Any:
    """What a user sees: ``bulk_import`` with its default preflight (a tight deadline: a verdict comes back in
    milliseconds), here as a dry run so that a request that passes sends nothing either."""
    return pi.bulk_import(opt, timeout=5, dry_run=True)


def job_count(uri: str) -> int:
    """How many import jobs the server lists (2.3 lists real ids: a new job would show)."""
    return len(pi.list_import_jobs(uri, timeout=30))


@pytest.fixture
def partition_key_collection(milvus: MilvusServer) -> Iterator[str]:
    from pymilvus import DataType

    name = f"pk_{uuid.uuid4().hex[:10]}"
    with helpers.milvus_client(milvus.uri) as client:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("tenant", DataType.VARCHAR, max_length=32, is_partition_key=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
        client.create_collection(name, schema=schema, num_partitions=4)
    yield name
    helpers.drop_collection(milvus.uri, name)


def test_verdicts_name_the_value_and_create_no_job(
    milvus: MilvusServer, channel: grpc.Channel, collection: str, partition_key_collection: str, import_dir: Path
) -> None:
    group = helpers.write_npy_group(import_dir, 10)
    before = job_count(milvus.uri)

    with pytest.raises(CollectionNotFoundError, match="'nope_preflight'"):
        check(channel, milvus, pi.new_bulk_import_option(milvus.uri, "nope_preflight", [group]))

    with pytest.raises(PartitionNotFoundError, match="'zz'") as info:
        check(channel, milvus, pi.new_bulk_import_option(milvus.uri, collection, [group]).with_partition("zz"))
    assert info.value.collection_name == collection

    on_key = pi.new_bulk_import_option(milvus.uri, partition_key_collection, [group]).with_partition("_default_0")
    with pytest.raises(SchemaMismatchError, match="partition key field 'tenant'"):
        check(channel, milvus, on_key)

    with pytest.raises(SchemaMismatchError, match="no file for field 'vec'"):
        check(channel, milvus, pi.new_bulk_import_option(milvus.uri, collection, [group[:1]]))

    extra = str(import_dir / "vector.npy")
    Path(extra).write_bytes(Path(group[1]).read_bytes())
    with pytest.raises(SchemaMismatchError, match="names no field") as extra_info:
        check(channel, milvus, pi.new_bulk_import_option(milvus.uri, collection, [[*group, extra]]))
    assert extra_info.value.file == extra

    with pytest.raises(pi.CollectionNotFoundError, match="'nodb'"):
        check(channel, milvus, pi.new_bulk_import_option(milvus.uri, collection, [group]).with_database("nodb"))

    # Not a dry run: the same verdicts stop a real bulk_import before its Import.
    with pytest.raises(PartitionNotFoundError, match="'zz'"):
        pi.bulk_import(pi.new_bulk_import_option(milvus.uri, collection, [group]).with_partition("zz"), timeout=5)

    assert job_count(milvus.uri) == before


@pytest.mark.parametrize("name", ["my-books", "1abc", "bücher", "n" * 300])
def test_the_server_refuses_an_invalid_collection_name_on_describe_collection_at_once(
    milvus: MilvusServer, channel: grpc.Channel, name: str
) -> None:
    """What the InvalidCollectionNameError verdict stands on: 2.3.5 answers DescribeCollection code 1100 (~1 ms)."""
    from pymilvus_import._generated import milvus_pb2
    from tools import milvus_pb2_grpc

    started = time.monotonic()
    reply = milvus_pb2_grpc.MilvusServiceStub(channel).DescribeCollection(
        milvus_pb2.DescribeCollectionRequest(collection_name=name), timeout=5
    )
    assert time.monotonic() - started < 1
    assert reply.status.code == 1100, reply.status
    assert "Invalid collection name" in reply.status.reason


def test_a_collection_name_the_server_refuses_is_refused_before_any_import(
    milvus: MilvusServer, import_dir: Path
) -> None:
    group = helpers.write_npy_group(import_dir, 10)
    before = job_count(milvus.uri)
    name = "n" * 300  # past the server's (configurable) length limit: no client-side rule refuses it
    started = time.monotonic()
    with pytest.raises(pi.InvalidCollectionNameError) as info:
        pi.bulk_import(pi.new_bulk_import_option(milvus.uri, name, [group]), timeout=90)
    assert time.monotonic() - started < 5  # not the ~52 s the Import takes to fail
    assert info.value.value == name and info.value.field == "collection_name"
    assert isinstance(info.value, pi.InvalidInputError)
    assert job_count(milvus.uri) == before


def test_a_correct_request_passes_and_imports(
    milvus: MilvusServer, channel: grpc.Channel, collection: str, import_dir: Path
) -> None:
    helpers.create_collection(milvus.uri, collection + "_p", partitions=("p1",))
    try:
        group = helpers.write_npy_group(import_dir / "g", 25)
        rows = helpers.write_json_rows(import_dir / "rows.json", 15, start_id=100)
        opt = pi.new_bulk_import_option(milvus.uri, collection + "_p", [group, [rows]]).with_partition("p1")
        plan = check(channel, milvus, opt)
        assert isinstance(plan, pi.ImportPlan) and plan.schema_checked
        assert [r.files for r in plan.requests] == [tuple(group), (rows,)]
        assert all(r.partition_name == "p1" and r.collection_name == collection + "_p" for r in plan.requests)
        with pi.ImportClient(milvus.uri) as client:
            response = client.bulk_import(opt)  # the preflight is on by default
            final = client.wait_for_import(response, timeout=180)
        assert all(p.state == "Completed" for p in final)
        assert helpers.count_rows(milvus.uri, collection + "_p", partition="p1") == 40
    finally:
        helpers.drop_collection(milvus.uri, collection + "_p")
