"""The Milvus 2.4+ TEST server follows the documented facts (milvus-import-facts.md, sections 1, 3, 4).

Everything here talks to the test server through the generated stub over a plain insecure channel, as a client would.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from fake_milvus import JOB_ID_BASE, Fault, Milvus24TestServer, Step, failed_script, stuck_at_80

from pymilvus_import._generated import common_pb2, milvus_pb2
from tools import milvus_pb2_grpc

S = common_pb2
FOUR_STATES = {S.ImportPending, S.ImportStarted, S.ImportCompleted, S.ImportFailed}


pytestmark = pytest.mark.test_server(
    collections=(
        {"name": "coll", "partitions": ("_default", "p1")},
        {"name": "pk_coll", "partition_key": True},
        {"name": "other", "db_name": "db2"},
    )
)


def connect(srv: Milvus24TestServer) -> tuple[grpc.Channel, milvus_pb2_grpc.MilvusServiceStub]:
    channel = grpc.insecure_channel(srv.address)
    return channel, milvus_pb2_grpc.MilvusServiceStub(channel)


@pytest.fixture
def stub(server: Milvus24TestServer) -> Iterator[milvus_pb2_grpc.MilvusServiceStub]:
    channel, stub = connect(server)
    with channel:
        yield stub


def imp(stub: milvus_pb2_grpc.MilvusServiceStub, files: list[str], **fields: object) -> milvus_pb2.ImportResponse:
    fields.setdefault("collection_name", "coll")
    return stub.Import(milvus_pb2.ImportRequest(files=files, **fields), timeout=5)


def job(stub: milvus_pb2_grpc.MilvusServiceStub, files: list[str] | None = None, **fields: object) -> int:
    reply = imp(stub, files or ["rows.json"], **fields)
    assert reply.status.code == 0, reply.status
    (job_id,) = reply.tasks
    return job_id


def poll(stub: milvus_pb2_grpc.MilvusServiceStub, job_id: int) -> milvus_pb2.GetImportStateResponse:
    return stub.GetImportState(milvus_pb2.GetImportStateRequest(task=job_id), timeout=5)


def infos(reply: milvus_pb2.GetImportStateResponse) -> dict[str, str]:
    return {kv.key: kv.value for kv in reply.infos}


# ------------------------------------------------------------------------------------------------- basics
def test_address_uri_version_and_stop() -> None:
    srv = Milvus24TestServer(version="v2.5.4").start()
    try:
        assert srv.address.startswith("127.0.0.1:") and int(srv.address.rsplit(":", 1)[1]) > 0
        assert srv.uri == f"http://{srv.address}"
        channel, stub = connect(srv)
        with channel:
            assert stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=5).version == "v2.5.4"
    finally:
        srv.stop()
    channel, stub = connect(srv)
    with channel, pytest.raises(grpc.RpcError) as err:
        stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=2)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_one_job_id_per_request(server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub) -> None:
    first = imp(stub, ["id.npy", "vec.npy"])
    second = imp(stub, ["rows.parquet"], partition_name="p1")
    assert first.status.code == first.status.error_code == 0
    assert len(first.tasks) == len(second.tasks) == 1
    assert JOB_ID_BASE <= first.tasks[0] < second.tasks[0]
    assert server.import_count() == 2 and set(server.jobs) == {first.tasks[0], second.tasks[0]}
    assert server.jobs[second.tasks[0]].partition_name == "p1"


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"db_name": "nodb"}, 800, "database not found[database=nodb]"),
        ({"collection_name": "x"}, 100, "collection not found[database=default][collection=x]"),
        ({"collection_name": "other"}, 100, "collection not found[database=default][collection=other]"),
        ({"partition_name": "zz"}, 200, "partition not found[partition=zz]"),
        ({"files": []}, 1100, "import request is empty"),
        ({"files": [""]}, 1100, "import request is empty"),
        ({"collection_name": "pk_coll", "partition_name": "_default"}, 2100, "partition key"),
        ({"files": ["a.json", "b.npy"]}, 2100, "inconsistency in file types"),
        ({"files": ["a.txt"]}, 2100, "unexpected file type"),
        ({"files": ["a.csv"]}, 2100, "unexpected file type"),  # CSV arrived in 2.5
        ({"files": ["a.json", "b.json"]}, 2100, "each job only accepts one file"),
        ({"files": ["a.parquet", "b.parquet"]}, 2100, "each job only accepts one file"),
        ({"options": [S.KeyValuePair(key="backup", value="true")]}, 1100, "partition not specified"),
    ],
)
def test_sync_errors_are_statuses_with_grpc_ok(
    server: Milvus24TestServer,
    stub: milvus_pb2_grpc.MilvusServiceStub,
    fields: dict[str, object],
    code: int,
    reason: str,
) -> None:
    files = fields.pop("files", ["rows.json"])
    reply = imp(stub, files, **fields)  # type: ignore[arg-type]
    assert reply.status.code == code
    assert reply.status.error_code == 1
    assert reason in reply.status.reason
    assert reply.status.extra_info["is_input_error"] == "true"
    assert list(reply.tasks) == []
    assert server.import_count() == 0 and len(server.requests_for("Import")) == 1


def test_version_gated_extensions_and_database_resolution(server: Milvus24TestServer) -> None:
    server.version = "v2.6.0"
    channel, stub = connect(server)
    with channel:
        assert job(stub, ["a.csv"]) and job(stub, ["a.jsonl"])
        assert job(stub, ["a.json"], collection_name="other", db_name="db2")
        # Empty db_name: the dbname header, then "default".
        reply = stub.Import(
            milvus_pb2.ImportRequest(collection_name="other", files=["a.json"]), metadata=[("dbname", "db2")]
        )
        assert reply.status.code == 0
        assert server.jobs[reply.tasks[0]].db_name == "db2"
        backup = [S.KeyValuePair(key="backup", value="TRUE")]
        assert job(stub, ["prefix/a/", "prefix/b/"], partition_name="p1", options=backup)


@pytest.mark.parametrize(
    ("version", "honoured"),
    [("v2.4.10", False), ("v2.6.23", False), ("v2.6.24", True), ("v3.0.1", False), ("v3.0.2", True)],
)
def test_idempotency_key_only_on_supporting_versions(
    start_test_server: Callable[..., Milvus24TestServer], version: str, honoured: bool
) -> None:
    srv = start_test_server(version=version, collections=("coll",))
    srv.add_collection("coll2")
    channel, stub = connect(srv)
    with channel:
        first = job(stub, idempotency_key="k-1")
        again = job(stub, idempotency_key="k-1")
        other_collection = job(stub, collection_name="coll2", idempotency_key="k-1")
        no_key = job(stub)
    assert (again == first) is honoured
    assert other_collection != first and no_key not in (first, other_collection)
    assert srv.import_count() == (3 if honoured else 4)


# ------------------------------------------------------------------------------------------------- progress
def test_default_script_reports_four_states_and_id_zero(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    job_id = job(stub)
    replies = [poll(stub, job_id) for _ in range(6)]
    assert [r.state for r in replies] == [S.ImportPending, S.ImportStarted, S.ImportStarted] + [S.ImportCompleted] * 3
    assert [infos(r)["progress_percent"] for r in replies[:4]] == ["0", "40", "80", "100"]
    assert replies[-1].row_count == server.rows_per_job == 1000
    for reply in replies:
        assert reply.state in FOUR_STATES and reply.status.code == 0
        assert reply.id == 0 and reply.collection_id == 0 and list(reply.segment_ids) == []
        assert reply.create_ts > 0 and infos(reply)["failed_reason"] == ""


def test_stuck_at_80_then_completes(server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub) -> None:
    server.next_job_script = stuck_at_80(polls=5)
    stuck = job(stub)
    normal = job(stub)  # next_job_script is used once
    seen = [infos(poll(stub, stuck))["progress_percent"] for _ in range(9)]
    assert seen == ["0", "40"] + ["80"] * 5 + ["100", "100"]
    assert poll(stub, stuck).state == S.ImportCompleted
    assert len(server.jobs[normal].script) == 4


def test_missing_file_and_scripted_failures(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    failing = job(stub, ["imports/fail_missing.json"])
    assert poll(stub, failing).state == S.ImportPending
    failed = poll(stub, failing)
    assert failed.state == S.ImportFailed and failed.row_count == 0
    assert "The specified key does not exist" in infos(failed)["failed_reason"]

    server.add_collection("custom", script=[Step("Importing", 50), Step("Completed", 100, rows=7)])
    custom = job(stub, collection_name="custom")
    assert [poll(stub, custom).row_count for _ in range(2)] == [500, 7]
    server.next_job_script = failed_script("disk quota exceeded")
    assert infos([poll(stub, j) for j in [job(stub)] * 2][-1])["failed_reason"] == "disk quota exceeded"


def test_expired_and_unknown_jobs_answer_2100(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    job_id = job(stub)
    assert poll(stub, job_id).status.code == 0
    server.expire_job(job_id)
    for task in (job_id, 12345):
        reply = poll(stub, task)
        assert reply.status.code == 2100
        assert reply.status.reason == f"import job does not exist, jobID={task}"
    assert server.import_count() == 1 and job_id not in server.jobs


def test_list_ignores_limit_and_reports_id_zero(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    ids = [job(stub) for _ in range(5)]
    job(stub, collection_name="other", db_name="db2")
    poll(stub, ids[0])
    poll(stub, ids[0])
    listed = stub.ListImportTasks(milvus_pb2.ListImportTasksRequest(limit=2), timeout=5)
    assert listed.status.code == 0 and len(listed.tasks) == 5
    assert all(t.id == 0 and t.state in FOUR_STATES and "progress_percent" in infos(t) for t in listed.tasks)
    assert [infos(t)["progress_percent"] for t in listed.tasks] == ["40", "0", "0", "0", "0"]  # last polled step
    assert poll(stub, ids[0]).state == S.ImportStarted and infos(poll(stub, ids[0]))["progress_percent"] == "100"
    filtered = stub.ListImportTasks(milvus_pb2.ListImportTasksRequest(collection_name="pk_coll", limit=1), timeout=5)
    assert filtered.status.code == 0 and len(filtered.tasks) == 0
    in_db2 = stub.ListImportTasks(milvus_pb2.ListImportTasksRequest(db_name="db2"), timeout=5)
    assert len(in_db2.tasks) == 1
    unknown = stub.ListImportTasks(milvus_pb2.ListImportTasksRequest(collection_name="nope"), timeout=5)
    assert unknown.status.code == 100


# ------------------------------------------------------------------------------------------------- faults
def test_abort_after_receive_creates_the_job_and_fails_the_rpc(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    server.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "connection reset"))
    with pytest.raises(grpc.RpcError) as err:
        imp(stub, ["rows.json"])
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE and err.value.details() == "connection reset"
    assert server.import_count() == 1 and len(server.requests_for("Import")) == 1


def test_abort_before_processing_creates_nothing_but_is_recorded(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    server.inject("Import", Fault.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy", after_receive=False))
    with pytest.raises(grpc.RpcError) as err:
        imp(stub, ["rows.json"])
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert server.import_count() == 0
    (call,) = server.requests_for("Import")
    assert call.request.files == ["rows.json"]
    assert job(stub) == JOB_ID_BASE  # the fault was consumed; the next call is normal


def test_faults_are_consumed_in_order(server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub) -> None:
    server.inject(
        "Import",
        Fault.status(2100, "The number of jobs has reached the limit", retriable=True),
        Fault.reply(milvus_pb2.ImportResponse(status=S.Status())),
    )
    limited = imp(stub, ["rows.json"])
    assert limited.status.code == 2100 and limited.status.retriable and list(limited.tasks) == []
    empty = imp(stub, ["rows.json"])
    assert empty.status.code == 0 and list(empty.tasks) == []
    assert server.import_count() == 0 and server.pending_faults("Import") == 0
    assert len(job_ids := [job(stub)]) == 1 and job_ids[0] in server.jobs


def test_reply_fault_can_carry_unknown_enum_and_bad_progress(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    odd = milvus_pb2.GetImportStateResponse(
        state=99,
        infos=[S.KeyValuePair(key="progress_percent", value="abc")],  # type: ignore[arg-type]
    )
    server.inject("GetImportState", Fault.reply(odd))
    reply = poll(stub, 1)
    assert reply.state == 99 and infos(reply)["progress_percent"] == "abc"


def test_raw_bytes_reach_the_client(server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub) -> None:
    garbage = b"\xff\xff\xff\x0f\x01"
    server.inject("Import", Fault.raw(garbage), Fault.raw(garbage))
    channel, _ = connect(server)
    with channel:
        raw_import = channel.unary_unary("/milvus.proto.milvus.MilvusService/Import")
        assert raw_import(milvus_pb2.ImportRequest(collection_name="coll").SerializeToString(), timeout=5) == garbage
    with pytest.raises(grpc.RpcError) as err:  # the generated stub cannot decode it
        imp(stub, ["rows.json"])
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert server.import_count() == 0


def test_delay_trips_the_client_deadline(server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub) -> None:
    server.inject("Import", Fault.delay(3.0))
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        stub.Import(milvus_pb2.ImportRequest(collection_name="coll", files=["rows.json"]), timeout=0.3)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert server.wait_idle(2.0) and time.monotonic() - started < 2.0  # the delay stopped when the client left
    assert server.import_count() == 0
    server.inject("GetVersion", Fault.delay(0.05))
    assert stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=5).version == "v2.4.10"


def test_metadata_time_remaining_and_peer_are_recorded(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=5, metadata=[("x-trace", "abc"), ("dbname", "db2")])
    stub.GetVersion(milvus_pb2.GetVersionRequest())
    with_deadline, without = server.requests_for("GetVersion")
    assert with_deadline.metadata["x-trace"] == "abc" and with_deadline.metadata["dbname"] == "db2"
    # The grpc-timeout header is rounded up, so the server may see a little more than the client asked for.
    assert with_deadline.time_remaining is not None and 0 < with_deadline.time_remaining <= 5.1
    assert without.time_remaining is None
    assert "127.0.0.1" in with_deadline.peer
    assert isinstance(with_deadline.request, milvus_pb2.GetVersionRequest) and with_deadline.method == "GetVersion"


def test_token_auth_mode() -> None:
    with Milvus24TestServer(require_token="root:Milvus") as srv:
        channel, stub = connect(srv)
        with channel:
            for metadata, details in [((), "missing authorization"), ((("authorization", "bm9wZQ=="),), "auth")]:
                with pytest.raises(grpc.RpcError) as err:
                    stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=5, metadata=metadata)
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED and details in err.value.details()
            good = (("authorization", base64.b64encode(b"root:Milvus").decode()),)
            assert stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=5, metadata=good).version
        assert len(srv.requests_for("GetVersion")) == 3


def test_active_job_limit_is_a_retriable_status(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    srv = start_test_server(collections=("coll",))
    srv.max_active_jobs = 2
    channel, stub = connect(srv)
    with channel:
        first, _ = job(stub), job(stub)
        limited = imp(stub, ["rows.json"])
        assert limited.status.code == 2100 and limited.status.retriable and not limited.tasks
        for _ in range(4):
            poll(stub, first)
        assert job(stub)  # a finished job frees a slot


@pytest.mark.slow  # a load test: 1000 calls
def test_thousand_concurrent_imports_get_distinct_ids(
    server: Milvus24TestServer, stub: milvus_pb2_grpc.MilvusServiceStub
) -> None:
    with ThreadPoolExecutor(max_workers=64) as pool:
        ids = list(pool.map(lambda i: job(stub, [f"part-{i}.parquet"]), range(1000)))
    assert len(set(ids)) == 1000
    assert server.import_count() == 1000 and len(server.requests_for("Import")) == 1000
