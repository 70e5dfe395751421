"""AsyncImportClient against the Milvus 2.4+ TEST server: the sync client's behaviour, awaited.

Each test drives its coroutine with ``asyncio.run``; where behaviour must match the sync client exactly (errors,
validation, retries), the same call is made through both clients and what a user would see is compared.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import grpc.aio
import helpers
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fake_milvus import Fault, Milvus24TestServer, Step, stuck_at_80

import pymilvus_import as pi
from pymilvus_import._generated import milvus_pb2

GET_VERSION = "/milvus.proto.milvus.MilvusService/GetVersion"


def run_async(uri: str, use: Callable[[pi.AsyncImportClient], Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
    """``use(client)`` on a fresh AsyncImportClient inside ``asyncio.run``; the client is closed afterwards."""

    async def main() -> Any:
        async with pi.AsyncImportClient(uri, **kwargs) as client:
            return await use(client)

    return asyncio.run(main())


def error_of(call: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or the exception it raised."""
    try:
        return call()
    except Exception as error:
        return error


def seen_by_user(error: BaseException) -> tuple[Any, ...]:
    """What a user can observe of an error: its class, message and attributes (not the grpc cause's class)."""
    return (type(error), str(error), getattr(error, "code", None), getattr(error, "created_job_ids", None))


# ------------------------------------------------------------------------------------------------- basics
def test_import_wait_list_and_version(server: Milvus24TestServer) -> None:
    seen: list[tuple[str, str, int]] = []

    async def use(client: pi.AsyncImportClient) -> Any:
        response = await client.bulk_import(helpers.option([["a.json"], ["b.parquet"]]).with_partition("p1"), timeout=5)
        final = await client.wait_for_import(
            response,
            on_progress=lambda p: seen.append((p.job_id, p.state, p.progress)),
            poll_initial=0.01,
            poll_max=0.05,
        )
        return response, final, await client.list_import_jobs("coll"), await client.server_version()

    response, final, listed, version = run_async(server.uri, use)
    assert len(response.job_ids) == 2 and response.job_id == response.job_ids[0]
    assert [(p.job_id, p.state, p.imported_rows) for p in final] == [(j, "Completed", 1000) for j in response.job_ids]
    assert {state for _, state, _ in seen} == {"Pending", "Importing", "Completed"}
    assert [r.state for r in listed] == ["Completed", "Completed"]
    assert version == "v2.4.10"
    assert all(server.jobs[int(j)].partition_name == "p1" for j in response.job_ids)


def test_client_built_outside_the_loop_opens_its_channel_inside_it(server: Milvus24TestServer) -> None:
    client = pi.AsyncImportClient(server.uri, db_name="default")
    assert repr(client) == f"AsyncImportClient(target='{server.uri}', db_name='default')"

    async def main() -> str:
        async with client:
            return (await client.bulk_import(helpers.option())).job_id

    assert int(asyncio.run(main())) in server.jobs


def test_call_options_and_credentials_reach_the_server(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    srv = start_test_server(require_token="root:Milvus", collections=({"name": "coll", "db_name": "db2"},))

    async def use(client: pi.AsyncImportClient) -> pi.BulkImportResponse:
        return await client.bulk_import(helpers.option(), timeout=5, metadata=[("x-trace", "t-1")])

    run_async(srv.uri, use, user="root", password="Milvus", db_name="db2")
    (call,) = srv.requests_for("Import")
    assert call.metadata["x-trace"] == "t-1" and call.metadata["dbname"] == "db2"
    assert call.time_remaining is not None and 0 < call.time_remaining <= 5.1
    denied = error_of(lambda: run_async(srv.uri, use, token="root:wrong", db_name="db2"))
    assert isinstance(denied, pi.AuthenticationError)
    with pi.ImportClient(srv.uri, token="root:wrong", db_name="db2") as sync:
        assert seen_by_user(denied) == seen_by_user(error_of(lambda: sync.bulk_import(helpers.option(), timeout=5)))


@pytest.mark.slow  # a load test: 1000 calls
def test_thousand_concurrent_bulk_imports_on_one_client(server: Milvus24TestServer) -> None:
    async def use(client: pi.AsyncImportClient) -> list[pi.BulkImportResponse | BaseException]:
        calls = [client.bulk_import(helpers.option([[f"part-{i}.parquet"]]), timeout=60) for i in range(1000)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = run_async(server.uri, use)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len({r.job_id for r in results}) == 1000
    assert server.import_count() == 1000 and len(server.requests_for("Import")) == 1000


def test_waits_follow_many_jobs_concurrently_without_blocking_the_loop(server: Milvus24TestServer) -> None:
    server.add_collection("slow", script=stuck_at_80(polls=20))
    server.add_collection("rows", script=[Step("Importing", 50), Step("Completed", 100, rows=7)])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async def use(client: pi.AsyncImportClient) -> list[Any]:
        jobs = [await client.bulk_import(helpers.option(collection=name)) for name in ("coll", "slow", "rows", "coll")]
        failing = await client.bulk_import(helpers.option([["fail_missing.json"]]))
        ticking = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *(client.wait_for_import(job, timeout=30, poll_initial=0.01, poll_max=0.05) for job in [*jobs, failing]),
            return_exceptions=True,
        )
        ticking.cancel()
        return results

    started = time.monotonic()
    *done, failed = run_async(server.uri, use)
    elapsed = time.monotonic() - started
    assert [(p.state, p.imported_rows) for (p,) in done] == [
        ("Completed", 1000),
        ("Completed", 1000),
        ("Completed", 7),
        ("Completed", 1000),
    ]
    assert isinstance(failed, pi.ImportFailedError) and "does not exist" in failed.reason
    # The slow job needed 23 polls; the waits ran side by side, and the loop kept ticking all along.
    assert len(server.requests_for("GetImportState")) >= 4 + 23 + 2
    assert ticks >= elapsed / 0.005 / 4


# ------------------------------------------------------------------------------------------------- cancellation
def test_cancelling_bulk_import_cancels_the_rpc_and_keeps_the_client_usable(
    start_test_server: Callable[..., Milvus24TestServer],
) -> None:
    srv = start_test_server(version="v2.6.24", collections=("coll",))
    srv.inject("Import", Fault.delay(10.0))

    async def use(client: pi.AsyncImportClient) -> tuple[float, pi.BulkImportResponse]:
        task = asyncio.create_task(client.bulk_import(helpers.option(), timeout=30))
        await asyncio.sleep(0.1)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        cancelled_after = time.monotonic() - started
        assert await asyncio.to_thread(srv.wait_idle, 2.0)  # the server saw the client leave
        return cancelled_after, await client.bulk_import(helpers.option(), timeout=5)

    cancelled_after, again = run_async(srv.uri, use)
    assert cancelled_after < 0.5
    # The cancelled call created nothing, was not retried, and no version probe ran: CancelledError never
    # reached the flow's retry logic.
    assert srv.import_count() == 1 and list(srv.jobs) == [int(again.job_id)]
    assert len(srv.requests_for("Import")) == 2 and srv.requests_for("GetVersion") == []


def test_cancelling_wait_for_import_mid_poll_and_between_polls(server: Milvus24TestServer) -> None:
    server.add_collection("stuck", script=stuck_at_80(polls=10**6))

    async def cancel_after(seconds: float, coro: Coroutine[Any, Any, Any]) -> float:
        task = asyncio.create_task(coro)
        await asyncio.sleep(seconds)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    async def use(client: pi.AsyncImportClient) -> tuple[float, float, pi.ImportProgress]:
        job = await client.bulk_import(helpers.option(collection="stuck"))
        sleeping = await cancel_after(0.2, client.wait_for_import(job, poll_initial=0.05, poll_max=0.05))
        server.inject("GetImportState", Fault.delay(10.0))
        polling = await cancel_after(0.2, client.wait_for_import(job, poll_initial=0.01, poll_max=0.05))
        assert await asyncio.to_thread(server.wait_idle, 2.0)
        return sleeping, polling, await client.get_import_progress(job.job_id)

    sleeping, polling, progress = run_async(server.uri, use)
    assert sleeping < 0.5 and polling < 0.5
    assert progress.state == "Importing" and progress.progress == 80


# ------------------------------------------------------------------------------------------------- same as sync
def test_deadline_exceeded_maps_exactly_as_in_sync(server: Milvus24TestServer) -> None:
    server.inject("Import", Fault.delay(3.0), Fault.delay(3.0))

    async def use(client: pi.AsyncImportClient) -> pi.BulkImportResponse:
        return await client.bulk_import(helpers.option([["a.json"], ["b.json"]]), timeout=0.3)

    started = time.monotonic()
    async_error = error_of(lambda: run_async(server.uri, use))
    assert time.monotonic() - started < 2.0
    with pi.ImportClient(server.uri) as sync:
        sync_error = error_of(lambda: sync.bulk_import(helpers.option([["a.json"], ["b.json"]]), timeout=0.3))
    assert isinstance(async_error, pi.DeadlineExceededError) and isinstance(async_error, TimeoutError)
    assert async_error.code == grpc.StatusCode.DEADLINE_EXCEEDED and async_error.group_index == 0
    assert seen_by_user(async_error) == seen_by_user(sync_error)
    assert isinstance(async_error.__cause__, grpc.aio.AioRpcError)
    assert server.import_count() == 0


NOT_AN_OPTION: Any = "books.json"
VALIDATION_CASES: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "not an option": ("bulk_import", (NOT_AN_OPTION,), {}),
    "backup without partition": ("bulk_import", (helpers.option().with_option("backup", "true"),), {}),
    "zero timeout": ("bulk_import", (helpers.option(),), {"timeout": 0}),
    "upper-case metadata key": ("bulk_import", (helpers.option(),), {"metadata": [("X-Trace", "1")]}),
    "str value for -bin key": ("bulk_import", (helpers.option(),), {"metadata": [("trace-bin", "1")]}),
    "another server": ("bulk_import", (pi.new_bulk_import_option("http://elsewhere:19530", "coll", [["a.json"]]),), {}),
    "bad job id": ("get_import_progress", ("12ab",), {}),
    "empty collection name": ("list_import_jobs", ("  ",), {}),
    "zero limit": ("list_import_jobs", (), {"limit": 0}),
    "no jobs": ("wait_for_import", ([],), {}),
    "bad poll intervals": ("wait_for_import", ("1",), {"poll_initial": 2.0, "poll_max": 1.0}),
    "negative version timeout": ("server_version", (), {"timeout": -1}),
}


@pytest.mark.parametrize("case", VALIDATION_CASES)
def test_validation_errors_are_the_sync_ones_and_nothing_is_sent(server: Milvus24TestServer, case: str) -> None:
    method, args, kwargs = VALIDATION_CASES[case]

    async def use(client: pi.AsyncImportClient) -> Any:
        return await getattr(client, method)(*args, **kwargs)

    async_error = error_of(lambda: run_async(server.uri, use))
    with pi.ImportClient(server.uri) as sync:
        sync_error = error_of(lambda: getattr(sync, method)(*args, **kwargs))
    assert isinstance(async_error, pi.InvalidInputError)
    assert seen_by_user(async_error) == seen_by_user(sync_error)
    assert server.requests == []


@pytest.mark.parametrize(("version", "retried"), [("v2.4.10", False), ("v2.6.24", True)])
def test_unavailable_after_receive_follows_the_sync_retry_policy(
    start_test_server: Callable[..., Milvus24TestServer], version: str, retried: bool
) -> None:
    unavailable = Fault.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")  # after the job was created
    keyed = helpers.option().with_idempotency_key("key-1")
    retry = pi.Retry(initial=0.01)

    async def use(client: pi.AsyncImportClient) -> Any:
        return await client.bulk_import(keyed, timeout=10)

    srv = start_test_server(version=version, collections=("coll",))
    srv.inject("Import", unavailable)
    async_outcome = outcome(lambda: run_async(srv.uri, use, retry=retry))
    srv.inject("Import", unavailable)
    with pi.ImportClient(srv.uri, retry=retry) as sync:
        sync_outcome = outcome(lambda: sync.bulk_import(keyed, timeout=10))
    imports = srv.requests_for("Import")
    if retried:
        assert async_outcome == sync_outcome  # the key dedupes: the retry found the first call's job
        assert srv.import_count() == 1 and list(srv.jobs) == [int(async_outcome.job_id)]
        assert len(imports) == 4 and {c.request.idempotency_key for c in imports} == {"key-1"}
    else:
        assert isinstance(async_outcome, pi.ServerUnavailableError)
        assert seen_by_user(async_outcome) == seen_by_user(sync_outcome)
        assert srv.import_count() == 2 and len(imports) == 2  # one job per client, never a second attempt
    assert len(srv.requests_for("GetVersion")) == 2  # each client asked once, to decide


# ------------------------------------------------------------------------------------------------- channels
def test_user_channel_is_used_as_is_and_never_closed(server: Milvus24TestServer) -> None:
    async def main() -> bytes:
        channel = grpc.aio.insecure_channel(server.address)
        try:
            async with pi.AsyncImportClient(channel=channel, db_name="default") as client:
                assert repr(client) == "AsyncImportClient(target='<user-supplied channel>', db_name='default')"
                await client.bulk_import(helpers.option())
            reply: bytes = await channel.unary_unary(GET_VERSION)(b"", timeout=5)  # still open
            return reply
        finally:
            await channel.close()

    assert asyncio.run(main())
    assert server.import_count() == 1 and server.requests_for("Import")[0].metadata["dbname"] == "default"


def test_owned_channel_is_closed_and_a_closed_client_says_so(server: Milvus24TestServer) -> None:
    async def main() -> None:
        client = pi.AsyncImportClient(server.uri)
        await client.list_import_jobs()
        assert helpers.open_connections(server.address) == 1
        await client.close()
        assert helpers.open_connections(server.address, settle=5) == 0  # its connection is gone
        with pytest.raises(pi.ClientClosedError, match="closed"):
            await client.list_import_jobs()
        never_used = pi.AsyncImportClient(server.uri)
        await never_used.close()
        with pytest.raises(pi.ClientClosedError):
            await never_used.list_import_jobs()

    asyncio.run(main())


class _Tagging(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), ("x-intercepted", "yes")]
        return await continuation(details._replace(metadata=grpc.aio.Metadata(*metadata)), request)


def test_aio_interceptors_wrap_the_clients_channel(server: Milvus24TestServer) -> None:
    async def use(client: pi.AsyncImportClient) -> Any:
        return await client.bulk_import(helpers.option())

    run_async(server.uri, use, interceptors=[_Tagging()])
    assert server.requests_for("Import")[0].metadata["x-intercepted"] == "yes"


def test_wrong_channel_or_interceptor_kinds_are_input_errors(server: Milvus24TestServer) -> None:
    with grpc.insecure_channel(server.address) as sync_channel:
        error = error_of(lambda: pi.AsyncImportClient(channel=sync_channel))
    assert isinstance(error, pi.InvalidInputError) and "grpc.aio.Channel" in str(error)

    class SyncInterceptor(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            return continuation(details, request)

    error = error_of(lambda: pi.AsyncImportClient(server.uri, interceptors=[SyncInterceptor()]))
    assert isinstance(error, pi.InvalidInputError) and "grpc.aio client interceptors" in str(error)

    async def on_user_channel() -> None:
        channel = grpc.aio.insecure_channel(server.address)
        try:
            pi.AsyncImportClient(channel=channel, interceptors=[_Tagging()])
        finally:
            await channel.close()

    error = error_of(lambda: asyncio.run(on_user_channel()))
    assert isinstance(error, pi.InvalidInputError) and "interceptors=" in str(error)


# ------------------------------------------------------------------------------------------------- TLS
def _certificate(name: str, issuer: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """A certificate and key for ``name``: a CA when ``issuer`` is None, else a server certificate it signs."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def test_tls_with_a_ca_and_server_name_override() -> None:
    ca = _certificate("test-ca")
    cert, key = _certificate("milvus.test", issuer=ca)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ca_pem = ca[0].public_bytes(serialization.Encoding.PEM)
    version = milvus_pb2.GetVersionResponse(version="v2.5.0").SerializeToString()
    handlers = {"GetVersion": grpc.unary_unary_rpc_method_handler(lambda request, context: version)}
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("milvus.proto.milvus.MilvusService", handlers),)
    )
    credentials = grpc.ssl_server_credentials([(key_pem, cert.public_bytes(serialization.Encoding.PEM))])
    uri = f"https://127.0.0.1:{server.add_secure_port('127.0.0.1:0', credentials)}"
    server.start()
    try:

        async def use(client: pi.AsyncImportClient) -> str:
            return await client.server_version(timeout=5)

        assert run_async(uri, use, ca_cert=ca_pem, server_name="milvus.test") == "v2.5.0"
        mismatch = error_of(lambda: run_async(uri, use, ca_cert=ca_pem))  # the certificate names milvus.test only
        with pi.ImportClient(uri, ca_cert=ca_pem) as sync:
            assert seen_by_user(mismatch) == seen_by_user(error_of(lambda: sync.server_version(timeout=5)))
        assert isinstance(mismatch, pi.ServerUnavailableError)
    finally:
        server.stop(None)
