"""Following import jobs (progress, listing, waiting) against the in-process Milvus 2.4+ TEST server.

The server walks each job one step along its script per GetImportState, answers id 0 everywhere, ignores the listing
limit and forgets expired jobs (``expire_job``); its request log is the witness of what was polled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from fake_milvus import (
    JOB_ID_BASE,
    MISSING_FILE_REASON,
    Fault,
    Milvus24TestServer,
    Step,
    failed_script,
    stuck_at_80,
)

import pymilvus_import as pi
from pymilvus_import._generated import common_pb2, milvus_pb2
from pymilvus_import._tracking import PollSchedule
from tools import milvus_pb2_grpc

FAST = {"poll_initial": 0.01, "poll_max": 0.05}


pytestmark = pytest.mark.test_server(version="v2.4.10", rows_per_job=1000, collections=("coll", "other"))


def submit(client: pi.ImportClient, *files: str, collection: str = "coll") -> pi.BulkImportResponse:
    groups = [[f] for f in files] or [["/data/rows.json"]]
    return client.bulk_import(pi.new_bulk_import_option("", collection, groups))


def job(client: pi.ImportClient, server: Milvus24TestServer, script: list[Step] | None = None) -> str:
    server.next_job_script = script
    return submit(client).job_id


def state_reply(state: int, progress: str = "50", reason: str = "", rows: int = 0) -> Fault:
    return Fault.reply(
        milvus_pb2.GetImportStateResponse(
            status=common_pb2.Status(),
            state=state,
            row_count=rows,
            infos=[
                common_pb2.KeyValuePair(key="failed_reason", value=reason),
                common_pb2.KeyValuePair(key="progress_percent", value=progress),
            ],
        )
    )


# ------------------------------------------------------------------------------------------------ progress
def test_the_four_states_with_rows_progress_and_raw_names(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    job_id = job(client, server)
    seen = [client.get_import_progress(job_id) for _ in range(4)]

    assert [(p.state, p.raw_state, p.progress, p.imported_rows) for p in seen] == [
        ("Pending", "ImportPending", 0, 0),
        ("Importing", "ImportStarted", 40, 400),
        ("Importing", "ImportStarted", 80, 800),
        ("Completed", "ImportCompleted", 100, 1000),
    ]
    assert [p.done for p in seen] == [False, False, False, True]
    assert all(p.reason == "" and p.job_id == job_id for p in seen)
    assert all(dict(p.infos) == {} for p in seen)  # failed_reason and progress_percent became fields
    assert seen[0].create_time is not None and abs(seen[0].create_time.timestamp() - time.time()) < 60

    failing = job(client, server, failed_script("no such object: rows.json"))
    client.get_import_progress(failing)
    failed = client.get_import_progress(failing)
    assert (failed.state, failed.raw_state, failed.reason, failed.done) == (
        "Failed",
        "ImportFailed",
        "no such object: rows.json",
        True,
    )


def test_reply_id_is_zero_but_progress_carries_the_id_asked_for(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    first, second = submit(client, "/d/a.json", "/d/b.json").job_ids
    assert (first, second) == (str(JOB_ID_BASE), str(JOB_ID_BASE + 1))

    assert client.get_import_progress(second).job_id == second
    assert client.get_import_progress(int(first)).job_id == first  # an int works too
    polled = server.requests_for("GetImportState")
    assert [c.request.task for c in polled] == [int(second), int(first)]

    with grpc.insecure_channel(server.address) as channel:  # the server really answers id 0
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        raw = stub.GetImportState(milvus_pb2.GetImportStateRequest(task=int(first)), timeout=5)
    assert raw.id == 0 and raw.status.code == 0
    (final,) = client.wait_for_import(first, timeout=10, **FAST)
    assert final.job_id == first


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (common_pb2.ImportPending, "Pending"),
        (common_pb2.ImportStarted, "Importing"),
        (common_pb2.ImportPersisted, "Importing"),
        (common_pb2.ImportFlushed, "Importing"),
        (common_pb2.ImportCompleted, "Completed"),
        (common_pb2.ImportFailed, "Failed"),
        (common_pb2.ImportFailedAndCleaned, "Failed"),
    ],
)
def test_every_state_of_both_server_generations_is_mapped(
    server: Milvus24TestServer, client: pi.ImportClient, state: int, expected: str
) -> None:
    server.inject("GetImportState", state_reply(state))
    progress = client.get_import_progress(JOB_ID_BASE)
    assert progress.state == expected
    assert progress.raw_state == common_pb2.ImportState.Name(state)
    assert progress.job_id == str(JOB_ID_BASE)


def test_unknown_state_is_a_malformed_reply(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    server.inject("GetImportState", state_reply(99))
    with pytest.raises(pi.MalformedReplyError, match="unknown import state 99"):
        client.get_import_progress(JOB_ID_BASE)


def test_unknown_state_while_waiting_is_a_malformed_reply_not_retried(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    job_id = job(client, server)
    server.inject("GetImportState", state_reply(99))
    with pytest.raises(pi.MalformedReplyError):
        client.wait_for_import(job_id, timeout=10, **FAST)
    assert len(server.requests_for("GetImportState")) == 1


def test_unknown_job_is_import_job_not_found(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    with pytest.raises(pi.ImportJobNotFoundError, match="import job does not exist") as caught:
        client.get_import_progress(123)
    assert caught.value.job_id == "123"
    assert isinstance(caught.value, pi.MilvusImportError)


def test_expired_job_is_import_job_not_found(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    job_id = job(client, server)
    client.get_import_progress(job_id)
    server.expire_job(int(job_id))
    with pytest.raises(pi.ImportJobNotFoundError) as caught:
        client.get_import_progress(job_id)
    assert caught.value.job_id == job_id


@pytest.mark.parametrize("bad", ["abc", "", "0", "-5", 0, 2**63, "1.5", True, None])
def test_bad_job_ids_are_rejected_before_any_rpc(server: Milvus24TestServer, client: pi.ImportClient, bad: Any) -> None:
    with pytest.raises(pi.InvalidInputError):
        client.get_import_progress(bad)
    assert server.requests_for("GetImportState") == []


def test_module_level_functions_take_a_uri_or_a_client(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    job_id = job(client, server)
    assert pi.get_import_progress(server.uri, job_id).state == "Pending"
    assert pi.get_import_progress(client, job_id).state == "Importing"
    assert len(pi.list_import_jobs(server.uri, "coll")) == 1
    (final,) = pi.wait_for_import(server.uri, job_id, timeout=10, **FAST)
    assert final.state == "Completed"


# ------------------------------------------------------------------------------------------------ waiting
def test_wait_follows_every_change_and_returns_final_states(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    response = submit(client, "/d/a.json", "/d/b.json")
    changes: list[tuple[str, str, int]] = []

    final = client.wait_for_import(
        response, timeout=10, on_progress=lambda p: changes.append((p.job_id, p.state, p.progress)), **FAST
    )

    assert [p.job_id for p in final] == list(response.job_ids)
    assert all(p.state == "Completed" and p.progress == 100 and p.imported_rows == 1000 for p in final)
    for job_id in response.job_ids:
        assert [(s, n) for j, s, n in changes if j == job_id] == [
            ("Pending", 0),
            ("Importing", 40),
            ("Importing", 80),
            ("Completed", 100),
        ]


def test_wait_accepts_a_response_one_id_an_int_or_several(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    response = submit(client, "/d/a.json", "/d/b.json", "/d/c.json")
    a, b, c = response.job_ids
    assert [p.job_id for p in client.wait_for_import(response, timeout=10, **FAST)] == [a, b, c]
    assert [p.job_id for p in client.wait_for_import(a, timeout=10, **FAST)] == [a]
    assert [p.job_id for p in client.wait_for_import(int(b), timeout=10, **FAST)] == [b]
    assert [p.job_id for p in client.wait_for_import([c, a], timeout=10, **FAST)] == [c, a]


def test_stuck_near_80_then_completing(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    job_id = job(client, server, stuck_at_80(25))
    changes: list[tuple[str, int]] = []

    (final,) = client.wait_for_import(
        job_id, timeout=30, on_progress=lambda p: changes.append((p.state, p.progress)), **FAST
    )

    assert final.state == "Completed" and final.imported_rows == 1000
    assert changes == [("Pending", 0), ("Importing", 40), ("Importing", 80), ("Completed", 100)]  # no repeats
    assert len(server.requests_for("GetImportState")) == 2 + 25 + 1  # every step polled once, none after


def test_job_vanishing_while_waiting_is_import_job_not_found(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    job_id = job(client, server, stuck_at_80(1000))

    def expire_at_80(progress: pi.ImportProgress) -> None:
        if progress.progress == 80:
            server.expire_job(int(progress.job_id))

    started = time.monotonic()
    with pytest.raises(pi.ImportJobNotFoundError) as caught:
        client.wait_for_import(job_id, timeout=20, on_progress=expire_at_80, **FAST)
    assert time.monotonic() - started < 5
    assert caught.value.job_id == job_id
    message = str(caught.value)
    assert "vanished while being waited for" in message and "80" in message
    assert "import job does not exist" in message


@pytest.mark.parametrize("faults", [1, 3, 12], ids=["one", "three", "more-than-one-rpc-retries"])
def test_transient_unavailable_while_polling_is_ridden_out(
    server: Milvus24TestServer, client: pi.ImportClient, faults: int
) -> None:
    job_id = job(client, server)
    client.get_import_progress(job_id)  # Pending
    server.inject(
        "GetImportState", *[Fault.abort(grpc.StatusCode.UNAVAILABLE, "connection reset", after_receive=False)] * faults
    )

    (final,) = client.wait_for_import(job_id, timeout=30, **FAST)

    assert final.state == "Completed"
    assert server.pending_faults("GetImportState") == 0
    assert len(server.requests_for("GetImportState")) == 1 + faults + 3


def test_a_server_that_stays_down_is_reported_not_waited_for_silently(
    start_test_server: Callable[..., Milvus24TestServer],
) -> None:
    srv = start_test_server(collections=("coll",))
    with pi.ImportClient(srv.uri) as client:
        job_id = submit(client).job_id
        srv.inject("GetImportState", *[Fault.abort(grpc.StatusCode.UNAVAILABLE, after_receive=False)] * 10_000)
        with pytest.raises(pi.ImportTimeoutError) as caught:
            client.wait_for_import(job_id, timeout=1.5, **FAST)
    # the schedule of such a wait is checked with a fake clock in test_flows.py; here: what the user is told
    assert "unreachable at the end" in str(caught.value) and "UNAVAILABLE" in str(caught.value)
    assert isinstance(caught.value.__cause__, pi.ServerUnavailableError)


def test_failed_job_raises_import_failed_with_reason_and_all_final_states(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    response = submit(client, "/d/good.json", "/d/fail_missing.json", "/d/also_good.json")
    good, bad, also_good = response.job_ids

    with pytest.raises(pi.ImportFailedError) as caught:
        client.wait_for_import(response, timeout=10, **FAST)

    error = caught.value
    assert error.reason == MISSING_FILE_REASON
    assert MISSING_FILE_REASON in str(error) and bad in str(error)
    assert [(p.job_id, p.state) for p in error.progress] == [
        (good, "Completed"),
        (bad, "Failed"),
        (also_good, "Completed"),
    ]
    assert error.progress[1].reason == MISSING_FILE_REASON


def test_several_failures_are_all_reported(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    response = submit(client, "/d/fail_1.json", "/d/fail_2.json")
    with pytest.raises(pi.ImportFailedError, match=r"and 1 more failed") as caught:
        client.wait_for_import(response, timeout=10, **FAST)
    assert [p.state for p in caught.value.progress] == ["Failed", "Failed"]


def test_timeout_raises_import_timeout_with_the_last_progress(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    job_id = job(client, server, stuck_at_80(100_000))
    started = time.monotonic()

    with pytest.raises(pi.ImportTimeoutError) as caught:
        client.wait_for_import(job_id, timeout=0.8, **FAST)

    elapsed = time.monotonic() - started
    assert 0.75 <= elapsed < 2.5
    assert isinstance(caught.value, TimeoutError)
    (last,) = caught.value.progress
    assert (last.job_id, last.state, last.progress, last.imported_rows) == (job_id, "Importing", 80, 800)
    assert job_id in str(caught.value) and "80%" in str(caught.value)
    assert "unreachable" not in str(caught.value)  # the server answered every poll


def test_timeout_with_slow_polls_is_still_an_import_timeout(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    """The last poll may run into the wait's own deadline; that is the wait timing out, not a transport problem."""
    job_id = job(client, server, stuck_at_80(100_000))
    client.get_import_progress(job_id)
    server.inject("GetImportState", *[Fault.delay(0.3)] * 50)
    with pytest.raises(pi.ImportTimeoutError) as caught:
        client.wait_for_import(job_id, timeout=1.0, poll_initial=0.05, poll_max=0.05)
    assert caught.value.progress and caught.value.progress[0].state in ("Pending", "Importing")


def test_on_progress_sees_each_change_once_across_jobs(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    server.next_job_script = stuck_at_80(3)
    slow = submit(client).job_id
    fast = job(client, server, [Step("Pending", 0), Step("Completed", 100)])
    seen: list[tuple[str, str, int]] = []

    client.wait_for_import([slow, fast], timeout=10, on_progress=lambda p: seen.append((p.job_id, p.state, p.progress)))

    assert [(s, n) for j, s, n in seen if j == fast] == [("Pending", 0), ("Completed", 100)]
    assert [(s, n) for j, s, n in seen if j == slow] == [
        ("Pending", 0),
        ("Importing", 40),
        ("Importing", 80),
        ("Completed", 100),
    ]
    assert len(seen) == len(set(seen))


def test_finished_jobs_are_not_polled_again(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    slow = job(client, server, stuck_at_80(5))
    fast = job(client, server, [Step("Completed", 100)])
    client.wait_for_import([slow, fast], timeout=10, **FAST)
    polled = [c.request.task for c in server.requests_for("GetImportState")]
    assert polled.count(int(fast)) == 1
    assert polled.count(int(slow)) == 2 + 5 + 1


# ------------------------------------------------------------------------------------------------ polling schedule
def test_poll_schedule_values() -> None:
    schedule = PollSchedule(0.1, 2.0)
    backing_off = [round(schedule.next(moved=False), 4) for _ in range(30)]
    assert backing_off[0] == 0.15 and backing_off == sorted(backing_off) and max(backing_off) <= 2.0
    assert schedule.next(moved=True) == 0.1
    with pytest.raises(pi.InvalidInputError):
        PollSchedule(2.0, 1.0)
    with pytest.raises(pi.InvalidInputError):
        PollSchedule(0, 1.0)


def test_bad_wait_arguments_are_rejected_before_any_rpc(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    for bad in ([], ["x"], "0"):
        with pytest.raises(pi.InvalidInputError):
            client.wait_for_import(bad, timeout=1)
    with pytest.raises(pi.InvalidInputError):
        client.wait_for_import("1", poll_initial=1.0, poll_max=0.5)
    with pytest.raises(pi.InvalidInputError):
        client.wait_for_import("1", timeout=-1)
    assert server.requests_for("GetImportState") == []


# ------------------------------------------------------------------------------------------------ listing
def test_list_gives_none_ids_and_applies_the_limit_itself(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    response = submit(client, "/d/a.json", "/d/b.json", "/d/fail_c.json")
    submit(client, "/d/x.json", collection="other")
    client.wait_for_import(response.job_ids[:2], timeout=10, **FAST)

    records = client.list_import_jobs("coll")
    assert len(records) == 3
    assert all(r.job_id is None for r in records)  # 2.4+ answers id 0 for every listed job
    assert [r.state for r in records] == ["Completed", "Completed", "Pending"]
    assert [r.imported_rows for r in records] == [1000, 1000, None]
    assert all(r.collection_name == "" for r in records)  # 2.4+ does not say the collection either

    limited = client.list_import_jobs("coll", limit=2)
    assert len(limited) == 2
    assert server.requests_for("ListImportTasks")[-1].request.limit == 2  # asked, but ignored by the server

    assert len(client.list_import_jobs()) == 4
    assert len(client.list_import_jobs(limit=1)) == 1


def test_list_shows_failure_reasons(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    failing = submit(client, "/d/fail.json").job_id
    with pytest.raises(pi.ImportFailedError):
        client.wait_for_import(failing, timeout=10, **FAST)
    (record,) = client.list_import_jobs("coll")
    assert (record.state, record.reason, record.raw_state) == ("Failed", MISSING_FILE_REASON, "ImportFailed")


def test_list_of_an_unknown_collection_is_a_server_error(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    with pytest.raises(pi.ServerError, match="collection not found") as caught:
        client.list_import_jobs("nope")
    assert caught.value.status == 100
    assert not isinstance(caught.value, pi.ImportJobNotFoundError)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_bad_list_limits_are_rejected(server: Milvus24TestServer, client: pi.ImportClient, limit: Any) -> None:
    with pytest.raises(pi.InvalidInputError):
        client.list_import_jobs("coll", limit=limit)
    assert server.requests_for("ListImportTasks") == []
