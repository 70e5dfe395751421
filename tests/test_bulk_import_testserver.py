"""``bulk_import`` end to end against the in-process Milvus 2.4+ TEST server (fake_milvus.Milvus24TestServer).

Everything goes through the public API (``import pymilvus_import as pi``); the server's request log is the witness of
what reached the wire.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable

import grpc
import helpers
import pytest
from fake_milvus import JOB_ID_BASE, Fault, Milvus24TestServer

import pymilvus_import as pi
from pymilvus_import._generated import milvus_pb2
from tools import milvus_pb2_grpc

THREE = [["/d/a.json"], ["/d/g/id.npy", "/d/g/vec.npy"], ["/d/c.parquet"]]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


pytestmark = pytest.mark.test_server(
    version="v2.4.10",
    collections=({"name": "coll", "partitions": ("_default", "p1")}, {"name": "c2", "db_name": "db2"}),
)


# ------------------------------------------------------------------------------------------------ one job per group
def test_one_import_and_one_job_per_group_in_order(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    response = client.bulk_import(helpers.option(THREE, uri=server.uri).with_partition("p1"))

    calls = server.requests_for("Import")
    assert [list(c.request.files) for c in calls] == THREE
    assert all(c.request.collection_name == "coll" and c.request.partition_name == "p1" for c in calls)
    assert server.import_count() == 3
    expected = tuple(str(JOB_ID_BASE + i) for i in range(3))
    assert response.job_ids == expected
    assert response.data.job_ids == expected
    assert response.job_id == response.data.job_id == expected[0]
    assert (response.status, response.message) == (0, "")
    assert response.to_dict() == {"status": 0, "message": "", "data": {"jobId": expected[0], "jobIds": list(expected)}}
    assert sorted(server.jobs) == [int(i) for i in expected]
    assert [server.jobs[int(i)].files for i in expected] == THREE


def test_response_is_frozen(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    response = client.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri))
    with pytest.raises(AttributeError):
        response.status = 1  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------ idempotency key
def test_fresh_random_idempotency_key_per_group(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    option = helpers.option(THREE, uri=server.uri)
    client.bulk_import(option)
    client.bulk_import(option)
    keys = [c.request.idempotency_key for c in server.requests_for("Import")]
    assert len(keys) == 6
    assert len(set(keys)) == 6  # fresh per group and per call
    assert all(re.fullmatch(r"[ -~]{1,256}", k) for k in keys)


def test_user_idempotency_key_on_the_wire(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    client.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri).with_idempotency_key("nightly-2024-05-01"))
    client.bulk_import(helpers.option(THREE, uri=server.uri).with_idempotency_key("batch-7"))
    keys = [c.request.idempotency_key for c in server.requests_for("Import")]
    assert keys == ["nightly-2024-05-01", "batch-7#0", "batch-7#1", "batch-7#2"]


def test_a_repeated_call_with_the_same_key_returns_the_same_job_on_a_deduping_server(
    start_test_server: Callable[..., Milvus24TestServer],
) -> None:
    srv = start_test_server(version="v3.0.2", collections=("coll",))
    with pi.ImportClient(srv.uri) as c:
        option = pi.new_bulk_import_option(srv.uri, "coll", THREE).with_idempotency_key("once")
        first = c.bulk_import(option)
        second = c.bulk_import(option)
        assert first.job_ids == second.job_ids
        assert srv.import_count() == 3


# ------------------------------------------------------------------------------------------------ partial failure
def test_partial_failure_from_a_status_on_the_second_call(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    server.inject("Import", Fault.delay(0), Fault.status(2100, "The number of jobs has reached the limit", True))
    with pytest.raises(pi.BulkImportError) as err:
        client.bulk_import(helpers.option(THREE, uri=server.uri))
    error = err.value
    first_id = str(JOB_ID_BASE)
    assert error.created_job_ids == (first_id,)
    assert error.group_index == 1
    assert error.failed_group == tuple(THREE[1])
    assert error.status == 2100
    assert error.server_message == "The number of jobs has reached the limit"
    assert error.retriable is True
    assert isinstance(error.response, pi.BulkImportResponse)
    assert (error.response.status, error.response.message) == (2100, "The number of jobs has reached the limit")
    assert first_id in str(error) and "/d/g/id.npy" in str(error)
    assert len(server.requests_for("Import")) == 2  # the third group was not sent
    assert server.import_count() == 1


def test_partial_failure_when_the_server_refuses_a_later_group(server: Milvus24TestServer) -> None:
    """CSV needs Milvus 2.5: a 2.4.10 server refuses the second group; the first job is reported, not lost."""
    option = helpers.option([["/d/a.json"], ["/d/b.csv"], ["/d/c.json"]], uri=server.uri)
    with pytest.raises(pi.UnsupportedByServerError, match=r"'/d/b\.csv' in group 1 is CSV.*2\.5"):
        pi.bulk_import(option)  # the preflight knows it from the server's version: nothing is sent
    assert server.import_count() == 0
    with pytest.raises(pi.BulkImportError) as err:
        pi.bulk_import(option, preflight=False)
    assert err.value.created_job_ids == (str(JOB_ID_BASE),)
    assert err.value.status == 2100
    assert "unexpected file type" in err.value.server_message
    assert err.value.retriable is False
    assert err.value.failed_group == ("/d/b.csv",)


def test_too_many_active_jobs_is_retriable_and_keeps_earlier_ids(
    start_test_server: Callable[..., Milvus24TestServer],
) -> None:
    srv = start_test_server(max_active_jobs=2, collections=("coll",))
    with pi.ImportClient(srv.uri) as c, pytest.raises(pi.BulkImportError) as err:
        c.bulk_import(pi.new_bulk_import_option(srv.uri, "coll", THREE))
    assert err.value.created_job_ids == (str(JOB_ID_BASE), str(JOB_ID_BASE + 1))
    assert (err.value.status, err.value.retriable, err.value.group_index) == (2100, True, 2)


@pytest.mark.parametrize(
    ("collection", "partition", "status", "text"),
    [
        ("nope", "", 100, "collection not found[database=default][collection=nope]"),
        ("coll", "zz", 200, "partition not found[partition=zz]"),
    ],
)
def test_server_refusals_on_the_first_group(
    server: Milvus24TestServer, client: pi.ImportClient, collection: str, partition: str, status: int, text: str
) -> None:
    """The server's own refusals (the preflight, on by default, stops these before the Import: see
    test_preflight_testserver.py)."""
    with pytest.raises(pi.BulkImportError) as err:
        client.bulk_import(
            helpers.option(THREE, collection=collection, uri=server.uri).with_partition(partition), preflight=False
        )
    assert err.value.status == status
    assert err.value.server_message == text
    assert text in str(err.value)
    assert err.value.created_job_ids == ()
    assert err.value.group_index == 0
    assert err.value.response.data.job_ids == ()
    assert len(server.requests_for("Import")) == 1


@pytest.mark.parametrize(
    "reply",
    [milvus_pb2.ImportResponse(status={}), b"\xff\xfe\xfd"],
    ids=["no-task-id", "undecodable"],
)
def test_malformed_reply(server: Milvus24TestServer, client: pi.ImportClient, reply: object) -> None:
    server.inject("Import", Fault.delay(0), Fault.raw(reply) if isinstance(reply, bytes) else Fault.reply(reply))
    with pytest.raises(pi.MalformedReplyError) as err:
        client.bulk_import(helpers.option(THREE, uri=server.uri))
    assert err.value.created_job_ids == (str(JOB_ID_BASE),)
    assert err.value.group_index == 1


# ------------------------------------------------------------------------------------------------ call options
def test_call_options_reach_the_server(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    client.bulk_import(
        helpers.option([["/d/a.json"]], uri=server.uri),
        timeout=5,
        metadata=[("x-request-id", "req-42"), ("trace-bin", b"\x00\x01\x02")],
        compression=grpc.Compression.Gzip,
        wait_for_ready=True,
    )
    (call,) = server.requests_for("Import")
    # gRPC sends the deadline as a rounded grpc-timeout header: allow a few ms above the timeout
    assert call.time_remaining is not None and 4.0 < call.time_remaining <= 5.05
    assert call.metadata["x-request-id"] == "req-42"
    assert call.metadata["trace-bin"] == b"\x00\x01\x02"
    assert "authorization" not in call.metadata and "dbname" not in call.metadata


def test_timeout_is_one_deadline_for_all_groups(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    server.inject("Import", Fault.delay(0.2))
    client.bulk_import(helpers.option([["/d/a.json"], ["/d/b.json"]], uri=server.uri), timeout=3)
    first, second = (c.time_remaining for c in server.requests_for("Import"))
    assert first is not None and second is not None
    assert 2.5 < first <= 3.05
    assert second < first - 0.15


def test_no_timeout_means_no_deadline(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    client.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri))
    assert server.requests_for("Import")[0].time_remaining is None


# ------------------------------------------------------------------------------------------------ auth and database
@pytest.mark.parametrize(
    "how",
    ["token", "user-password", "uri-credentials", "uri-credentials-percent-encoded", "option-api-key", "env-token"],
)
def test_authorization_metadata_is_base64_of_the_token(
    server: Milvus24TestServer, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "root:Mil@vus"
    server.require_token = token
    option = helpers.option([["/d/a.json"]], uri=server.uri)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    if how == "token":
        client = pi.ImportClient(server.uri, token=token)
    elif how == "user-password":
        client = pi.ImportClient(server.uri, user="root", password="Mil@vus")
    elif how == "uri-credentials":
        client = pi.ImportClient(f"http://root:Mil@vus@{server.address}")
    elif how == "uri-credentials-percent-encoded":
        client = pi.ImportClient(f"http://root:Mil%40vus@{server.address}")
    elif how == "env-token":
        monkeypatch.setenv("MILVUS_TOKEN", token)
        client = pi.ImportClient(server.uri)
    else:
        client = pi.ImportClient(server.uri)
        option = option.with_api_key(token)
    with client:
        response = client.bulk_import(option)
    assert len(response.job_ids) == 1
    (call,) = server.requests_for("Import")
    assert call.metadata["authorization"] == b64(token)


def test_a_user_authorization_entry_wins(server: Milvus24TestServer) -> None:
    server.require_token = "root:Milvus"
    with pi.ImportClient(server.uri, token="someone:else") as c:
        c.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri), metadata=[("authorization", b64("root:Milvus"))])
    (call,) = server.requests_for("Import")
    assert call.metadata["authorization"] == b64("root:Milvus")


@pytest.mark.parametrize("how", ["client-db-name", "uri-path", "option-with-database", "module-uri-path"])
def test_database_goes_in_the_request_and_the_dbname_header(server: Milvus24TestServer, how: str) -> None:
    option = pi.new_bulk_import_option("", "c2", [["/d/a.json"]])
    if how == "client-db-name":
        with pi.ImportClient(server.uri, db_name="db2") as c:
            response = c.bulk_import(option)
    elif how == "uri-path":
        with pi.ImportClient(f"{server.uri}/db2") as c:
            response = c.bulk_import(option)
    elif how == "option-with-database":
        with pi.ImportClient(f"{server.uri}/default") as c:
            response = c.bulk_import(option.with_database("db2"))
    else:
        response = pi.bulk_import(pi.new_bulk_import_option(f"{server.uri}/db2", "c2", [["/d/a.json"]]))
    (call,) = server.requests_for("Import")
    assert call.request.db_name == "db2"
    assert call.metadata["dbname"] == "db2"
    assert server.jobs[int(response.job_id)].db_name == "db2"


def test_client_honours_the_database_in_the_options_uri(server: Milvus24TestServer) -> None:
    option = pi.new_bulk_import_option(f"{server.uri}/db2", "c2", [["/d/a.json"]])
    assert pi.bulk_import(option).job_ids == (str(JOB_ID_BASE),)  # module level: into db2
    with pi.ImportClient(server.uri) as c:
        try:
            c.bulk_import(option)
        except pi.InvalidInputError:  # refusing the mismatch before any RPC would be fine too
            assert len(server.requests_for("Import")) == 1
            return
    second = server.requests_for("Import")[1]
    assert second.request.db_name == "db2"


def test_unknown_database(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    with pytest.raises(pi.DatabaseNotFoundError, match="database 'nodb' does not exist") as refused:
        client.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri).with_database("nodb"))
    assert refused.value.db_name == "nodb" and server.import_count() == 0
    with pytest.raises(pi.BulkImportError) as err:
        client.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri).with_database("nodb"), preflight=False)
    assert err.value.status == 800
    assert "database not found[database=nodb]" in str(err.value)


# ------------------------------------------------------------------------------------------------ retry policy
def test_no_blind_retry_on_an_ambiguous_failure(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    """v2.4.10 ignores idempotency keys: the job may exist, so a retry could duplicate it. Raise instead."""
    server.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "connection reset", after_receive=True))
    with pytest.raises(pi.ServerUnavailableError) as err:
        client.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri))
    assert server.import_count() == 1
    assert len(server.requests_for("Import")) == 1
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert err.value.details == "connection reset"
    assert isinstance(err.value.__cause__, grpc.RpcError)


@pytest.mark.parametrize("version", ["v2.6.24", "v3.0.2"])
def test_retry_with_the_same_key_on_a_deduping_server(
    start_test_server: Callable[..., Milvus24TestServer], version: str
) -> None:
    srv = start_test_server(version=version, collections=("coll",))
    with pi.ImportClient(srv.uri) as c:
        srv.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "connection reset", after_receive=True))
        response = c.bulk_import(pi.new_bulk_import_option(srv.uri, "coll", [["/d/a.json"]]))
        imports = srv.requests_for("Import")
        assert len(imports) == 2
        assert imports[0].request.idempotency_key == imports[1].request.idempotency_key != ""
        assert srv.import_count() == 1
        assert response.job_ids == (str(JOB_ID_BASE),)
        assert len(srv.requests_for("GetVersion")) == 1


def test_version_is_asked_once_per_channel(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    srv = start_test_server(version="v2.6.24", collections=("coll",))
    with pi.ImportClient(srv.uri) as c:
        for _ in range(3):
            srv.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, after_receive=False))
            c.bulk_import(pi.new_bulk_import_option(srv.uri, "coll", [["/d/a.json"]]))
        assert len(srv.requests_for("GetVersion")) == 1
        assert len(srv.requests_for("Import")) == 6
        assert srv.import_count() == 3


# ------------------------------------------------------------------------------------------------ transport errors
def test_unauthenticated_is_an_authentication_error(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    server.require_token = "root:Milvus"
    with pytest.raises(pi.AuthenticationError) as err:
        client.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri))
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details == "missing authorization in header"
    assert err.value.target == server.uri
    assert isinstance(err.value.__cause__, grpc.RpcError)
    assert server.import_count() == 0

    with pi.ImportClient(server.uri, user="root", password="wrong") as c, pytest.raises(pi.AuthenticationError) as err:
        c.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri))
    assert "auth check failure" in err.value.details


def test_deadline_exceeded_is_also_a_timeout_error(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    server.inject("Import", Fault.delay(3))
    with pytest.raises(pi.DeadlineExceededError) as err:
        client.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri), timeout=0.3)
    assert isinstance(err.value, TimeoutError)
    assert isinstance(err.value, pi.TransportError)
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert err.value.target == server.uri
    assert isinstance(err.value.__cause__, grpc.RpcError)
    assert server.wait_idle(5)
    assert server.import_count() == 0
    assert len(server.requests_for("Import")) == 1


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, pi.RateLimitedError),
        (grpc.StatusCode.PERMISSION_DENIED, pi.PermissionDeniedError),
        (grpc.StatusCode.INVALID_ARGUMENT, pi.ServerInvalidArgumentError),
        (grpc.StatusCode.INTERNAL, pi.TransportError),
    ],
)
def test_transport_error_mapping(
    server: Milvus24TestServer, client: pi.ImportClient, code: grpc.StatusCode, cls: type
) -> None:
    server.inject("Import", Fault.delay(0), Fault.abort(code, "rate limit exceeded[rate=0.1]", after_receive=False))
    with pytest.raises(cls) as err:
        client.bulk_import(helpers.option(THREE, uri=server.uri))
    error = err.value
    assert type(error) is cls
    assert error.code == code
    assert error.details == "rate limit exceeded[rate=0.1]"
    assert error.target == server.uri
    assert error.method.endswith("/Import")
    assert isinstance(error.__cause__, grpc.RpcError)
    assert error.__cause__.code() == code
    assert error.created_job_ids == (str(JOB_ID_BASE),)
    assert code.name in str(error) and server.uri in str(error)
    assert len(server.requests_for("Import")) == 2  # never retried
    assert server.import_count() == 1


def test_unreachable_server_is_unavailable() -> None:
    with Milvus24TestServer() as srv:
        uri = srv.uri
    client = pi.ImportClient(uri, retry=pi.Retry(initial=0.01, attempts=2))
    with client as c, pytest.raises(pi.ServerUnavailableError) as err:
        c.bulk_import(pi.new_bulk_import_option(uri, "coll", [["/d/a.json"]]), timeout=5)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert err.value.target == uri


# ------------------------------------------------------------------------------------------------ channels
def test_module_level_bulk_import_reuses_one_cached_channel(server: Milvus24TestServer) -> None:
    for _ in range(3):
        pi.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri))
    assert helpers.open_connections(server.address) == 1
    peers = {c.peer for c in server.requests_for("Import")}
    assert len(peers) == 1  # one connection, never redialled
    assert server.import_count() == 3


def test_module_level_bulk_import_uses_milvus_uri(server: Milvus24TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_URI", server.uri)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    response = pi.bulk_import(pi.new_bulk_import_option("", "coll", [["/d/a.json"]]))
    assert response.job_ids == (str(JOB_ID_BASE),)


def test_user_supplied_channel_is_used_and_not_closed(server: Milvus24TestServer) -> None:
    channel = grpc.insecure_channel(server.address)
    try:
        with pi.ImportClient(channel=channel, token="root:Milvus") as c:
            response = c.bulk_import(pi.new_bulk_import_option("", "coll", [["/d/a.json"]]))
        assert response.job_ids == (str(JOB_ID_BASE),)
        assert server.requests_for("Import")[0].metadata["authorization"] == b64("root:Milvus")
        c.close()
        # still open: a call on the user's channel works after the client was closed (twice)
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        assert stub.GetVersion(milvus_pb2.GetVersionRequest(), timeout=5).version == "v2.4.10"
    finally:
        channel.close()


def test_owned_channel_is_closed(server: Milvus24TestServer) -> None:
    c = pi.ImportClient(server.uri)
    c.bulk_import(helpers.option([["/d/a.json"]], uri=server.uri))
    c.close()
    with pytest.raises(pi.ClientClosedError):
        c.bulk_import(helpers.option([["/d/b.json"]], uri=server.uri))


# ------------------------------------------------------------------------------------------------ secrets
TOKEN = "tok-Vx93-DISTINCT-SECRET-4417"
PASSWORD = "pw-Lq27-DISTINCT-SECRET-8805"


def test_secrets_never_appear_in_reprs_errors_or_logs(
    start_test_server: Callable[..., Milvus24TestServer],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    texts: list[str] = []

    def keep(*objects: object) -> None:
        for obj in objects:
            texts.extend([repr(obj), str(obj)])
            if isinstance(obj, BaseException):
                texts.extend(repr(a) for a in obj.args)
                texts.extend(repr(v) for v in vars(obj).values())

    srv = start_test_server(version="v2.6.24", require_token=TOKEN, collections=("coll",))
    option = pi.new_bulk_import_option(srv.uri, "coll", [["/d/a.json"], ["/d/b.json"]])
    with pi.ImportClient(srv.uri, token=TOKEN) as c:
        keep(c)
        srv.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, after_receive=True))
        keep(c.bulk_import(option))  # retried, with debug logs
        for fault in (Fault.abort(grpc.StatusCode.INTERNAL), Fault.status(1100, "bad request")):
            srv.inject("Import", fault)
            with pytest.raises(pi.MilvusImportError) as err:
                c.bulk_import(option)
            keep(err.value, err.value.__cause__)
        with pytest.raises(pi.BulkImportError) as err:
            c.bulk_import(pi.new_bulk_import_option("", "nope", [["/d/a.json"]]), preflight=False)
        keep(err.value)
        with pytest.raises(pi.CollectionNotFoundError) as refused:
            c.bulk_import(pi.new_bulk_import_option("", "nope", [["/d/a.json"]]))
        keep(refused.value)

    keyed = option.with_api_key(TOKEN)
    keep(keyed)
    keep(pi.bulk_import(keyed))

    srv.require_token = f"root:{PASSWORD}"
    uri = f"http://root:{PASSWORD}@{srv.address}"
    with_password = pi.new_bulk_import_option(uri, "coll", [["/d/c.json"]])
    keep(with_password)
    keep(pi.bulk_import(with_password))
    with pi.ImportClient(uri) as c:
        keep(c)
        srv.require_token = "someone-else"
        with pytest.raises(pi.AuthenticationError) as auth_err:
            c.bulk_import(with_password)
        keep(auth_err.value)
    with pi.ImportClient(srv.uri, user="root", password=PASSWORD) as c:
        keep(c)
        with pytest.raises(pi.AuthenticationError) as auth_err:
            c.bulk_import(option.with_api_key(TOKEN))
        keep(auth_err.value)

    logged = [caplog.text] + [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    assert any("retrying" in text for text in logged)  # the debug logs were captured
    for secret in (TOKEN, PASSWORD, b64(TOKEN), b64(f"root:{PASSWORD}")):
        for text in texts + logged:
            assert secret not in text
