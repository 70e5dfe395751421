"""The preflight flow against the 2.4+ test server (tests/fake_milvus.py): the verdicts, the requests it sends, and
a server that will not describe collections (PERMISSION_DENIED: no verdict, the Import goes ahead)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fake_milvus import Milvus24TestServer, field
from helpers import run_flow

import pymilvus_import as pi
from pymilvus_import._core import CallOptions, Deadline, Identity, Session
from pymilvus_import._errors import (
    CollectionNotFoundError,
    DatabaseNotFoundError,
    PartitionNotFoundError,
    SchemaMismatchError,
    UnsupportedByServerError,
)
from pymilvus_import._preflight import SchemaCache, preflight_flow


@pytest.fixture
def server() -> Iterator[Milvus24TestServer]:
    with Milvus24TestServer(version="v2.4.10") as srv:
        srv.add_collection("books", partitions=("_default", "p1"))
        srv.add_collection("tenants", partition_key=True)
        srv.add_collection(
            "auto",
            fields=[field("pk", primary=True, auto_id=True), field("vec", "FloatVector")],
            enable_dynamic_field=True,
        )
        srv.add_collection("films", db_name="shop")
        yield srv


@pytest.fixture
def channel(server: Milvus24TestServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as ch:
        yield ch


def check(
    channel: grpc.Channel,
    server: Milvus24TestServer,
    opt: pi.BulkImportOption,
    *,
    cache: SchemaCache | None = None,
    identity: Identity | None = None,
    version: str | None = None,
) -> Any:
    call = CallOptions(timeout=10.0)
    flow = preflight_flow(
        Session(server.uri), identity or Identity(), opt, call, Deadline(call.timeout), cache, version=version
    )
    return run_flow(channel, flow)


def option(server: Milvus24TestServer, collection: str, files: list[list[str]]) -> pi.BulkImportOption:
    return pi.new_bulk_import_option(server.uri, collection, files)


def npy(*stems: str) -> list[str]:
    return [f"/data/g/{s}.npy" for s in stems]


def test_a_correct_request_passes(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    schema = check(channel, server, option(server, "books", [npy("id", "vec"), ["/d/a.json"]]).with_partition("p1"))
    assert [f.name for f in schema.fields] == ["id", "vec"]
    assert [c.method for c in server.requests] == ["DescribeCollection", "HasPartition"]
    assert server.import_count() == 0


def test_unknown_collection(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    with pytest.raises(CollectionNotFoundError, match="'nope'") as info:
        check(channel, server, option(server, "nope", [["/d/a.json"]]))
    assert not isinstance(info.value, DatabaseNotFoundError)


def test_unknown_database(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    with pytest.raises(DatabaseNotFoundError, match="database 'attic'"):
        check(channel, server, option(server, "books", [["/d/a.json"]]).with_database("attic"))


def test_database_from_the_identity_is_used(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    check(channel, server, option(server, "films", [["/d/a.json"]]), identity=Identity(db_name="shop"))
    (call,) = server.requests
    assert call.request.db_name == "shop" and call.metadata["dbname"] == "shop"


def test_unknown_partition(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    with pytest.raises(PartitionNotFoundError, match="'zz'"):
        check(channel, server, option(server, "books", [["/d/a.json"]]).with_partition("zz"))


def test_partition_name_on_partition_key_collection(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    with pytest.raises(SchemaMismatchError, match="partition key field 'tenant'"):
        check(channel, server, option(server, "tenants", [["/d/a.json"]]).with_partition("_default"))


def test_numpy_group_missing_a_field(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    with pytest.raises(SchemaMismatchError, match="no file for field 'tenant'"):
        check(channel, server, option(server, "tenants", [npy("id", "vec")]))


def test_numpy_group_with_a_misspelt_file(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    with pytest.raises(SchemaMismatchError, match=r"did you mean 'vec\.npy'") as info:
        check(channel, server, option(server, "books", [npy("id", "vce")]))
    assert info.value.file == "/data/g/vce.npy"


def test_auto_id_key_and_meta(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    check(channel, server, option(server, "auto", [npy("vec", "$meta")]))
    with pytest.raises(SchemaMismatchError, match="auto-id primary key"):
        check(channel, server, option(server, "auto", [npy("pk", "vec")]))


def test_csv_on_a_2_4_server(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    with pytest.raises(UnsupportedByServerError, match="CSV"):
        check(channel, server, option(server, "books", [["/d/a.csv"]]), version=server.version)
    assert server.requests == []


def test_permission_denied_gives_no_verdict(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    """Decision: a user who may import but not describe gets no preflight verdict, and the Import goes ahead."""
    server.deny_preflight = True
    assert check(channel, server, option(server, "nope", [npy("id")])) is None
    assert check(channel, server, option(server, "books", [["/d/a.json"]]).with_partition("zz")) is None
    assert [c.method for c in server.requests] == ["DescribeCollection", "DescribeCollection"]


def test_unauthenticated_is_raised() -> None:
    with Milvus24TestServer(require_token="root:Milvus") as srv:
        srv.add_collection("books")
        with grpc.insecure_channel(srv.address) as ch:
            with pytest.raises(pi.AuthenticationError):
                check(ch, srv, option(srv, "books", [["/d/a.json"]]))
            token = base64.b64encode(b"root:Milvus").decode()
            assert check(ch, srv, option(srv, "books", [["/d/a.json"]]), identity=Identity(token)) is not None


def test_cache_pays_one_describe_for_a_loop(server: Milvus24TestServer, channel: grpc.Channel) -> None:
    cache = SchemaCache()
    for _ in range(5):
        check(channel, server, option(server, "books", [npy("id", "vec")]).with_partition("p1"), cache=cache)
    assert [c.method for c in server.requests] == ["DescribeCollection", "HasPartition"]
