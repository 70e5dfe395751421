"""Reliability against the Milvus 2.4+ TEST server: ambiguous failures, rate limits, malformed replies, load.

The promise (issue 7): under faults the client never creates a duplicate job by itself, every failure surfaces as a
documented ``pymilvus_import`` error (never an IndexError/KeyError/ValueError/DecodeError from our internals), and one
client serves any number of calls over one channel without leaking threads or file descriptors.

What is retried, as observed here:

- ``Import`` that fails with UNAVAILABLE is *not* retried on servers that ignore idempotency keys (< 2.6.24 on the
  2.6 line, < 3.0.2 on 3.x): the request may have been received, so a retry could create a second job. On servers
  that honour the key it is retried with the same key, and the server answers the first job.
- ``Import`` failing with RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED is never retried (RateLimitedError /
  DeadlineExceededError); a rate-limit *status* in the reply is a BulkImportError whose ``retriable`` is the server's.
- Read-only RPCs (GetImportState, ListImportTasks, GetVersion) are retried on UNAVAILABLE, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import helpers
import pytest
from fake_milvus import Fault, Milvus24TestServer, stuck_at_80

import pymilvus_import as pi
from pymilvus_import._generated import common_pb2, milvus_pb2

OK = common_pb2.Status()


pytestmark = pytest.mark.test_server(collections=("coll",))


def import_keys(srv: Milvus24TestServer) -> list[str]:
    return [call.request.idempotency_key for call in srv.requests_for("Import")]


# ------------------------------------------------------------------------------------- ambiguous UNAVAILABLE
@pytest.mark.parametrize("version", ["v2.4.10", "v2.5.4", "v2.6.23", "v3.0.1"])
def test_unavailable_after_receive_is_not_retried_without_idempotency(
    start_test_server: Callable[..., Milvus24TestServer], version: str
) -> None:
    srv = start_test_server(version=version, collections=("coll",))
    srv.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "connection reset", after_receive=True))
    with pi.ImportClient(srv.uri) as client, pytest.raises(pi.ServerUnavailableError) as err:
        client.bulk_import(helpers.option(), timeout=5)
    # The server did create the job; the client must not have sent a second Import.
    assert srv.import_count() == 1
    assert len(srv.requests_for("Import")) == 1
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert err.value.failed_group == ("/data/rows.json",)
    assert err.value.created_job_ids == ()
    assert "connection reset" in str(err.value)


def test_unavailable_before_receive_is_not_retried_either(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    # From the client's side this looks exactly like the ambiguous case, so it gets the same (safe) treatment.
    server.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "not received", after_receive=False))
    with pytest.raises(pi.ServerUnavailableError):
        client.bulk_import(helpers.option(), timeout=5)
    assert server.import_count() == 0
    assert len(server.requests_for("Import")) == 1
    # The same client works on the next call.
    response = client.bulk_import(helpers.option(), timeout=5)
    assert server.import_count() == 1
    assert [str(j) for j in server.jobs] == [response.job_id]


@pytest.mark.parametrize("version", ["v2.6.24", "v2.6.30", "v3.0.2", "v3.1.0"])
@pytest.mark.parametrize("user_key", [None, "nightly-2024-05-01"])
def test_unavailable_after_receive_is_retried_with_the_same_key(
    start_test_server: Callable[..., Milvus24TestServer], version: str, user_key: str | None
) -> None:
    srv = start_test_server(version=version, collections=("coll",))
    srv.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "connection reset", after_receive=True))
    with pi.ImportClient(srv.uri) as client:
        opt = helpers.option() if user_key is None else helpers.option().with_idempotency_key(user_key)
        response = client.bulk_import(opt, timeout=5)
        jobs = client.list_import_jobs("coll", timeout=5)
    keys = import_keys(srv)
    assert len(keys) == 2, "retried exactly once"
    assert keys[0] == keys[1] and keys[0], "the retry carries the same idempotency key"
    if user_key is not None:
        assert keys[0] == user_key
    assert srv.import_count() == 1, "one job on the server"
    assert [str(j) for j in srv.jobs] == [response.job_id] == list(response.job_ids)
    assert len(jobs) == 1


def test_idempotent_retry_gives_up_within_the_deadline(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    # Every attempt fails: the retries stop (bounded attempts, never past the caller's deadline), one job at most.
    srv = start_test_server(version="v2.6.24", collections=("coll",))
    srv.inject("Import", *[Fault.abort(grpc.StatusCode.UNAVAILABLE, "flaky", after_receive=True)] * 50)
    started = time.monotonic()
    with pi.ImportClient(srv.uri) as client, pytest.raises(pi.ServerUnavailableError):
        client.bulk_import(helpers.option(), timeout=3)
    assert time.monotonic() - started < 3.5
    keys = import_keys(srv)
    assert 2 <= len(keys) <= 10
    assert len(set(keys)) == 1
    assert srv.import_count() == 1


def test_each_file_group_keeps_its_own_key_on_retry(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    srv = start_test_server(version="v3.0.2", collections=("coll",))
    srv.inject(
        "Import",
        Fault.abort(grpc.StatusCode.UNAVAILABLE, after_receive=True),
    )
    opt = pi.new_bulk_import_option("", "coll", [["/a.json"], ["/b.json"]]).with_idempotency_key("k")
    with pi.ImportClient(srv.uri) as client:
        response = client.bulk_import(opt, timeout=5)
    assert import_keys(srv) == ["k#0", "k#0", "k#1"]
    assert srv.import_count() == 2
    assert len(set(response.job_ids)) == 2


@pytest.mark.parametrize(("version", "retried"), [("v2.4.10", False), ("v3.0.2", True)])
def test_async_client_follows_the_same_retry_rules(
    start_test_server: Callable[..., Milvus24TestServer], version: str, retried: bool
) -> None:
    from pymilvus_import import AsyncImportClient

    async def submit(uri: str) -> pi.BulkImportResponse:
        async with AsyncImportClient(uri) as client:
            return await client.bulk_import(helpers.option(), timeout=5)

    srv = start_test_server(version=version, collections=("coll",))
    srv.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "connection reset", after_receive=True))
    if retried:
        response = asyncio.run(submit(srv.uri))
        assert [str(j) for j in srv.jobs] == [response.job_id]
    else:
        with pytest.raises(pi.ServerUnavailableError):
            asyncio.run(submit(srv.uri))
    keys = import_keys(srv)
    assert len(keys) == (2 if retried else 1) and len(set(keys)) == 1
    assert srv.import_count() == 1


# ------------------------------------------------------------------------------------- other gRPC failures
def test_resource_exhausted_is_rate_limited_and_not_retried(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    server.inject("Import", Fault.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate limit exceeded", after_receive=False))
    with pytest.raises(pi.RateLimitedError) as err:
        client.bulk_import(helpers.option(), timeout=5)
    assert isinstance(err.value, pi.TransportError)
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rate limit exceeded" in str(err.value)
    assert len(server.requests_for("Import")) == 1
    assert server.import_count() == 0
    # Retrying later is the caller's decision, and works on the same client.
    assert client.bulk_import(helpers.option(), timeout=5).job_id
    assert server.import_count() == 1


def test_resource_exhausted_on_an_idempotent_server_is_not_retried_either(
    start_test_server: Callable[..., Milvus24TestServer],
) -> None:
    srv = start_test_server(version="v3.0.2", collections=("coll",))
    srv.inject("Import", Fault.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota", after_receive=False))
    with pi.ImportClient(srv.uri) as client, pytest.raises(pi.RateLimitedError):
        client.bulk_import(helpers.option(), timeout=5)
    assert len(srv.requests_for("Import")) == 1


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, pi.DeadlineExceededError),
        (grpc.StatusCode.INTERNAL, pi.TransportError),
        (grpc.StatusCode.UNKNOWN, pi.TransportError),
        (grpc.StatusCode.INVALID_ARGUMENT, pi.ServerInvalidArgumentError),
        (grpc.StatusCode.PERMISSION_DENIED, pi.PermissionDeniedError),
    ],
)
def test_other_import_failures_are_mapped_and_never_retried(
    server: Milvus24TestServer, client: pi.ImportClient, code: grpc.StatusCode, error: type[Exception]
) -> None:
    server.inject("Import", Fault.abort(code, "injected", after_receive=True))
    with pytest.raises(error) as err:
        client.bulk_import(helpers.option(), timeout=5)
    assert err.value.code == code
    assert len(server.requests_for("Import")) == 1
    assert server.import_count() == 1  # processed before the failure: exactly one job, none added by the client


def test_slow_import_gives_deadline_exceeded_within_the_timeout(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    server.inject("Import", Fault.delay(3.0))
    started = time.monotonic()
    with pytest.raises(pi.DeadlineExceededError) as err:
        client.bulk_import(helpers.option(), timeout=0.4)
    elapsed = time.monotonic() - started
    assert elapsed < 0.4 + 0.5
    assert isinstance(err.value, TimeoutError)
    assert server.wait_idle(5)
    assert len(server.requests_for("Import")) == 1
    assert server.import_count() == 0


# regression (found by this suite): CallOptions accepted non-finite timeouts (nan <= 0 is False); gRPC then
# fails the call at once with DEADLINE_EXCEEDED instead of the caller getting InvalidInputError before any RPC
@pytest.mark.parametrize("timeout", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_timeout_is_rejected_before_any_rpc(
    server: Milvus24TestServer, client: pi.ImportClient, timeout: float
) -> None:
    with pytest.raises(pi.InvalidInputError):
        client.bulk_import(helpers.option(), timeout=timeout)
    assert server.requests_for("Import") == []


# regression (found by this suite): wait_for_import(timeout=nan) never returns: Deadline.remaining() is nan, so 'left
# <= 0' is never true, every poll gets a 0 s budget and is not sent, and the loop sleeps forever (wait_flow)
def test_wait_with_a_nan_timeout_does_not_hang() -> None:
    code = (
        "import pymilvus_import as pi\n"
        "client = pi.ImportClient('http://127.0.0.1:9')\n"
        "try:\n"
        "    client.wait_for_import(450000000000000001, timeout=float('nan'), poll_max=0.1)\n"
        "except pi.MilvusImportError as error:\n"
        "    print(type(error).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=4, check=False)
    assert result.stdout.strip() == "InvalidInputError"


# ------------------------------------------------------------------------------------- rate limit in the status
@pytest.mark.parametrize(
    ("code", "reason", "retriable"),
    [
        (8, "rate limit exceeded[rate=0.1]", True),
        (2100, "The number of jobs has reached the limit, please try again later", True),
        (2100, "unexpected file type", False),
    ],
)
def test_rate_limit_status_is_a_bulk_import_error_with_the_server_hint(
    server: Milvus24TestServer, client: pi.ImportClient, code: int, reason: str, retriable: bool
) -> None:
    server.inject("Import", Fault.status(code, reason, retriable=retriable))
    with pytest.raises(pi.BulkImportError) as err:
        client.bulk_import(helpers.option(), timeout=5)
    assert err.value.status == code
    assert err.value.retriable is retriable
    assert err.value.server_message == reason
    assert reason in str(err.value)
    assert err.value.response.status == code
    assert len(server.requests_for("Import")) == 1, "a status answer is final: never retried by the client"
    assert server.import_count() == 0


def test_too_many_active_jobs_is_retriable(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    srv = start_test_server(max_active_jobs=2, collections=({"name": "coll", "script": stuck_at_80(100)},))
    with pi.ImportClient(srv.uri) as client:
        client.bulk_import(helpers.option(), timeout=5)
        client.bulk_import(pi.new_bulk_import_option("", "coll", [["/other.json"]]), timeout=5)
        with pytest.raises(pi.BulkImportError) as err:
            client.bulk_import(pi.new_bulk_import_option("", "coll", [["/third.json"]]), timeout=5)
    assert err.value.retriable is True
    assert err.value.status == 2100
    assert srv.import_count() == 2


def test_rate_limit_status_on_progress_is_a_server_error(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    job_id = client.bulk_import(helpers.option(), timeout=5).job_id
    server.inject("GetImportState", Fault.status(8, "rate limit exceeded", retriable=True))
    with pytest.raises(pi.ServerError) as err:
        client.get_import_progress(job_id, timeout=5)
    assert err.value.status == 8
    assert err.value.retriable is True
    assert client.get_import_progress(job_id, timeout=5).job_id == job_id


@pytest.mark.parametrize(
    "fault",
    [
        Fault.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate limit exceeded"),
        Fault.status(8, "rate limit exceeded", retriable=True),
    ],
    ids=["RESOURCE_EXHAUSTED", "retriable-status"],
)
def test_wait_rides_out_a_rate_limited_poll(server: Milvus24TestServer, client: pi.ImportClient, fault: Fault) -> None:
    response = client.bulk_import(helpers.option(), timeout=5)
    client.get_import_progress(response.job_id, timeout=5)
    server.inject("GetImportState", fault)
    (final,) = client.wait_for_import(response, timeout=20, poll_initial=0.01, poll_max=0.05)
    assert final.state == "Completed"


# ------------------------------------------------------------------------------------- read-only retries
def test_read_only_calls_are_retried_on_unavailable(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    job_id = client.bulk_import(helpers.option(), timeout=5).job_id
    server.inject("GetImportState", *[Fault.abort(grpc.StatusCode.UNAVAILABLE, "blip")] * 2)
    server.inject("ListImportTasks", *[Fault.abort(grpc.StatusCode.UNAVAILABLE, "blip")] * 2)
    assert client.get_import_progress(job_id, timeout=10).job_id == job_id
    assert len(client.list_import_jobs("coll", timeout=10)) == 1
    assert len(server.requests_for("GetImportState")) == 3
    assert len(server.requests_for("ListImportTasks")) == 3
    assert server.import_count() == 1


def test_read_only_retries_are_bounded(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    server.inject("GetImportState", *[Fault.abort(grpc.StatusCode.UNAVAILABLE, "down")] * 20)
    started = time.monotonic()
    with pytest.raises(pi.ServerUnavailableError):
        client.get_import_progress(450_000_000_000_000_001)
    assert time.monotonic() - started < 5
    assert len(server.requests_for("GetImportState")) == pi.Retry().attempts


def test_wait_rides_out_transient_unavailable(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    response = client.bulk_import(helpers.option(), timeout=5)
    server.inject("GetImportState", Fault.abort(grpc.StatusCode.UNAVAILABLE, "blip"))
    (final,) = client.wait_for_import(response, timeout=20, poll_initial=0.01, poll_max=0.05)
    assert final.state == "Completed"
    assert final.imported_rows == server.rows_per_job
    assert server.import_count() == 1


def test_wait_reports_a_server_that_stays_down_within_its_timeout(
    start_test_server: Callable[..., Milvus24TestServer],
) -> None:
    srv = start_test_server(collections=({"name": "coll", "script": stuck_at_80(10_000)},))
    with pi.ImportClient(srv.uri) as client:
        response = client.bulk_import(helpers.option(), timeout=5)
        client.get_import_progress(response.job_id, timeout=5)
        stopper = threading.Timer(0.3, srv.stop)
        stopper.start()
        with pytest.raises(pi.ImportTimeoutError) as err:
            client.wait_for_import(response, timeout=2.5, poll_initial=0.05, poll_max=0.2)
        stopper.join()
    assert isinstance(err.value.__cause__, pi.ServerUnavailableError)
    assert_reports_unreachable(err.value)


def assert_reports_unreachable(error: BaseException) -> None:
    """The user can tell from the error that the server could not be reached (not just that time ran out)."""
    text = " | ".join(str(e) for e in helpers.error_chain(error)).lower()
    assert "unreachable" in text or "unavailable" in text, text


# ------------------------------------------------------------------------------------- malformed replies
def kv(key: str, value: str) -> common_pb2.KeyValuePair:
    return common_pb2.KeyValuePair(key=key, value=value)


def state_reply(state: int = common_pb2.ImportStarted, progress: str = "40", **fields: Any) -> Any:
    fields.setdefault("status", OK)
    return milvus_pb2.GetImportStateResponse(
        state=state, infos=[kv("failed_reason", ""), kv("progress_percent", progress)], **fields
    )


def _state_reply_without_status() -> Any:
    reply = state_reply()
    reply.ClearField("status")
    return reply


UNDECODABLE = [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x12\x02\x80\x80", b"\x0a\x03\x12\x01\xff"]

IMPORT_MALFORMED: dict[str, Fault] = {
    "missing status": Fault.reply(milvus_pb2.ImportResponse(tasks=[450_000_000_000_000_099])),
    "empty tasks": Fault.reply(milvus_pb2.ImportResponse(status=OK)),
    "a wrong message type": Fault.reply(milvus_pb2.GetVersionResponse(version="v2.4.10")),
    **{f"undecodable {i}": Fault.raw(raw) for i, raw in enumerate(UNDECODABLE)},
}

STATE_MALFORMED: dict[str, Fault] = {
    "missing status": Fault.reply(_state_reply_without_status()),
    "unknown state 99": Fault.reply(state_reply(state=99)),
    "unknown state -1": Fault.reply(state_reply(state=-1)),
    "non-numeric progress abc": Fault.reply(state_reply(progress="abc")),
    "progress nan": Fault.reply(state_reply(progress="nan")),
    **{f"undecodable {i}": Fault.raw(raw) for i, raw in enumerate(UNDECODABLE)},
}

LIST_MALFORMED: dict[str, Fault] = {
    "missing status": Fault.reply(milvus_pb2.ListImportTasksResponse(tasks=[state_reply()])),
    "a task with unknown state 99": Fault.reply(
        milvus_pb2.ListImportTasksResponse(status=OK, tasks=[state_reply(), state_reply(state=99)])
    ),
    "a task with progress abc": Fault.reply(
        milvus_pb2.ListImportTasksResponse(status=OK, tasks=[state_reply(progress="abc")])
    ),
    **{f"undecodable {i}": Fault.raw(raw) for i, raw in enumerate(UNDECODABLE)},
}


def check_malformed(call: Callable[[], object]) -> pi.MilvusImportError:
    with pytest.raises(pi.MilvusImportError) as err:
        call()
    assert isinstance(err.value, pi.MalformedReplyError), repr(err.value)
    assert not isinstance(err.value, (IndexError, KeyError, ValueError))
    assert str(err.value)
    return err.value


@pytest.mark.parametrize("fault", IMPORT_MALFORMED.values(), ids=IMPORT_MALFORMED.keys())
def test_malformed_import_reply(server: Milvus24TestServer, client: pi.ImportClient, fault: Fault) -> None:
    server.inject("Import", fault)
    error = check_malformed(lambda: client.bulk_import(helpers.option(), timeout=5))
    assert error.failed_group == ("/data/rows.json",)
    assert len(server.requests_for("Import")) == 1, "a malformed reply is not a reason to resend the Import"


# regression (found by this suite): the Import reply decoder accepted job id 0 (and negative ids) from an Import reply;
# wait_for_import then blames the caller with InvalidInputError
@pytest.mark.parametrize("task", [0, -5])
def test_import_reply_with_an_impossible_job_id(server: Milvus24TestServer, client: pi.ImportClient, task: int) -> None:
    server.inject("Import", Fault.reply(milvus_pb2.ImportResponse(status=OK, tasks=[task])))
    check_malformed(lambda: client.bulk_import(helpers.option(), timeout=5))


@pytest.fixture
def job_id(server: Milvus24TestServer, client: pi.ImportClient) -> str:
    return client.bulk_import(helpers.option(), timeout=5).job_id


@pytest.mark.parametrize("fault", STATE_MALFORMED.values(), ids=STATE_MALFORMED.keys())
def test_malformed_progress_reply(
    server: Milvus24TestServer, client: pi.ImportClient, job_id: str, fault: Fault
) -> None:
    server.inject("GetImportState", fault)
    check_malformed(lambda: client.get_import_progress(job_id, timeout=5))
    assert client.get_import_progress(job_id, timeout=5).job_id == job_id, "the client still works"


@pytest.mark.parametrize("fault", STATE_MALFORMED.values(), ids=STATE_MALFORMED.keys())
def test_malformed_progress_reply_while_waiting(
    server: Milvus24TestServer, client: pi.ImportClient, job_id: str, fault: Fault
) -> None:
    client.get_import_progress(job_id, timeout=5)  # Pending
    server.inject("GetImportState", fault)
    started = time.monotonic()
    check_malformed(lambda: client.wait_for_import(job_id, timeout=5, poll_initial=0.01, poll_max=0.05))
    assert time.monotonic() - started < 2, "a malformed reply ends the wait at once; no silent spinning"


@pytest.mark.parametrize("fault", LIST_MALFORMED.values(), ids=LIST_MALFORMED.keys())
def test_malformed_list_reply(server: Milvus24TestServer, client: pi.ImportClient, job_id: str, fault: Fault) -> None:
    server.inject("ListImportTasks", fault)
    check_malformed(lambda: client.list_import_jobs("coll", timeout=5))
    assert len(client.list_import_jobs("coll", timeout=5)) == 1


# regression (found by this suite): an infinite progress_percent escaped as OverflowError from _progress_value.
@pytest.mark.parametrize("progress", ["inf", "-inf", "1e400"])
def test_infinite_progress_in_progress_reply(
    server: Milvus24TestServer, client: pi.ImportClient, job_id: str, progress: str
) -> None:
    server.inject("GetImportState", Fault.reply(state_reply(progress=progress)))
    check_malformed(lambda: client.get_import_progress(job_id, timeout=5))


def test_infinite_progress_while_waiting(server: Milvus24TestServer, client: pi.ImportClient, job_id: str) -> None:
    server.inject("GetImportState", Fault.reply(state_reply(progress="inf")))
    check_malformed(lambda: client.wait_for_import(job_id, timeout=5, poll_initial=0.01))


def test_infinite_progress_in_list_reply(server: Milvus24TestServer, client: pi.ImportClient, job_id: str) -> None:
    reply = milvus_pb2.ListImportTasksResponse(status=OK, tasks=[state_reply(progress="inf")])
    server.inject("ListImportTasks", Fault.reply(reply))
    check_malformed(lambda: client.list_import_jobs("coll", timeout=5))


def test_list_with_no_tasks_is_empty_not_an_error(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    server.inject("ListImportTasks", Fault.reply(milvus_pb2.ListImportTasksResponse(status=OK)))
    assert client.list_import_jobs("coll", timeout=5) == []


def test_malformed_version_reply_does_not_unlock_retries(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    # The ambiguous-UNAVAILABLE path asks GetVersion; a garbled answer must not be read as "supports idempotency".
    srv = start_test_server(version="v3.0.2", collections=("coll",))
    srv.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "reset", after_receive=True))
    srv.inject("GetVersion", Fault.raw(b"\xff\xff"))
    with pi.ImportClient(srv.uri) as client, pytest.raises(pi.ServerUnavailableError):
        client.bulk_import(helpers.option(), timeout=5)
    assert len(srv.requests_for("Import")) == 1
    assert srv.import_count() == 1


# ------------------------------------------------------------------------------------- load
def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def client_threads() -> int:
    """Threads of this process, minus the in-process test server's handler pool (it grows with concurrency)."""
    return sum(not t.name.startswith("milvus24-test-server") for t in threading.enumerate())


@pytest.mark.slow  # a load test: 10,000 calls
def test_ten_thousand_sequential_imports_on_one_client(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    calls = 10_000
    srv = start_test_server(collections=("coll",))
    with pi.ImportClient(srv.uri) as client:
        opt = helpers.option()
        for _ in range(100):  # warm up: channel, server thread pool
            srv.expire_job(int(client.bulk_import(opt, timeout=5).job_id))
        gc.collect()
        fds, threads = open_fds(), client_threads()
        errors = 0
        started = time.monotonic()
        for _ in range(calls):
            try:
                response = client.bulk_import(opt, timeout=5)
            except pi.MilvusImportError:
                errors += 1
                continue
            srv.expire_job(int(response.job_id))  # keeps the test server's active-job scan short
        elapsed = time.monotonic() - started
        gc.collect()
        fds_after, threads_after = open_fds(), client_threads()
    peers = {call.peer for call in srv.requests}
    assert errors == 0
    assert srv.import_count() == calls + 100
    assert len(srv.requests_for("Import")) == calls + 100, "no retries, no extra RPCs"
    assert len(peers) == 1, f"one connection for every call, got {len(peers)}"
    assert fds_after <= fds + 2, (fds, fds_after)
    assert threads_after <= threads + 2, (threads, threads_after)
    assert elapsed < 60


def test_module_level_bulk_import_reuses_one_channel(server: Milvus24TestServer) -> None:
    opt = helpers.option(uri=server.uri)
    pi.bulk_import(opt, timeout=5)
    fds = open_fds()
    for _ in range(300):
        pi.bulk_import(opt, timeout=5)
    assert open_fds() <= fds + 2
    assert len({call.peer for call in server.requests}) == 1
    assert server.import_count() == 301


@pytest.mark.slow  # a load test: 1000 calls
def test_thousand_concurrent_async_imports(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    from pymilvus_import import AsyncImportClient

    calls = 1_000

    async def run(uri: str) -> tuple[list[object], int, int, int, int]:
        async with AsyncImportClient(uri) as client:
            opt = helpers.option()
            await client.bulk_import(opt, timeout=30)  # warm up the channel
            fds, threads = open_fds(), client_threads()
            results = await asyncio.gather(
                *(client.bulk_import(opt, timeout=30) for _ in range(calls)), return_exceptions=True
            )
            return results, fds, threads, open_fds(), client_threads()

    srv = start_test_server(workers=64, collections=("coll",))
    results, fds, threads, fds_after, threads_after = asyncio.run(run(srv.uri))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    job_ids = {r.job_id for r in results}  # type: ignore[union-attr]
    assert len(job_ids) == calls
    assert srv.import_count() == calls + 1
    assert len(srv.requests_for("Import")) == calls + 1
    assert len({call.peer for call in srv.requests}) == 1, "one channel for all concurrent calls"
    assert fds_after <= fds + 2
    assert threads_after <= threads + 2
