"""The pure protocol flows (``_import_flow``, ``_session``, ``_tracking``), driven with plain values (no network, no
channel, no clock).

A flow yields effects (``Rpc``, ``Sleep``); ``helpers.MockTransport`` plays the server: the test decodes each
``Rpc.request`` with the generated messages, answers with reply bytes or a ``grpc.RpcError`` (mapped to the package's
error as the real transports map it), and checks what comes out. Sleeps advance a fake clock, so time-dependent
behaviour is tested without waiting.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from helpers import FakeRpcError, MockTransport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pymilvus_import as pi
from pymilvus_import._calls import CallOptions, Deadline, Identity
from pymilvus_import._effects import Rpc, Sleep
from pymilvus_import._generated import common_pb2, milvus_pb2
from pymilvus_import._import_flow import bulk_import_flow
from pymilvus_import._preflight import check_version
from pymilvus_import._retry import Retry
from pymilvus_import._session import Session, read_only_call, server_version
from pymilvus_import._tracking import POLL_RPC_TIMEOUT, UNAVAILABLE_GRACE, wait_flow
from pymilvus_import._transport import Runner

TARGET = "http://milvus.test:19530"
IMPORT = "/milvus.proto.milvus.MilvusService/Import"
GET_VERSION = "/milvus.proto.milvus.MilvusService/GetVersion"
GET_IMPORT_STATE = "/milvus.proto.milvus.MilvusService/GetImportState"


def ok_import(*tasks: int) -> bytes:
    return milvus_pb2.ImportResponse(status=common_pb2.Status(), tasks=list(tasks)).SerializeToString()


def refused(code: int = 0, reason: str = "", error_code: int = 0, retriable: bool = False) -> bytes:
    status = common_pb2.Status(code=code, error_code=error_code, reason=reason, retriable=retriable)
    return milvus_pb2.ImportResponse(status=status).SerializeToString()


def version_reply(version: str) -> bytes:
    return milvus_pb2.GetVersionResponse(status=common_pb2.Status(), version=version).SerializeToString()


Script = MockTransport  # plays the server (answers per method, the last one repeats)
FLOW_PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def option(files: Any = (("/d/a.json",),), **extra: Any) -> pi.BulkImportOption:
    built = pi.new_bulk_import_option(TARGET, "books", files)
    for name, value in extra.items():
        if name == "options":
            for k, v in value:
                built = built.with_option(k, v)
        else:
            built = getattr(built, f"with_{name}")(value)
    return built


def flow(
    opt: pi.BulkImportOption,
    *,
    session: Session | None = None,
    identity: Identity | None = None,
    call: CallOptions | None = None,
    keys: Iterator[str] | None = None,
) -> Any:
    return bulk_import_flow(
        session or Session(TARGET),
        identity or Identity(),
        opt,
        call or CallOptions(),
        keys if keys is not None else iter(f"key-{i}" for i in range(100)),
    )


THREE_GROUPS = [["/d/a.json"], ["/d/g/id.npy", "/d/g/vec.npy"], ["/d/c.parquet"]]


# ----------------------------------------------------------------------------------------------- requests
def test_one_import_rpc_per_group_in_order_with_the_request_fields() -> None:
    opt = option(
        THREE_GROUPS,
        partition="p1",
        database="db1",
        options=[("timeout", "300s"), ("x_new", "v"), ("sep", ";")],
    )
    script = Script({IMPORT: [ok_import(11), ok_import(12), ok_import(13)]})
    result = script.run(flow(opt, keys=iter(["k0", "k1", "k2"])))

    assert isinstance(result, pi.BulkImportResponse)
    assert result.status == 0 and result.message == ""
    assert result.data.job_ids == ("11", "12", "13")
    assert result.data.job_id == "11"
    # Go's shape for the first id, and every id (a Go-style caller reading only jobId would miss groups 2..N)
    assert result.to_dict() == {"status": 0, "message": "", "data": {"jobId": "11", "jobIds": ["11", "12", "13"]}}
    assert [rpc.method for rpc in script.effects] == [IMPORT] * 3
    requests = script.requests()
    assert [list(r.files) for r in requests] == THREE_GROUPS
    for request, key in zip(requests, ["k0", "k1", "k2"], strict=True):
        assert request.collection_name == "books"
        assert request.partition_name == "p1"
        assert request.db_name == "db1"
        assert [(kv.key, kv.value) for kv in request.options] == [("timeout", "300s"), ("x_new", "v"), ("sep", ";")]
        assert request.idempotency_key == key
        assert not request.row_based and not request.channel_names


def test_user_idempotency_key_is_suffixed_per_group_and_used_as_is_for_one_group() -> None:
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(THREE_GROUPS, idempotency_key="nightly")))
    assert [r.idempotency_key for r in script.requests()] == ["nightly#0", "nightly#1", "nightly#2"]

    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(idempotency_key="nightly")))
    assert [r.idempotency_key for r in script.requests()] == ["nightly"]


def test_default_idempotency_keys_are_fresh_per_group_and_per_call() -> None:
    keys = []
    for _ in range(2):
        script = Script({IMPORT: [ok_import(1)]})
        script.run(bulk_import_flow(Session(TARGET), Identity(), option(THREE_GROUPS), CallOptions()))
        keys += [r.idempotency_key for r in script.requests()]
    assert len(set(keys)) == 6
    assert all(k and k.isascii() and k.isprintable() and len(k) <= 256 for k in keys)


def test_call_options_are_passed_to_every_rpc_untouched() -> None:
    credentials, compression = grpc.access_token_call_credentials("t"), grpc.Compression.Gzip
    call = CallOptions(timeout=30, credentials=credentials, wait_for_ready=True, compression=compression)
    script = Script({IMPORT: [lambda rpc: (script.clock.advance(2), ok_import(1))[1]]})
    script.run(flow(option(THREE_GROUPS), session=script.make_session(), call=call))
    rpcs = script.rpcs()
    assert len(rpcs) == 3
    for rpc in rpcs:
        assert rpc.call.credentials is credentials
        assert rpc.call.compression is compression
        assert rpc.call.wait_for_ready is True
    assert [rpc.timeout for rpc in rpcs] == [30, 28, 26]  # one deadline for the whole call


def test_no_timeout_means_no_deadline() -> None:
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option()))
    assert script.rpcs()[0].timeout is None
    assert script.rpcs()[0].metadata == ()


# ----------------------------------------------------------------------------------------------- metadata
def test_metadata_is_the_users_entries_plus_authorization_and_dbname() -> None:
    identity = Identity(user="root", password="Milvus", db_name="db1")
    call = CallOptions(metadata=[("x-trace", "abc"), ("trace-bin", b"\x01")])
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(), identity=identity, call=call))
    (rpc,) = script.rpcs()
    assert rpc.metadata == (
        ("x-trace", "abc"),
        ("trace-bin", b"\x01"),
        ("authorization", "cm9vdDpNaWx2dXM="),
        ("dbname", "db1"),
    )
    assert script.requests()[0].db_name == "db1"


def test_user_authorization_and_dbname_entries_win() -> None:
    identity = Identity(token="identity", db_name="db1")
    call = CallOptions(metadata=[("authorization", "bWluZQ=="), ("dbname", "theirs")])
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(api_key="from-option"), identity=identity, call=call))
    (rpc,) = script.rpcs()
    assert rpc.metadata == (("authorization", "bWluZQ=="), ("dbname", "theirs"))
    assert script.requests()[0].db_name == "theirs"  # the header and the request never disagree


def test_per_call_credentials_replace_the_clients_authorization() -> None:
    identity = Identity(token="identity", db_name="db1")
    call = CallOptions(credentials=grpc.access_token_call_credentials("per-call"))
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(), identity=identity, call=call))
    (rpc,) = script.rpcs()
    assert rpc.metadata == (("dbname", "db1"),)


def test_option_api_key_and_database_override_the_connection() -> None:
    identity = Identity(token="identity", db_name="db1")
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(api_key="key-42", database="db2"), identity=identity))
    (rpc,) = script.rpcs()
    assert dict(rpc.metadata) == {"authorization": base64.b64encode(b"key-42").decode(), "dbname": "db2"}
    assert script.requests()[0].db_name == "db2"


def test_no_credentials_and_no_database_add_nothing() -> None:
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(), call=CallOptions(metadata=[("x-a", "1")])))
    assert script.rpcs()[0].metadata == (("x-a", "1"),)
    assert script.requests()[0].db_name == ""


# ----------------------------------------------------------------------------------------------- replies
def test_legacy_error_code_is_the_status_when_code_is_zero() -> None:
    script = Script({IMPORT: [refused(code=0, error_code=1, reason="collection not found[collection=books]")]})
    with pytest.raises(pi.BulkImportError) as err:
        script.run(flow(option()))
    assert err.value.status == 1
    assert err.value.server_message == "collection not found[collection=books]"
    assert "collection not found[collection=books]" in str(err.value)
    assert err.value.response.status == 1
    assert err.value.response.message == "collection not found[collection=books]"


def test_code_wins_over_the_legacy_error_code_and_retriable_is_kept() -> None:
    script = Script({IMPORT: [refused(code=2100, error_code=1, reason="too many jobs", retriable=True)]})
    with pytest.raises(pi.BulkImportError) as err:
        script.run(flow(option()))
    assert (err.value.status, err.value.retriable) == (2100, True)
    assert err.value.response.data.job_ids == ()
    assert len(script.rpcs()) == 1  # a refusal is an answer: never retried


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        (ok_import(), "no job id"),
        (milvus_pb2.ImportResponse(tasks=[5]).SerializeToString(), "no status"),
        (b"\xff\xff\xff", "could not be decoded"),
    ],
    ids=["no-task-id", "no-status", "garbage"],
)
def test_malformed_replies(reply: bytes, text: str) -> None:
    script = Script({IMPORT: [reply]})
    with pytest.raises(pi.MalformedReplyError, match=text) as err:
        script.run(flow(option()))
    assert err.value.group_index == 0
    assert err.value.failed_group == ("/d/a.json",)
    assert err.value.created_job_ids == ()


def test_several_task_ids_of_one_group_are_all_kept() -> None:
    """Milvus 2.3 answers one task per file; every id is kept, in order."""
    script = Script({IMPORT: [ok_import(7, 8), ok_import(9)]})
    result = script.run(flow(option([["/a.json"], ["/b.json"]])))
    assert result.job_ids == ("7", "8", "9")
    assert result.job_id == "7"


def test_partial_failure_keeps_created_job_ids_and_the_failed_group() -> None:
    script = Script(
        {IMPORT: [ok_import(11), refused(code=200, reason="partition not found[partition=zz]"), ok_import(13)]}
    )
    with pytest.raises(pi.BulkImportError) as err:
        script.run(flow(option(THREE_GROUPS)))
    error = err.value
    assert error.created_job_ids == ("11",)
    assert error.group_index == 1
    assert error.failed_group == ("/d/g/id.npy", "/d/g/vec.npy")
    assert error.status == 200
    assert "partition not found[partition=zz]" in str(error)
    assert "11" in str(error) and "/d/g/id.npy" in str(error)
    assert len(script.rpcs()) == 2  # group 2 is never sent


def test_transport_failure_on_a_later_group_keeps_the_earlier_ids() -> None:
    cause = FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "no privilege Import")
    script = Script({IMPORT: [ok_import(11), ok_import(12), cause]})
    with pytest.raises(pi.PermissionDeniedError) as err:
        script.run(flow(option(THREE_GROUPS)))
    error = err.value
    assert isinstance(error, pi.TransportError)
    assert error.created_job_ids == ("11", "12")
    assert (error.group_index, error.failed_group) == (2, ("/d/c.parquet",))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert error.details == "no privilege Import"
    assert error.target == TARGET
    assert error.method == IMPORT
    assert error.__cause__ is cause
    assert len(script.rpcs()) == 3


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, pi.AuthenticationError),
        (grpc.StatusCode.PERMISSION_DENIED, pi.PermissionDeniedError),
        (grpc.StatusCode.INVALID_ARGUMENT, pi.ServerInvalidArgumentError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, pi.RateLimitedError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, pi.DeadlineExceededError),
        (grpc.StatusCode.INTERNAL, pi.TransportError),
        (grpc.StatusCode.UNKNOWN, pi.TransportError),
        (grpc.StatusCode.CANCELLED, pi.TransportError),
    ],
)
def test_non_unavailable_errors_on_import_are_mapped_and_never_retried(code: grpc.StatusCode, cls: type) -> None:
    script = Script({IMPORT: [FakeRpcError(code, "boom")], GET_VERSION: [version_reply("v3.0.2")]})
    with pytest.raises(cls) as err:
        script.run(flow(option()))
    assert type(err.value) is cls
    assert err.value.code is code and err.value.details == "boom"
    assert len(script.effects) == 1  # no GetVersion, no Sleep, no second Import
    if cls is pi.DeadlineExceededError:
        assert isinstance(err.value, TimeoutError)


# ----------------------------------------------------------------------------------------------- retries
@pytest.mark.parametrize(
    ("version", "retried"),
    [
        ("v2.3.5-lite", False),
        ("v2.4.10", False),
        ("v2.5.4", False),
        ("v2.6.23", False),
        ("v2.6.24", True),
        ("v2.6.30", True),
        ("v3.0.0", False),
        ("v3.0.1", False),
        ("v3.0.2", True),
        ("v3.1.0", True),
        ("not a version", False),
        ("", False),
    ],
)
def test_unavailable_on_import_is_retried_only_when_the_server_dedupes(version: str, retried: bool) -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection reset")
    session = Session(TARGET)
    script = Script({IMPORT: [unavailable, ok_import(77)], GET_VERSION: [version_reply(version)]})
    if retried:
        result = script.run(flow(option(idempotency_key="idem-1"), session=session))
        assert result.job_ids == ("77",)
        imports = script.rpcs()
        assert len(imports) == 2
        assert imports[0].request == imports[1].request  # byte for byte: the same idempotency key
        assert [r.idempotency_key for r in script.requests()] == ["idem-1", "idem-1"]
        assert [type(e).__name__ for e in script.effects] == ["Rpc", "Rpc", "Sleep", "Rpc"]
    else:
        with pytest.raises(pi.ServerUnavailableError) as err:
            script.run(flow(option(idempotency_key="idem-1"), session=session))
        assert err.value.__cause__ is unavailable
        assert err.value.details == "connection reset"
        assert len(script.rpcs()) == 1  # exactly one Import: no blind retry
        assert script.sleeps == []
    assert len(script.rpcs(GET_VERSION)) == 1
    assert session.server_version == version


def test_retry_with_fresh_keys_reuses_the_groups_key() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    script = Script({IMPORT: [ok_import(1), unavailable, ok_import(2)], GET_VERSION: [version_reply("v2.6.24")]})
    result = script.run(flow(option([["/a.json"], ["/b.json"]]), keys=iter(["ka", "kb"])))
    assert result.job_ids == ("1", "2")
    assert [r.idempotency_key for r in script.requests()] == ["ka", "kb", "kb"]


def test_server_version_is_asked_once_per_session() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    script = Script({IMPORT: [unavailable, ok_import(1), unavailable, ok_import(2)], GET_VERSION: [AssertionError()]})
    result = script.run(flow(option([["/a.json"], ["/b.json"]]), session=script.make_session(server_version="v3.0.2")))
    assert result.job_ids == ("1", "2")
    assert script.rpcs(GET_VERSION) == []
    assert len(script.rpcs()) == 4


def test_get_version_failure_means_no_retry() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    script = Script(
        {IMPORT: [unavailable, ok_import(1)], GET_VERSION: [FakeRpcError(grpc.StatusCode.UNIMPLEMENTED, "no")]}
    )
    with pytest.raises(pi.ServerUnavailableError) as err:
        script.run(flow(option(), session=script.make_session(retry=Retry(initial=0.001))))
    assert err.value.__cause__ is unavailable
    assert len(script.rpcs()) == 1


def test_import_retry_is_bounded_by_attempts() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    script = Script({IMPORT: [unavailable]})
    session = script.make_session(retry=Retry(initial=0.01, maximum=0.04, attempts=4), server_version="v2.6.24")
    with pytest.raises(pi.ServerUnavailableError):
        script.run(flow(option(), session=session))
    assert len(script.rpcs()) == 4
    assert len(script.sleeps) == 3
    assert all(0.005 <= s <= 0.04 for s in script.sleeps)


def test_import_retry_never_sleeps_past_the_deadline() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    script = Script({IMPORT: [unavailable]})
    session = script.make_session(retry=Retry(initial=10, maximum=10), server_version="v3.0.2")
    with pytest.raises(pi.ServerUnavailableError):
        script.run(flow(option(), session=session, call=CallOptions(timeout=2)))
    assert len(script.rpcs()) == 1
    assert script.sleeps == []


def test_read_only_retry_is_bounded_and_jittered() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down")
    script = Script({GET_VERSION: [unavailable]})
    session = script.make_session(retry=Retry(initial=0.1, maximum=0.3, multiplier=2, attempts=5))
    with pytest.raises(pi.ServerUnavailableError) as err:
        script.run(read_only_call(session, GET_VERSION, b"", Deadline(None, script.clock), (), CallOptions()))
    assert err.value.__cause__ is unavailable
    assert len(script.rpcs(GET_VERSION)) == 5
    caps = [0.1, 0.2, 0.3, 0.3]
    assert len(script.sleeps) == 4
    for slept, cap in zip(script.sleeps, caps, strict=True):
        assert cap / 2 <= slept <= cap


def test_read_only_retry_recovers() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    script = Script({GET_VERSION: [unavailable, unavailable, version_reply("v2.4.10")]})
    session = script.make_session(retry=Retry(initial=0.01))
    version = script.run(server_version(session, Identity(), CallOptions(timeout=5)))
    assert version == "v2.4.10"
    assert len(script.rpcs(GET_VERSION)) == 3
    assert len(script.sleeps) == 2


def test_read_only_calls_do_not_retry_other_codes_or_past_the_deadline() -> None:
    script = Script({GET_VERSION: [FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "missing authorization")]})
    with pytest.raises(pi.AuthenticationError):
        script.run(server_version(script.make_session(), Identity(), CallOptions()))
    assert len(script.effects) == 1

    script = Script({GET_VERSION: [FakeRpcError(grpc.StatusCode.UNAVAILABLE)]})
    session = script.make_session(retry=Retry(initial=5, maximum=5))
    with pytest.raises(pi.ServerUnavailableError):
        script.run(server_version(session, Identity(), CallOptions(timeout=1)))
    assert len(script.effects) == 1


def test_retry_delays() -> None:
    retry = Retry(initial=0.1, maximum=1.0, multiplier=3, attempts=6)
    delays = list(retry.delays(random.Random(7)))
    assert len(delays) == 5
    for delay, cap in zip(delays, [0.1, 0.3, 0.9, 1.0, 1.0], strict=True):
        assert cap / 2 <= delay <= cap
    assert list(Retry(attempts=1).delays()) == []


# ----------------------------------------------------------------------------------------------- deadline
def test_a_spent_deadline_stops_before_the_next_group() -> None:
    def slow(_rpc: Rpc) -> bytes:
        script.clock.advance(0.06)
        return ok_import(1)

    script = Script({IMPORT: [slow, ok_import(2)]})
    with pytest.raises(pi.DeadlineExceededError) as err:
        script.run(
            flow(option([["/a.json"], ["/b.json"]]), session=script.make_session(), call=CallOptions(timeout=0.05))
        )
    assert err.value.created_job_ids == ("1",)
    assert err.value.group_index == 1
    assert len(script.rpcs()) == 1  # the second group was not sent


# ----------------------------------------------------------------------------------------------- runner, preflight
def test_runner_protocol() -> None:
    runner = Runner(flow(option()))
    effect = runner.next_effect()
    assert isinstance(effect, Rpc) and effect.method == IMPORT
    runner.succeeded(ok_import(5))
    assert runner.next_effect() is None
    assert runner.result.job_ids == ("5",)


def test_validation_happens_before_the_first_effect() -> None:
    """The option is checked once, at the client's entry, before any flow runs (the flows trust it)."""

    class NoCalls:
        def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"{method} was called")

    bad = pi.new_bulk_import_option(TARGET, "books", [["/a.json", "/b.json"]])
    with pi.ImportClient(TARGET, channel=NoCalls()) as client, pytest.raises(pi.InvalidInputError, match=r"/b\.json"):
        client.bulk_import(bad)


def test_repr_of_effects_and_identity_hide_nothing_they_should_not() -> None:
    identity = Identity(token="tok-Identity-991", db_name="db1")
    assert "dG9r" not in repr(identity) and "tok-Identity" not in repr(identity)
    assert "***" in repr(identity)


# ----------------------------------------------------------------------------------------------- wait (fake clock)
def state(name: str, percent: int | None = None, rows: int = 0, reason: str = "", code: int = 0) -> bytes:
    infos = [common_pb2.KeyValuePair(key="progress_percent", value=str(percent))] if percent is not None else []
    if reason:
        infos.append(common_pb2.KeyValuePair(key="failed_reason", value=reason))
    return milvus_pb2.GetImportStateResponse(
        status=common_pb2.Status(code=code, reason=reason if code else ""),
        state=getattr(common_pb2, name),
        row_count=rows,
        infos=infos,
    ).SerializeToString()


def wait(
    script: Script, jobs: Any = ("7",), timeout: float | None = None, retry: Retry | None = None, **kwargs: Any
) -> Any:
    session = script.make_session(retry=retry) if retry else script.make_session()
    return script.run(wait_flow(session, Identity(), jobs, CallOptions(timeout=timeout), **kwargs))


def test_polls_back_off_restart_fast_when_a_job_moves_and_stop_when_it_is_done() -> None:
    unchanged = [state("ImportStarted", 10)] * 6
    script = Script({GET_IMPORT_STATE: [*unchanged, state("ImportStarted", 50), state("ImportCompleted", rows=9)]})
    seen: list[tuple[str, int]] = []
    (final,) = wait(script, on_progress=lambda p: seen.append((p.state, p.progress)))
    assert (final.state, final.imported_rows) == ("Completed", 9)
    assert seen == [("Importing", 10), ("Importing", 50), ("Completed", 100)]  # one call per change
    # 1.5x growth from 0.1 s, capped at 0.25 s for a young wait; back to 0.1 s when the job moved.
    assert [round(s, 4) for s in script.sleeps] == [0.1, 0.15, 0.225, 0.25, 0.25, 0.25, 0.1]


def test_the_poll_interval_cap_grows_with_the_age_of_the_wait_up_to_poll_max() -> None:
    script = Script({GET_IMPORT_STATE: [*[state("ImportStarted", 10)] * 400, state("ImportCompleted")]})
    wait(script, poll_max=2.0)
    waited = 0.0
    for slept in script.sleeps:
        assert slept <= max(0.25, 0.05 * waited) + 1e-9 and slept <= 2.0
        waited += slept
    assert script.sleeps[-1] == 2.0


def test_timeout_raises_import_timeout_with_the_last_progress_and_never_sleeps_past_it() -> None:
    script = Script({GET_IMPORT_STATE: [state("ImportStarted", 40, rows=3)]})
    with pytest.raises(pi.ImportTimeoutError) as caught:
        wait(script, timeout=2.0)
    assert sum(script.sleeps) == pytest.approx(2.0)
    assert "not finished after 2s" in str(caught.value) and "7 Importing 40%" in str(caught.value)
    assert [(p.job_id, p.progress) for p in caught.value.progress] == [("7", 40)]
    assert isinstance(caught.value, TimeoutError)


def test_without_a_timeout_an_unreachable_server_is_ridden_out_for_the_grace_period_then_raised() -> None:
    down = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")
    script = Script({GET_IMPORT_STATE: [down]})
    started = script.clock()
    with pytest.raises(pi.ServerUnavailableError) as caught:
        wait(script, retry=Retry(attempts=1))  # no per-poll retry jitter: the schedule alone decides
    # checked after each failed poll: it ends on the first poll at or past the grace, at most one sleep (poll_max) late
    assert UNAVAILABLE_GRACE <= script.clock() - started <= UNAVAILABLE_GRACE + 2.0
    assert caught.value.__cause__ is down


def test_with_a_timeout_an_unreachable_server_ends_as_import_timeout_naming_it() -> None:
    script = Script({GET_IMPORT_STATE: [state("ImportStarted", 5), FakeRpcError(grpc.StatusCode.UNAVAILABLE, "gone")]})
    with pytest.raises(pi.ImportTimeoutError) as caught:
        wait(script, timeout=120)
    assert "unreachable at the end" in str(caught.value) and "gone" in str(caught.value)
    assert isinstance(caught.value.__cause__, pi.ServerUnavailableError)
    assert script.clock() - 1000.0 == pytest.approx(120)  # rode it out for the whole timeout, past the grace


def slow_server(script: Script, latency: float, answer: bytes) -> Any:
    """A GetImportState answer that takes ``latency`` seconds of the fake clock, cut off at the RPC's own deadline
    as gRPC would (DEADLINE_EXCEEDED after exactly ``rpc.timeout``)."""

    def respond(rpc: Rpc) -> bytes | FakeRpcError:
        if rpc.timeout is not None and latency > rpc.timeout:
            script.clock.advance(rpc.timeout)
            return FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        script.clock.advance(latency)
        return answer

    return respond


@settings(max_examples=200, deadline=None)
@given(
    timeout=st.floats(min_value=0.01, max_value=200.0),
    latency=st.floats(min_value=0.0, max_value=POLL_RPC_TIMEOUT * 0.99),
)
def test_a_server_that_answers_every_poll_is_never_called_unreachable_when_the_wait_times_out(
    timeout: float, latency: float
) -> None:
    # The rule: a poll cut off by the wait's own deadline is the wait timing out, not the server being away.
    script = Script()
    script.answers["GetImportState"] = [slow_server(script, latency, state("ImportStarted", 30, rows=3))]
    started = script.clock()
    with pytest.raises(pi.ImportTimeoutError) as caught:
        wait(script, timeout=timeout, retry=Retry(attempts=1))
    assert "unreachable" not in str(caught.value)
    assert script.clock() - started == pytest.approx(timeout, abs=1e-6)  # neither early nor late
    assert isinstance(caught.value, TimeoutError)


@settings(max_examples=50, deadline=None)
@given(timeout=st.floats(min_value=POLL_RPC_TIMEOUT * 1.01, max_value=600.0))
def test_a_poll_that_outlives_its_own_rpc_timeout_is_reported_as_the_server_not_answering(timeout: float) -> None:
    script = Script()
    script.answers["GetImportState"] = [slow_server(script, POLL_RPC_TIMEOUT * 10, state("ImportStarted", 30))]
    with pytest.raises(pi.ImportTimeoutError) as caught:
        wait(script, timeout=timeout, retry=Retry(attempts=1))
    assert "unreachable at the end" in str(caught.value)  # its own 30 s ran out, not the wait's
    assert isinstance(caught.value.__cause__, pi.DeadlineExceededError)


class LateSleeper(Script):
    """A loaded machine: every Sleep takes ``late`` seconds longer than asked."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    def _perform(self, effect: Any) -> Any:
        if isinstance(effect, Sleep):
            self.clock.advance(self.late)
        return super()._perform(effect)


@settings(max_examples=200, deadline=None)
@given(
    timeout=st.floats(min_value=0.001, max_value=5.0),
    rpc_time=st.floats(min_value=0.0, max_value=1.0),
    late=st.floats(min_value=0.0, max_value=1.0),
    attempts=st.integers(min_value=1, max_value=8),
)
def test_an_unreachable_server_is_reported_as_unavailable_however_the_time_runs_out(
    timeout: float, rpc_time: float, late: float, attempts: int
) -> None:
    # The rule: a call that ran out of time while retrying an unreachable server says the server was unreachable
    # (not "not sent: the timeout ran out"), whatever a loaded machine does to the timing.
    script = LateSleeper(late)

    def refused(rpc: Rpc) -> FakeRpcError:
        script.clock.advance(min(rpc_time, rpc.timeout if rpc.timeout is not None else rpc_time))
        return FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")

    script.answers["DescribeCollection"] = [refused]
    session = script.make_session(retry=Retry(attempts=attempts, initial=0.01, maximum=0.5))
    method = "/milvus.proto.milvus.MilvusService/DescribeCollection"
    flow = read_only_call(session, method, b"", session.deadline(timeout), (), CallOptions(timeout=timeout))
    with pytest.raises(pi.ServerUnavailableError, match="connection refused"):
        script.run(flow)


def test_a_server_that_comes_back_is_polled_on() -> None:
    down = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    limited = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate limit")
    script = Script({GET_IMPORT_STATE: [down, limited, state("ImportStarted", 5), state("ImportCompleted", rows=1)]})
    (final,) = wait(script)
    assert final.state == "Completed"


def test_a_failed_job_raises_with_every_final_state() -> None:
    script = Script({GET_IMPORT_STATE: [state("ImportCompleted", rows=5), state("ImportFailed", reason="bad row 3")]})
    with pytest.raises(pi.ImportFailedError) as caught:
        wait(script, jobs=["1", "2"])
    assert caught.value.reason == "bad row 3"
    assert [(p.job_id, p.state) for p in caught.value.progress] == [("1", "Completed"), ("2", "Failed")]


def test_a_job_that_vanishes_names_its_last_known_state() -> None:
    gone = state("ImportStarted", code=2100, reason="import job does not exist, jobID=7")
    script = Script({GET_IMPORT_STATE: [state("ImportStarted", 30, rows=4), gone]})
    with pytest.raises(pi.ImportJobNotFoundError, match=r"last known: Importing 30%, 4 rows"):
        wait(script)


def test_an_interruption_after_a_created_job_carries_its_id() -> None:
    script = Script({IMPORT: [ok_import(41)]})
    runner = Runner(flow(option([["/a.json"], ["/b.json"]])))
    runner.next_effect()
    runner.succeeded(ok_import(41))
    assert runner.next_effect() is not None  # group 1's Import is in flight when Ctrl-C comes
    interrupt = KeyboardInterrupt()
    runner.interrupted(interrupt)
    assert interrupt.created_job_ids == ("41",)  # type: ignore[attr-defined]
    assert script.effects == []


# ----------------------------------------------------------------------------------------------- issue 18 defects
job_numbers = st.integers(min_value=1, max_value=2**63 - 1)


@FLOW_PROPERTIES
@given(asked=st.lists(job_numbers, min_size=1, max_size=6).flatmap(lambda ids: st.permutations(ids + ids[:2])))
def test_duplicate_job_ids_collapse_to_one_job_in_the_order_asked(asked: list[int]) -> None:
    """issue 18 #1: ``wait_for_import([j, j])`` returned never (the wait counted the job twice)."""
    forms = [str(j) if i % 2 else j for i, j in enumerate(asked)]  # "7" and 7 are one job too
    script = Script({GET_IMPORT_STATE: [state("ImportCompleted", rows=3)]})
    final = wait(script, jobs=forms, timeout=10.0)
    expected = list(dict.fromkeys(str(j) for j in asked))
    assert [p.job_id for p in final] == expected
    assert all(p.state == "Completed" for p in final)
    assert len(script.rpcs(GET_IMPORT_STATE)) == len(expected)  # each job polled once, then done
    assert script.sleeps == []


TRANSIENT = [
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
]


@FLOW_PROPERTIES
@given(outage=st.lists(st.sampled_from(TRANSIENT), min_size=1, max_size=8))
def test_a_poll_answered_cancelled_is_ridden_out_like_unavailable(outage: list[grpc.StatusCode]) -> None:
    """issue 18 #9: a server going away answers CANCELLED; the wait rode out UNAVAILABLE but raised on CANCELLED."""
    answers = [FakeRpcError(code, "server going away") for code in outage]
    script = Script({GET_IMPORT_STATE: [state("ImportStarted", 10), *answers, state("ImportCompleted", rows=2)]})
    (final,) = wait(script, retry=Retry(attempts=1))
    assert (final.state, final.imported_rows) == ("Completed", 2)
    assert len(script.rpcs(GET_IMPORT_STATE)) == len(outage) + 2


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.UNKNOWN,
    ],
)
def test_a_poll_failing_for_good_ends_the_wait_at_once(code: grpc.StatusCode) -> None:
    script = Script({GET_IMPORT_STATE: [FakeRpcError(code, "no")]})
    with pytest.raises(pi.TransportError) as caught:
        wait(script)
    assert caught.value.code is code
    assert len(script.rpcs(GET_IMPORT_STATE)) == 1 and script.sleeps == []


# Strings with three dotted numbers that are not a Milvus release (issue 18 #20).
not_releases = st.one_of(
    st.builds(
        "{}{}.{}.{}".format,
        st.sampled_from(["milvus_lite-", "lite-", "zilliz-", "build ", "server/", "x"]),
        st.integers(0, 9),
        st.integers(0, 30),
        st.integers(0, 30),
    ),
    st.builds("{}.{}.{}".format, st.integers(100, 9999), st.integers(1, 12), st.integers(0, 31)),  # 2024.10.1
    st.builds("{}.{}.{} ({})".format, st.integers(2, 3), st.integers(0, 9), st.integers(0, 30), st.text(max_size=5)),
    st.sampled_from(["", "master-dev", "v2.6", "2.6.x", "v2.6.24\n", " v3.0.2", "V3.0.2", "v03.0.2", "3.0.2.1"]),
)


@FLOW_PROPERTIES
@given(version=not_releases)
def test_a_version_string_that_is_not_a_milvus_release_is_an_unknown_version(version: str) -> None:
    """issue 18 #20: not a release (``milvus_lite-3.2.2``, ``2024.10.1``): no Import retry, no version verdict."""
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection reset")
    script = Script({IMPORT: [unavailable, ok_import(77)], GET_VERSION: [version_reply(version)]})
    with pytest.raises(pi.ServerUnavailableError):
        script.run(flow(option(idempotency_key="idem-1")))
    assert len(script.rpcs()) == 1  # exactly one Import: the server may not dedupe
    for path in ("/d/a.csv", "/d/a.jsonl"):
        check_version(option([[path]]), version, db_name="")  # no verdict on a guess
    check_version(option(options=[("auto_commit", "false")]), version, db_name="")


@FLOW_PROPERTIES
@given(
    major=st.integers(0, 99),
    minor=st.integers(0, 9999),
    patch=st.integers(0, 9999),
    v=st.sampled_from(["", "v"]),
    suffix=st.sampled_from(["", "-lite", "-dev", "-rc.1", "-rc1-dev", "-gpu", "+9f1c2e", "-beta.2+build.7"]),
)
def test_a_milvus_release_string_is_read_as_its_version(
    major: int, minor: int, patch: int, v: str, suffix: str
) -> None:
    release = (major, minor, patch)
    version = f"{v}{major}.{minor}.{patch}{suffix}"
    script = Script(
        {IMPORT: [FakeRpcError(grpc.StatusCode.UNAVAILABLE), ok_import(5)], GET_VERSION: [version_reply(version)]}
    )
    dedupes = (2, 6, 24) <= release < (3, 0, 0) or release >= (3, 0, 2)
    if dedupes:
        assert script.run(flow(option())).job_ids == ("5",)
    else:
        with pytest.raises(pi.ServerUnavailableError):
            script.run(flow(option()))
    assert len(script.rpcs()) == (2 if dedupes else 1)
    if release < (2, 5, 0):
        with pytest.raises(pi.UnsupportedByServerError):
            check_version(option([["/d/a.csv"]]), version, db_name="")
    else:
        check_version(option([["/d/a.csv"]]), version, db_name="")


# ----------------------------------------------------------------------------------------------- the status tables
def test_every_grpc_status_has_a_class_or_a_documented_home() -> None:
    from pymilvus_import import _errors

    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        cls = _errors.GRPC_STATUS[code.name]
        assert issubclass(cls, pi.TransportError)
        assert code.name in (_errors.__doc__ or ""), f"{code.name} is not in the _errors docstring tree"
        error = _errors.from_grpc_error(FakeRpcError(code, "x"), target=TARGET, method=IMPORT)
        assert type(error) is cls and error.code is code and error.__cause__ is not None


@pytest.mark.parametrize(
    ("rpc", "code", "reason", "meaning"),
    [
        ("DescribeCollection", 100, "collection not found[collection=c]", pi.CollectionNotFoundError),
        ("DescribeCollection", 4, "", pi.CollectionNotFoundError),  # 2.3's legacy error_code
        ("DescribeCollection", 800, "database not found[database=d]", pi.DatabaseNotFoundError),
        ("DescribeCollection", 1100, "Invalid collection name: a-b", pi.InvalidCollectionNameError),
        ("DescribeCollection", 65535, "unexpected", None),
        ("GetImportState", 2100, "import job does not exist, jobID=7", pi.ImportJobNotFoundError),
        ("GetImportState", 1000, "key not found[key=7]", pi.ImportJobNotFoundError),
        ("GetImportState", 2100, "import failed: disk quota", None),
        ("GetImportState", 1100, "Invalid collection name: a-b", None),  # the same code means another thing here
        ("Import", 200, "partition not found[partition=zz]", pi.BulkImportError),
        ("Import", 1100, "import request is empty", pi.BulkImportError),
        ("ListImportTasks", 65535, "boom", None),
        ("ListImportTasks", 100, "collection not found[collection=nope]", pi.CollectionNotFoundError),
        ("ListImportTasks", 800, "database not found[database=d]", pi.DatabaseNotFoundError),
        ("ListImportTasks", 1100, "Invalid collection name: a-b", None),
        ("DescribeCollection", 0, "", None),
    ],
)
def test_one_table_says_what_a_milvus_status_means_per_rpc(rpc: str, code: int, reason: str, meaning: Any) -> None:
    from pymilvus_import._errors import milvus_status

    assert milvus_status(rpc, code, reason) is meaning
