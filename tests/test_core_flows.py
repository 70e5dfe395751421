"""The pure protocol flows of ``pymilvus_import._core``, driven with plain values (no network, no channel).

A flow yields effects (``Rpc``, ``Sleep``); the test plays the server: it decodes each ``Rpc.request`` with the
generated messages, answers with reply bytes or throws a ``grpc.RpcError`` into the flow, and checks what comes out.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

import pymilvus_import as pi
from pymilvus_import import _wire
from pymilvus_import._core import (
    CallOptions,
    Deadline,
    Identity,
    Retry,
    Rpc,
    Runner,
    Session,
    Sleep,
    bulk_import_flow,
    call_options,
    merge_metadata,
    read_only_call,
    server_version,
)
from pymilvus_import._generated import common_pb2, milvus_pb2

TARGET = "http://milvus.test:19530"
IMPORT = "/milvus.proto.milvus.MilvusService/Import"
GET_VERSION = "/milvus.proto.milvus.MilvusService/GetVersion"


class FakeRpcError(grpc.RpcError):
    """What a sync gRPC call raises: an RpcError with code() and details()."""

    def __init__(self, code: grpc.StatusCode, details: str = "injected") -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def ok_import(*tasks: int) -> bytes:
    return milvus_pb2.ImportResponse(status=common_pb2.Status(), tasks=list(tasks)).SerializeToString()


def refused(code: int = 0, reason: str = "", error_code: int = 0, retriable: bool = False) -> bytes:
    status = common_pb2.Status(code=code, error_code=error_code, reason=reason, retriable=retriable)
    return milvus_pb2.ImportResponse(status=status).SerializeToString()


def version_reply(version: str) -> bytes:
    return milvus_pb2.GetVersionResponse(status=common_pb2.Status(), version=version).SerializeToString()


Answer = bytes | BaseException | Callable[[Rpc], Any]


@dataclass
class Script:
    """Plays the server: per method, a queue of answers (bytes, an exception to throw, or a function of the Rpc)."""

    answers: dict[str, list[Answer]]
    effects: list[Rpc | Sleep] = field(default_factory=list)

    def run(self, flow: Any) -> Any:
        runner = Runner(flow)
        while (effect := runner.next_effect()) is not None:
            self.effects.append(effect)
            if isinstance(effect, Sleep):
                runner.succeeded(None)
                continue
            queue = self.answers[effect.method]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]  # the last answer repeats
            if callable(answer) and not isinstance(answer, BaseException):
                answer = answer(effect)
            if isinstance(answer, BaseException):
                runner.failed(answer)
            else:
                runner.succeeded(answer)
        return runner.result

    def rpcs(self, method: str = IMPORT) -> list[Rpc]:
        return [e for e in self.effects if isinstance(e, Rpc) and e.method == method]

    def requests(self) -> list[milvus_pb2.ImportRequest]:
        return [milvus_pb2.ImportRequest.FromString(rpc.request) for rpc in self.rpcs()]

    @property
    def sleeps(self) -> list[float]:
        return [e.seconds for e in self.effects if isinstance(e, Sleep)]


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
        call or call_options(),
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
    assert result.to_dict() == {"status": 0, "message": "", "data": {"jobId": "11"}}
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
        script.run(bulk_import_flow(Session(TARGET), Identity(), option(THREE_GROUPS), call_options()))
        keys += [r.idempotency_key for r in script.requests()]
    assert len(set(keys)) == 6
    assert all(k and k.isascii() and k.isprintable() and len(k) <= 256 for k in keys)


def test_call_options_are_passed_to_every_rpc_untouched() -> None:
    credentials, compression = object(), object()
    call = call_options(timeout=30, credentials=credentials, wait_for_ready=True, compression=compression)
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(THREE_GROUPS), call=call))
    rpcs = script.rpcs()
    assert len(rpcs) == 3
    for rpc in rpcs:
        assert rpc.credentials is credentials
        assert rpc.compression is compression
        assert rpc.wait_for_ready is True
        assert 29 < rpc.timeout <= 30
    assert rpcs[0].timeout >= rpcs[1].timeout >= rpcs[2].timeout  # one deadline for the whole call


def test_no_timeout_means_no_deadline() -> None:
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option()))
    assert script.rpcs()[0].timeout is None
    assert script.rpcs()[0].metadata == ()


# ----------------------------------------------------------------------------------------------- metadata
def test_metadata_is_the_users_entries_plus_authorization_and_dbname() -> None:
    identity = Identity(authorization=base64.b64encode(b"root:Milvus").decode(), db_name="db1")
    call = call_options(metadata=[("x-trace", "abc"), ("trace-bin", b"\x01")])
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
    identity = Identity(authorization="aWRlbnRpdHk=", db_name="db1")
    call = call_options(metadata=[("authorization", "bWluZQ=="), ("dbname", "theirs")])
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(api_key="from-option"), identity=identity, call=call))
    (rpc,) = script.rpcs()
    assert rpc.metadata == (("authorization", "bWluZQ=="), ("dbname", "theirs"))


def test_option_api_key_and_database_override_the_connection() -> None:
    identity = Identity(authorization="aWRlbnRpdHk=", db_name="db1")
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(api_key="key-42", database="db2"), identity=identity))
    (rpc,) = script.rpcs()
    assert dict(rpc.metadata) == {"authorization": base64.b64encode(b"key-42").decode(), "dbname": "db2"}
    assert script.requests()[0].db_name == "db2"


def test_no_credentials_and_no_database_add_nothing() -> None:
    script = Script({IMPORT: [ok_import(1)]})
    script.run(flow(option(), call=call_options(metadata=[("x-a", "1")])))
    assert script.rpcs()[0].metadata == (("x-a", "1"),)
    assert script.requests()[0].db_name == ""


@pytest.mark.parametrize(
    ("user", "auth", "db", "expected"),
    [
        ((), None, None, ()),
        ((), "QQ==", None, (("authorization", "QQ=="),)),
        ((), None, "db", (("dbname", "db"),)),
        ((("a", "1"),), "QQ==", "db", (("a", "1"), ("authorization", "QQ=="), ("dbname", "db"))),
        ((("authorization", "mine"),), "QQ==", "db", (("authorization", "mine"), ("dbname", "db"))),
        ((("dbname", "x"),), None, "db", (("dbname", "x"),)),
        ((), "", "", ()),
    ],
)
def test_merge_metadata(user: Any, auth: str | None, db: str | None, expected: Any) -> None:
    assert merge_metadata(user, auth, db) == expected


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
        (grpc.StatusCode.INVALID_ARGUMENT, pi.InvalidArgumentError),
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
    session = Session(TARGET, server_version="v3.0.2")
    script = Script({IMPORT: [unavailable, ok_import(1), unavailable, ok_import(2)], GET_VERSION: [AssertionError()]})
    result = script.run(flow(option([["/a.json"], ["/b.json"]]), session=session))
    assert result.job_ids == ("1", "2")
    assert script.rpcs(GET_VERSION) == []
    assert len(script.rpcs()) == 4


def test_get_version_failure_means_no_retry() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    script = Script(
        {IMPORT: [unavailable, ok_import(1)], GET_VERSION: [FakeRpcError(grpc.StatusCode.UNIMPLEMENTED, "no")]}
    )
    with pytest.raises(pi.ServerUnavailableError) as err:
        script.run(flow(option(), session=Session(TARGET, retry=Retry(initial=0.001))))
    assert err.value.__cause__ is unavailable
    assert len(script.rpcs()) == 1


def test_import_retry_is_bounded_by_attempts() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    session = Session(TARGET, retry=Retry(initial=0.01, maximum=0.04, attempts=4), server_version="v2.6.24")
    script = Script({IMPORT: [unavailable]})
    with pytest.raises(pi.ServerUnavailableError):
        script.run(flow(option(), session=session))
    assert len(script.rpcs()) == 4
    assert len(script.sleeps) == 3
    assert all(0.005 <= s <= 0.04 for s in script.sleeps)


def test_import_retry_never_sleeps_past_the_deadline() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    session = Session(TARGET, retry=Retry(initial=10, maximum=10), server_version="v3.0.2")
    script = Script({IMPORT: [unavailable]})
    with pytest.raises(pi.ServerUnavailableError):
        script.run(flow(option(), session=session, call=call_options(timeout=2)))
    assert len(script.rpcs()) == 1
    assert script.sleeps == []


def test_read_only_retry_is_bounded_and_jittered() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down")
    session = Session(TARGET, retry=Retry(initial=0.1, maximum=0.3, multiplier=2, attempts=5))
    script = Script({GET_VERSION: [unavailable]})
    call = call_options()
    with pytest.raises(pi.ServerUnavailableError) as err:
        script.run(
            read_only_call(
                session,
                GET_VERSION,
                b"",
                _wire.decode_get_version_response,
                Deadline(None),
                (),
                call,
            )
        )
    assert err.value.__cause__ is unavailable
    assert len(script.rpcs(GET_VERSION)) == 5
    caps = [0.1, 0.2, 0.3, 0.3]
    assert len(script.sleeps) == 4
    for slept, cap in zip(script.sleeps, caps, strict=True):
        assert cap / 2 <= slept <= cap


def test_read_only_retry_recovers() -> None:
    unavailable = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
    session = Session(TARGET, retry=Retry(initial=0.01))
    script = Script({GET_VERSION: [unavailable, unavailable, version_reply("v2.4.10")]})
    version = script.run(server_version(session, Deadline(5), (), call_options(timeout=5)))
    assert version == "v2.4.10"
    assert len(script.rpcs(GET_VERSION)) == 3
    assert len(script.sleeps) == 2


def test_read_only_calls_do_not_retry_other_codes_or_past_the_deadline() -> None:
    script = Script({GET_VERSION: [FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "missing authorization")]})
    with pytest.raises(pi.AuthenticationError):
        script.run(server_version(Session(TARGET), Deadline(None), (), call_options()))
    assert len(script.effects) == 1

    session = Session(TARGET, retry=Retry(initial=5, maximum=5))
    script = Script({GET_VERSION: [FakeRpcError(grpc.StatusCode.UNAVAILABLE)]})
    with pytest.raises(pi.ServerUnavailableError):
        script.run(server_version(session, Deadline(1), (), call_options(timeout=1)))
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
        time.sleep(0.06)
        return ok_import(1)

    script = Script({IMPORT: [slow, ok_import(2)]})
    with pytest.raises(pi.DeadlineExceededError) as err:
        script.run(flow(option([["/a.json"], ["/b.json"]]), call=call_options(timeout=0.05)))
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
    bad = pi.new_bulk_import_option(TARGET, "books", [["/a.json", "/b.json"]])
    runner = Runner(flow(bad))
    with pytest.raises(pi.InvalidInputError, match=r"/b\.json"):
        runner.next_effect()


def test_repr_of_effects_and_identity_hide_nothing_they_should_not() -> None:
    identity = Identity(authorization=base64.b64encode(b"tok-Identity-991").decode(), db_name="db1")
    assert "dG9r" not in repr(identity)
    assert "***" in repr(identity)
