"""``bulk_import`` against the real embedded Milvus 2.3.5 started with ``--authorization-enabled true``.

The server is (re)started by the session harness with the auth flag; every setup call authenticates as the default
``root:Milvus`` account. Right credentials in each form a user can give them import rows; wrong and missing ones
raise :class:`pymilvus_import.AuthenticationError`.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import helpers
import pytest
from milvus_server import MilvusHarness, MilvusServer

import pymilvus_import as pi
from pymilvus_import._generated import milvus_pb2
from tools import milvus_pb2_grpc

pytestmark = [pytest.mark.milvus, pytest.mark.milvus_restart]  # restarts the one server with auth on

AUTH_ARGS = ("--authorization-enabled", "true")
ROOT = "root:Milvus"
ROOT_METADATA = (("authorization", base64.b64encode(ROOT.encode()).decode()),)


def authenticated_ready(address: str) -> bool:
    """The harness's readiness check, with credentials (the server may refuse anonymous calls)."""
    channel = grpc.insecure_channel(address)
    try:
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        reply = stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=2, metadata=ROOT_METADATA)
        return reply.status.code == 0 and reply.status.error_code == 0 and bool(reply.version)
    except grpc.RpcError:
        return False
    finally:
        channel.close()


@pytest.fixture(scope="module")
def auth_milvus(milvus_harness: MilvusHarness) -> MilvusServer:
    return milvus_harness.get(AUTH_ARGS, ready_check=authenticated_ready)


@pytest.fixture(scope="module")
def auth_collection(auth_milvus: MilvusServer) -> Iterator[str]:
    from pymilvus import DataType, MilvusClient

    name = f"auth_{uuid.uuid4().hex[:12]}"
    client = MilvusClient(uri=auth_milvus.uri, token=ROOT)
    try:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
        index_params = client.prepare_index_params()
        index_params.add_index("vec", index_type="FLAT", metric_type="L2")
        client.create_collection(name, schema=schema, index_params=index_params)
        yield name
        client.drop_collection(name)
    finally:
        client.close()


@pytest.fixture
def auth_import_dir(auth_milvus: MilvusServer) -> Path:
    path = auth_milvus.data_dir / "imports" / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    return path


def wait_completed(address: str, task_id: str, timeout: float = 120) -> int:
    """Poll GetImportState with the raw stub (authenticated) until the task is final; return its row count."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        while True:
            reply = stub.GetImportState(
                milvus_pb2.GetImportStateRequest(task=int(task_id)), timeout=10, metadata=ROOT_METADATA
            )
            assert reply.status.code == 0 and reply.status.error_code == 0, reply.status
            name = helpers.state_name(reply.state)
            if name in helpers.FINAL_STATES:
                assert name == "ImportCompleted", reply
                return int(reply.row_count)
            assert time.monotonic() < deadline, f"task {task_id} still {name}"
            time.sleep(0.2)


def count_rows(uri: str, collection: str) -> int:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, token=ROOT)
    try:
        client.flush(collection)
        return int(client.get_collection_stats(collection)["row_count"])
    finally:
        client.close()


def test_anonymous_calls_are_refused(auth_milvus: MilvusServer) -> None:
    """The harness really runs with authorization (a raw anonymous Import is refused at the gRPC level)."""
    with grpc.insecure_channel(auth_milvus.address) as channel:
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Import(milvus_pb2.ImportRequest(collection_name="x", files=["/nope.json"]), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("how", ["token", "user-password", "uri-credentials", "option-api-key"])
def test_right_credentials_import_rows(
    auth_milvus: MilvusServer, auth_collection: str, auth_import_dir: Path, how: str
) -> None:
    start = {"token": 0, "user-password": 1000, "uri-credentials": 2000, "option-api-key": 3000}[how]
    files = [[helpers.write_json_rows(auth_import_dir / "rows.json", 50, start_id=start)]]
    option = pi.new_bulk_import_option("", auth_collection, files)
    if how == "token":
        client = pi.ImportClient(auth_milvus.uri, token=ROOT)
    elif how == "user-password":
        client = pi.ImportClient(auth_milvus.uri, user="root", password="Milvus")
    elif how == "uri-credentials":
        client = pi.ImportClient(f"http://root:Milvus@{auth_milvus.address}")
    else:
        client = pi.ImportClient(auth_milvus.uri)
        option = option.with_api_key(ROOT)
    before = count_rows(auth_milvus.uri, auth_collection)
    with client:
        response = client.bulk_import(option, timeout=30)
    assert len(response.job_ids) == 1
    assert wait_completed(auth_milvus.address, response.job_id) == 50
    assert count_rows(auth_milvus.uri, auth_collection) == before + 50


@pytest.mark.parametrize(
    ("kwargs", "details"),
    [
        ({"user": "root", "password": "wrong-password"}, "auth check failure"),
        ({"token": "root:wrong-password"}, "auth check failure"),
        ({"user": "nobody", "password": "Milvus"}, "auth check failure"),
        ({}, "missing authorization in header"),
    ],
    ids=["wrong-password", "wrong-token", "unknown-user", "missing"],
)
def test_wrong_or_missing_credentials_raise_authentication_error(
    auth_milvus: MilvusServer,
    auth_collection: str,
    auth_import_dir: Path,
    kwargs: dict[str, str],
    details: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    files = [[helpers.write_json_rows(auth_import_dir / "rows.json", 5, start_id=90_000)]]
    with pi.ImportClient(auth_milvus.uri, **kwargs) as client, pytest.raises(pi.AuthenticationError) as err:
        client.bulk_import(pi.new_bulk_import_option("", auth_collection, files), timeout=30)
    error = err.value
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert details in error.details
    assert error.target == auth_milvus.uri
    assert isinstance(error.__cause__, grpc.RpcError)
    assert error.created_job_ids == ()
    if "password" in kwargs:
        assert kwargs["password"] not in str(error)
