"""The client layer's contract, tested as a user meets it (issues 11 and 12), against the 2.4+ test server.

- a channel of yours gets the same credentials and database as the URI alone; TLS arguments next to it are refused;
- the wrong kind of channel, a closed client or a closed channel of yours raise package errors;
- per-call ``credentials`` and a ``dbname`` header win, on every RPC;
- every call option is accepted everywhere and checked up front; a misspelt keyword is a TypeError and a mypy error;
- every error and every value survives pickle and copy, also across a process pool;
- AsyncImportClient in several event loops, async ``on_progress``;
- "every error is a MilvusImportError", tried in many ways.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import inspect
import os
import pickle
import textwrap
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import helpers
import pytest
from fake_milvus import Fault, Milvus24TestServer

import pymilvus_import as pi

COLLECTION = "books"
FILES = [["/data/books.json"]]


pytestmark = pytest.mark.test_server(
    collections=(COLLECTION, {"name": COLLECTION, "db_name": "sales"}, {"name": COLLECTION, "db_name": "archive"})
)


@pytest.fixture
def local_server(start_test_server: Callable[..., Milvus24TestServer]) -> Milvus24TestServer:
    """A test server on a local "secure" port: gRPC sends call credentials only over such channels."""
    return start_test_server(
        local_credentials=True, collections=(COLLECTION, {"name": COLLECTION, "db_name": "archive"})
    )


def basic(secret: str) -> str:
    return base64.b64encode(secret.encode()).decode()


def headers(call: Any, key: str) -> list[Any]:
    return [value for k, value in call.headers if k == key]


def seen(server: Milvus24TestServer) -> list[tuple[str, list[Any], list[Any], str | None]]:
    """What the server saw of each request: method, authorization headers, dbname headers, request db_name."""
    return [
        (
            call.method,
            headers(call, "authorization"),
            headers(call, "dbname"),
            call.request.db_name if hasattr(call.request, "db_name") else None,
        )
        for call in server.requests
    ]


# ------------------------------------------------------------------------ 1. a channel of yours, same identity
def _uri_with_identity(server: Milvus24TestServer) -> str:
    return f"http://alice:s3cret@{server.address}/sales"


IDENTITIES: dict[str, Callable[[Milvus24TestServer], tuple[str, dict[str, Any]]]] = {
    "uri user:password@ and database": lambda s: (_uri_with_identity(s), {}),
    "token= and db_name=": lambda s: (s.uri, {"token": "api-key-1", "db_name": "sales"}),
    "MILVUS_TOKEN": lambda s: (s.uri, {}),
}


@pytest.mark.parametrize("how", sorted(IDENTITIES))
def test_a_channel_of_yours_gets_the_identity_the_uri_alone_gets(
    server: Milvus24TestServer, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("MILVUS_TOKEN", "env-token")
    uri, kwargs = IDENTITIES[how](server)
    option = pi.new_bulk_import_option("", COLLECTION, FILES)

    with pi.ImportClient(uri, **kwargs) as client:
        client.bulk_import(option)
        client.list_import_jobs()
    dialled = seen(server)
    server.requests.clear()

    with grpc.insecure_channel(server.address) as channel, pi.ImportClient(uri, channel=channel, **kwargs) as client:
        client.bulk_import(option)
        client.list_import_jobs()
    assert seen(server) == dialled
    authorization = {"MILVUS_TOKEN": basic("env-token"), "token= and db_name=": basic("api-key-1")}
    expected_auth = [authorization.get(how, basic("alice:s3cret"))]
    database = "" if how == "MILVUS_TOKEN" else "sales"
    expected_db = [database] if database else []
    assert dialled == [
        ("DescribeCollection", expected_auth, expected_db, database),
        ("Import", expected_auth, expected_db, database),
        ("ListImportTasks", expected_auth, expected_db, database),
    ]


def test_a_grpc_aio_channel_of_yours_gets_the_identity_the_uri_alone_gets(server: Milvus24TestServer) -> None:
    uri = _uri_with_identity(server)
    option = pi.new_bulk_import_option("", COLLECTION, FILES)

    async def run(with_channel: bool) -> None:
        if with_channel:
            channel = grpc.aio.insecure_channel(server.address)
            async with channel, pi.AsyncImportClient(uri, channel=channel) as client:
                await client.bulk_import(option)
        else:
            async with pi.AsyncImportClient(uri) as client:
                await client.bulk_import(option)

    asyncio.run(run(False))
    dialled = seen(server)
    server.requests.clear()
    asyncio.run(run(True))
    assert seen(server) == dialled
    assert [call.request.db_name for call in server.requests_for("Import")] == ["sales"]
    assert {tuple(auth) for _, auth, _, _ in dialled} == {(basic("alice:s3cret"),)}


TLS_ARGUMENTS: dict[str, dict[str, Any]] = {
    "ca_cert": {"ca_cert": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
    "client_cert": {"client_cert": b"cert", "client_key": b"key"},
    "server_name": {"server_name": "milvus.internal"},
    "secure": {"secure": True},
    "channel_options": {"channel_options": [("grpc.max_receive_message_length", 1024)]},
}


@pytest.mark.parametrize("argument", sorted(TLS_ARGUMENTS))
def test_tls_arguments_next_to_a_channel_of_yours_are_refused(server: Milvus24TestServer, argument: str) -> None:
    with grpc.insecure_channel(server.address) as channel, pytest.raises(pi.InvalidInputError, match=argument):
        pi.ImportClient(server.uri, channel=channel, **TLS_ARGUMENTS[argument])

    async def with_aio_channel() -> None:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(pi.InvalidInputError, match=argument):
                pi.AsyncImportClient(server.uri, channel=channel, **TLS_ARGUMENTS[argument])

    asyncio.run(with_aio_channel())
    assert server.requests == []


# ------------------------------------------------------------------------ 2. wrong channels, closed clients
def test_the_wrong_kind_of_channel_is_an_invalid_input_error(server: Milvus24TestServer) -> None:
    async def aio_channel_to_the_sync_client() -> None:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(pi.InvalidInputError, match="AsyncImportClient"):
                pi.ImportClient(server.uri, channel=channel)

    asyncio.run(aio_channel_to_the_sync_client())
    with grpc.insecure_channel(server.address) as channel, pytest.raises(pi.InvalidInputError, match=r"grpc\.aio"):
        pi.AsyncImportClient(server.uri, channel=channel)
    assert server.requests == []


def test_a_call_on_a_closed_sync_client_is_a_client_closed_error(server: Milvus24TestServer) -> None:
    used = pi.ImportClient(server.uri)
    assert used.server_version() == server.version
    used.close()
    never_used = pi.ImportClient(server.uri)
    never_used.close()
    for client in (used, never_used):
        with pytest.raises(pi.ClientClosedError):
            client.list_import_jobs()
        with pytest.raises(pi.ClientClosedError):
            client.bulk_import(pi.new_bulk_import_option("", COLLECTION, FILES))
    assert [call.method for call in server.requests] == ["GetVersion"]


def test_a_call_on_a_closed_async_client_is_a_client_closed_error(server: Milvus24TestServer) -> None:
    async def main() -> None:
        used = pi.AsyncImportClient(server.uri)
        assert await used.server_version() == server.version
        await used.close()
        never_used = pi.AsyncImportClient(server.uri)
        await never_used.close()
        for client in (used, never_used):
            with pytest.raises(pi.ClientClosedError):
                await client.get_import_progress(1)

    asyncio.run(main())
    assert [call.method for call in server.requests] == ["GetVersion"]


def test_a_call_after_you_closed_your_own_channel_is_a_package_error(server: Milvus24TestServer) -> None:
    channel = grpc.insecure_channel(server.address)
    client = pi.ImportClient(server.uri, channel=channel)
    client.server_version()
    channel.close()
    with pytest.raises(pi.MilvusImportError, match="closed"):
        client.list_import_jobs()


# ------------------------------------------------------------------------ 3. per-call options win, on every RPC
def test_per_call_credentials_replace_the_clients_token_on_every_rpc(local_server: Milvus24TestServer) -> None:
    per_call = grpc.access_token_call_credentials("per-call-token")
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    with (
        local_server.local_channel() as channel,
        pi.ImportClient(local_server.uri, channel=channel, token="client-token") as client,
    ):
        client.server_version(credentials=per_call)
        response = client.bulk_import(option, credentials=per_call)
        client.get_import_progress(response.data.job_id, credentials=per_call)
        client.list_import_jobs(credentials=per_call)
        client.wait_for_import(response, credentials=per_call, poll_initial=0.001, poll_max=0.001)
    methods = {call.method for call in local_server.requests}
    assert methods == {"GetVersion", "DescribeCollection", "Import", "GetImportState", "ListImportTasks"}
    for call in local_server.requests:
        assert headers(call, "authorization") == ["Bearer per-call-token"], call.method


def test_per_call_credentials_replace_the_clients_token_in_asyncio(local_server: Milvus24TestServer) -> None:
    per_call = grpc.access_token_call_credentials("per-call-token")
    local = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)

    async def main() -> None:
        channel = grpc.aio.secure_channel(local_server.address, local)
        async with channel, pi.AsyncImportClient(local_server.uri, channel=channel, token="client-token") as client:
            await client.server_version(credentials=per_call)
            response = await client.bulk_import(pi.new_bulk_import_option("", COLLECTION, FILES))
            await client.wait_for_import(response, credentials=per_call, poll_initial=0.001, poll_max=0.001)

    asyncio.run(main())
    by_method = {call.method: headers(call, "authorization") for call in local_server.requests}
    assert by_method["GetVersion"] == by_method["GetImportState"] == ["Bearer per-call-token"]
    assert by_method["Import"] == [basic("client-token")]  # no per-call credentials there: the client's token


def test_a_dbname_header_wins_over_the_option_and_the_client_for_every_rpc(server: Milvus24TestServer) -> None:
    mine = [("dbname", "archive")]
    option = pi.new_bulk_import_option("", COLLECTION, FILES).with_database("sales").with_partition("_default")
    with pi.ImportClient(f"{server.uri}/sales", db_name="sales") as client:
        response = client.bulk_import(option, metadata=mine)
        client.get_import_progress(response.data.job_id, metadata=mine)
        client.list_import_jobs(COLLECTION, metadata=mine)
        client.wait_for_import(response, metadata=mine, poll_initial=0.001, poll_max=0.001)
        client.server_version(metadata=mine)
    methods = [call.method for call in server.requests]
    assert set(methods) == {
        "GetVersion",
        "DescribeCollection",
        "HasPartition",
        "Import",
        "GetImportState",
        "ListImportTasks",
    }
    for method, _, dbname, db_name in seen(server):
        assert dbname == ["archive"], method
        assert db_name in (None, "archive"), method
    for method in ("Import", "ListImportTasks", "DescribeCollection", "HasPartition"):
        assert [call.request.db_name for call in server.requests_for(method)] == ["archive"], method


# ------------------------------------------------------------------------ 4. call options: accepted, checked
def test_wait_for_import_takes_every_call_option(local_server: Milvus24TestServer) -> None:
    per_call = grpc.access_token_call_credentials("per-call-token")
    options: dict[str, Any] = {"wait_for_ready": True, "compression": grpc.Compression.Gzip}
    fast: dict[str, Any] = {"poll_initial": 0.001, "poll_max": 0.001}
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    with local_server.local_channel() as channel, pi.ImportClient(local_server.uri, channel=channel) as client:
        done = client.wait_for_import(client.bulk_import(option), **options, **fast)
        assert [p.state for p in done] == ["Completed"]
        assert client.server_version(credentials=per_call, **options) == local_server.version
        done = pi.wait_for_import(client, client.bulk_import(option), credentials=per_call, **options, **fast)
        assert [p.state for p in done] == ["Completed"]
    local = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)

    async def main() -> None:
        aio_channel = grpc.aio.secure_channel(local_server.address, local)
        async with aio_channel, pi.AsyncImportClient(local_server.uri, channel=aio_channel) as aio_client:
            response = await aio_client.bulk_import(option)
            done = await aio_client.wait_for_import(response, credentials=per_call, **options, **fast)
            assert [p.state for p in done] == ["Completed"]
            assert await aio_client.server_version(credentials=per_call, **options) == local_server.version

    asyncio.run(main())
    assert headers(local_server.requests_for("GetVersion")[-1], "authorization") == ["Bearer per-call-token"]


BAD_CALL_OPTIONS: dict[str, dict[str, Any]] = {
    "compression": {"compression": "gzip"},
    "wait_for_ready": {"wait_for_ready": "yes"},
    "credentials": {"credentials": "x"},
    "timeout": {"timeout": -1},
}


def _every_call(client: pi.ImportClient, uri: str) -> dict[str, Callable[..., Any]]:
    """Each RPC-backed call of the public API (``client`` is for ``uri``), taking call options as keywords."""
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    option_with_uri = pi.new_bulk_import_option(uri, COLLECTION, FILES)
    return {
        "ImportClient.bulk_import": lambda **kw: client.bulk_import(option, **kw),
        "ImportClient.get_import_progress": lambda **kw: client.get_import_progress(1, **kw),
        "ImportClient.list_import_jobs": lambda **kw: client.list_import_jobs(**kw),
        "ImportClient.wait_for_import": lambda **kw: client.wait_for_import(1, **kw),
        "ImportClient.server_version": lambda **kw: client.server_version(**kw),
        "bulk_import": lambda **kw: pi.bulk_import(option_with_uri, **kw),
        "get_import_progress": lambda **kw: pi.get_import_progress(client, 1, **kw),
        "list_import_jobs": lambda **kw: pi.list_import_jobs(client, **kw),
        "wait_for_import": lambda **kw: pi.wait_for_import(client, 1, **kw),
    }


def _every_async_call(client: pi.AsyncImportClient) -> dict[str, Callable[..., Any]]:
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    return {
        "AsyncImportClient.bulk_import": lambda **kw: client.bulk_import(option, **kw),
        "AsyncImportClient.get_import_progress": lambda **kw: client.get_import_progress(1, **kw),
        "AsyncImportClient.list_import_jobs": lambda **kw: client.list_import_jobs(**kw),
        "AsyncImportClient.wait_for_import": lambda **kw: client.wait_for_import(1, **kw),
        "AsyncImportClient.server_version": lambda **kw: client.server_version(**kw),
    }


@pytest.mark.parametrize("bad", sorted(BAD_CALL_OPTIONS))
def test_a_bad_call_option_is_refused_up_front_everywhere(server: Milvus24TestServer, bad: str) -> None:
    with pi.ImportClient(server.uri) as client:
        for name, call in _every_call(client, server.uri).items():
            with pytest.raises(pi.InvalidInputError, match=bad) as caught:
                call(**BAD_CALL_OPTIONS[bad])
            assert caught.value.field == bad, name

    async def main() -> None:
        async with pi.AsyncImportClient(server.uri) as aio_client:
            for name, call in _every_async_call(aio_client).items():
                with pytest.raises(pi.InvalidInputError, match=bad) as caught:
                    await call(**BAD_CALL_OPTIONS[bad])
                assert caught.value.field == bad, name

    asyncio.run(main())
    assert server.requests == []


BAD_CONSTRUCTION: dict[str, Callable[[str], Any]] = {
    "retry='x'": lambda uri: pi.ImportClient(uri, retry="x"),  # type: ignore[arg-type]
    "Retry(initial=-1)": lambda uri: pi.Retry(initial=-1),
    "Retry(attempts=0)": lambda uri: pi.Retry(attempts=0),
    "token=123": lambda uri: pi.ImportClient(uri, token=123),  # type: ignore[arg-type]
    "preflight='no'": lambda uri: pi.ImportClient(uri, preflight="no"),  # type: ignore[arg-type]
    "AsyncImportClient token=123": lambda uri: pi.AsyncImportClient(uri, token=123),  # type: ignore[arg-type]
    "bulk_import preflight='no'": lambda uri: pi.ImportClient(uri).bulk_import(
        pi.new_bulk_import_option("", COLLECTION, FILES),
        preflight="no",  # type: ignore[arg-type]
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONSTRUCTION))
def test_bad_client_arguments_are_refused_up_front(server: Milvus24TestServer, case: str) -> None:
    with pytest.raises(pi.InvalidInputError):
        BAD_CONSTRUCTION[case](server.uri)
    assert server.requests == []


def test_a_misspelt_keyword_is_a_type_error_and_a_mypy_error(
    server: Milvus24TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _every_call(pi.ImportClient(server.uri), server.uri)
    for call in calls.values():
        with pytest.raises(TypeError, match="timout"):
            call(timout=3)

    async def main() -> None:
        async with pi.AsyncImportClient(server.uri) as aio_client:
            for call in _every_async_call(aio_client).values():
                with pytest.raises(TypeError, match="timout"):
                    await call(timout=3)

    asyncio.run(main())
    assert server.requests == []

    from mypy import api

    snippet = tmp_path / "user_code.py"
    snippet.write_text(
        textwrap.dedent(
            """
            import pymilvus_import as pi

            async def main(uri: str) -> None:
                option = pi.new_bulk_import_option(uri, "books", [["a.json"]])
                pi.bulk_import(option, timout=3)
                pi.get_import_progress(uri, 1, timout=3)
                pi.list_import_jobs(uri, timout=3)
                pi.wait_for_import(uri, 1, timout=3)
                client = pi.ImportClient(uri)
                client.bulk_import(option, timout=3)
                client.get_import_progress(1, timout=3)
                client.list_import_jobs(timout=3)
                client.wait_for_import(1, timout=3)
                client.server_version(timout=3)
                aio = pi.AsyncImportClient(uri)
                await aio.bulk_import(option, timout=3)
                await aio.get_import_progress(1, timout=3)
                await aio.list_import_jobs(timout=3)
                await aio.wait_for_import(1, timout=3)
                await aio.server_version(timout=3)
            """
        )
    )
    # Check against the package this test imports (a source tree or an editable install mypy cannot follow).
    monkeypatch.setenv("MYPYPATH", str(Path(pi.__file__).resolve().parent.parent))
    out, _, status = api.run(["--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(snippet)])
    flagged = sorted(
        int(line.split(":")[1]) for line in out.splitlines() if 'Unexpected keyword argument "timout"' in line
    )
    assert status == 1
    assert len(flagged) == 14, out


# ------------------------------------------------------------------------ 5. pickle and copy
def _raised(call: Callable[[], Any]) -> pi.MilvusImportError:
    with pytest.raises(pi.MilvusImportError) as caught:
        call()
    return caught.value


def _real_errors(server: Milvus24TestServer) -> list[pi.MilvusImportError]:
    """One real instance of every public exception class, raised through the public API where one can be."""
    client = pi.ImportClient(server.uri, retry=pi.Retry(attempts=1))
    server.add_collection("tenants", partition_key=True)
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    fast: dict[str, Any] = {"poll_initial": 0.001, "poll_max": 0.001}
    errors = [
        _raised(lambda: pi.new_bulk_import_option(server.uri, " ", FILES)),
        _raised(lambda: client.bulk_import(pi.new_bulk_import_option("", "nope", FILES))),
        _raised(lambda: client.bulk_import(pi.new_bulk_import_option("", "n" * 300, FILES))),
        _raised(lambda: client.bulk_import(option.with_database("nodb"))),
        _raised(lambda: client.bulk_import(option.with_partition("nopart"))),
        _raised(lambda: client.bulk_import(pi.new_bulk_import_option("", "tenants", FILES).with_partition("p"))),
        _raised(lambda: client.get_import_progress(12345)),
        _raised(
            lambda: client.wait_for_import(
                client.bulk_import(pi.new_bulk_import_option("", COLLECTION, [["fail.json"]])), **fast
            )
        ),
    ]
    server.max_active_jobs = 1  # the second group is refused while the first job runs: created ids travel along
    errors.append(
        _raised(lambda: client.bulk_import(pi.new_bulk_import_option("", COLLECTION, [["a.json"], ["b.json"]])))
    )
    server.max_active_jobs = 1024
    from fake_milvus import stuck_at_80

    server.next_job_script = stuck_at_80(10_000)
    stuck = client.bulk_import(option)
    errors.append(_raised(lambda: client.wait_for_import(stuck, timeout=0.05, **fast)))
    server.inject("ListImportTasks", Fault.status(65535, "internal refusal"))
    errors.append(_raised(lambda: client.list_import_jobs()))
    server.inject("GetVersion", Fault.raw(b"\xff\xff\xff"))
    errors.append(_raised(lambda: client.server_version()))
    # A local file whose content does not fit: the header check refuses it (FileMismatchError). After the
    # GetVersion fault above: the check asks the version once per channel.
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        bad = os.path.join(directory, "bad.json")
        with open(bad, "w") as handle:
            handle.write('[{"id": "not a number", "vec": [1.0]}]')
        errors.append(_raised(lambda: client.bulk_import(pi.new_bulk_import_option("", COLLECTION, [[bad]]))))
    for code in (
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "INVALID_ARGUMENT",
        "RESOURCE_EXHAUSTED",
        "INTERNAL",
    ):
        server.inject("GetImportState", Fault.abort(getattr(grpc.StatusCode, code), f"injected {code}"))
        errors.append(_raised(lambda: client.get_import_progress(stuck.job_id)))
    client.close()
    errors.append(_raised(lambda: client.list_import_jobs()))
    # No public path raises these from the test server; built as the library builds them.
    errors.append(pi.WrongEventLoopError("the grpc.aio channel given to this client belongs to another event loop"))
    errors.append(pi.MilvusImportError("base"))
    errors.append(pi.PreflightError("preflight", collection_name=COLLECTION, db_name="default", value="x", field="f"))
    errors.append(
        pi.UnsupportedByServerError(
            "parquet needs 2.4",
            collection_name=COLLECTION,
            db_name="default",
            server_version="v2.3.5",
            value="a.parquet",
        )
    )
    # Object storage errors need an S3 server (tests/test_storage_s3.py raises them for real); built as it does.
    errors.append(pi.StorageError("upload failed", bucket="b-1", key="p/d/a.json", staged_keys=["p/e/b.json"]))
    errors.append(pi.StagingInterruptedError("interrupted", bucket="b-1", staged_keys=["p/e/b.json"]))
    errors.append(pi.ObjectNotFoundError("missing", keys=["k/a.json"], bucket="b-1", local_files=["/d/a.json"]))
    errors.append(pi.EmptyObjectError("empty", keys=["k/e.json"], bucket="b-1"))
    return errors


def _public_exception_classes() -> set[type]:
    return {
        getattr(pi, n)
        for n in pi.__all__
        if isinstance(getattr(pi, n), type) and issubclass(getattr(pi, n), BaseException)
    }


def _same(a: BaseException, b: BaseException) -> None:
    assert type(a) is type(b)
    assert a.args == b.args
    assert str(a) == str(b)
    assert vars(a) == vars(b)


def test_every_public_error_survives_pickle_and_copy(server: Milvus24TestServer) -> None:
    errors = _real_errors(server)
    assert {type(e) for e in errors} == _public_exception_classes()
    refused = next(e for e in errors if isinstance(e, pi.BulkImportError))
    assert len(refused.created_job_ids) == 1 and refused.group_index == 1 and refused.failed_group == ("b.json",)
    for error in errors:
        for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
            _same(error, twin)


def _raise(error: BaseException) -> None:
    raise error


def _refused_bulk_import(uri: str) -> None:
    pi.bulk_import(pi.new_bulk_import_option(uri, COLLECTION, [["a.json"], ["b.json"]]))


def test_errors_raised_in_a_worker_process_reach_the_parent(server: Milvus24TestServer) -> None:
    errors = _real_errors(server)
    for job_id in list(server.jobs):
        server.expire_job(job_id)  # the stuck job of _real_errors must not count against the limit below
    server.max_active_jobs = 1
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        with pytest.raises(pi.BulkImportError) as caught:
            pool.submit(_refused_bulk_import, server.uri).result()
        assert len(caught.value.created_job_ids) == 1 and caught.value.group_index == 1
        assert caught.value.response.status == 2100
        for error in errors:
            with pytest.raises(type(error)) as caught_here:
                pool.submit(_raise, error).result()
            _same(error, caught_here.value)


def test_values_pickle_copy_hash_and_asdict(server: Milvus24TestServer) -> None:
    with pi.ImportClient(server.uri) as client:
        response = client.bulk_import(pi.new_bulk_import_option("", COLLECTION, [["a.json"], ["b.json"]]))
        progress = client.wait_for_import(response, poll_initial=0.001, poll_max=0.001)[0]
        record = client.list_import_jobs()[0]
        plan = client.bulk_import(pi.new_bulk_import_option("", COLLECTION, FILES), dry_run=True)
    for value in (progress, record, response, plan):
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value
        assert hash(copy.deepcopy(value)) == hash(value)
        assert dataclasses.asdict(value) == dataclasses.asdict(pickle.loads(pickle.dumps(value)))
    assert dataclasses.asdict(progress)["infos"] == dict(progress.infos)
    with pytest.raises(TypeError):
        progress.infos["x"] = "y"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        progress.state = "Failed"  # type: ignore[misc]
    assert response.to_dict()["data"] == {"jobId": response.job_ids[0], "jobIds": list(response.job_ids)}
    assert len(response.job_ids) == 2


# ------------------------------------------------------------------------ 6. event loops, async on_progress
def test_one_async_client_in_two_event_loops_one_after_the_other(server: Milvus24TestServer) -> None:
    client = pi.AsyncImportClient(server.uri)
    assert asyncio.run(client.server_version()) == server.version
    assert asyncio.run(client.list_import_jobs()) == []
    asyncio.run(client.close())


def test_one_async_client_in_two_threads_each_with_its_loop(server: Milvus24TestServer) -> None:
    client = pi.AsyncImportClient(server.uri)
    both_running = threading.Barrier(2)
    results: list[Any] = []

    async def in_this_thread() -> None:
        both_running.wait(timeout=10)  # both loops exist before either calls
        results.append(await client.list_import_jobs())

    threads = [threading.Thread(target=asyncio.run, args=(in_this_thread(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[], []]
    assert [call.method for call in server.requests] == ["ListImportTasks", "ListImportTasks"]


def test_your_grpc_aio_channel_in_another_loop_is_a_wrong_event_loop_error(server: Milvus24TestServer) -> None:
    holder: dict[str, Any] = {}

    async def first() -> None:
        holder["channel"] = grpc.aio.insecure_channel(server.address)
        holder["client"] = pi.AsyncImportClient(server.uri, channel=holder["channel"])
        assert await holder["client"].server_version() == server.version

    async def second() -> None:
        with pytest.raises(pi.WrongEventLoopError):
            await holder["client"].list_import_jobs()

    asyncio.run(first())
    asyncio.run(second())
    assert [call.method for call in server.requests] == ["GetVersion"]


def test_an_async_on_progress_is_awaited_on_every_change(server: Milvus24TestServer) -> None:
    changes: list[tuple[str, int]] = []

    async def on_progress(progress: pi.ImportProgress) -> None:
        await asyncio.sleep(0)
        changes.append((progress.state, progress.progress))

    async def main() -> None:
        async with pi.AsyncImportClient(server.uri) as client:
            response = await client.bulk_import(pi.new_bulk_import_option("", COLLECTION, FILES))
            await client.wait_for_import(response, on_progress=on_progress, poll_initial=0.001, poll_max=0.001)

    asyncio.run(main())
    assert changes == [("Pending", 0), ("Importing", 40), ("Importing", 80), ("Completed", 100)]


def test_import_client_refuses_an_async_on_progress_up_front(server: Milvus24TestServer) -> None:
    import functools

    async def on_progress(progress: pi.ImportProgress) -> None: ...

    class Callback:
        async def __call__(self, progress: pi.ImportProgress) -> None: ...

    with pi.ImportClient(server.uri) as client:
        for callback in (on_progress, functools.partial(on_progress), Callback()):
            with pytest.raises(pi.InvalidInputError, match="async"):
                client.wait_for_import(1, on_progress=callback)  # type: ignore[arg-type]
            with pytest.raises(pi.InvalidInputError, match="async"):
                pi.wait_for_import(client, 1, on_progress=callback)  # type: ignore[arg-type]
    assert server.requests == []


# ------------------------------------------------------------------------ 7. every error is a MilvusImportError
BAD_VALUES = (object(), b"\xff", float("nan"), "c\udc80")


def _sync_surface(uri: str) -> dict[str, tuple[Callable[..., Any], dict[str, Any]]]:
    """Every public callable with arguments that work, so one argument at a time can be made bad."""
    client = pi.ImportClient(uri)
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    return {
        "ImportClient": (pi.ImportClient, {"uri": uri}),
        "AsyncImportClient": (pi.AsyncImportClient, {"uri": uri}),
        "Retry": (pi.Retry, {}),
        "new_bulk_import_option": (
            pi.new_bulk_import_option,
            {"uri": uri, "collection_name": COLLECTION, "files": FILES},
        ),
        "with_partition": (option.with_partition, {"partition_name": "p"}),
        "with_option": (option.with_option, {"key": "timeout", "value": "10s"}),
        "with_database": (option.with_database, {"db_name": "sales"}),
        "with_api_key": (option.with_api_key, {"api_key": "k"}),
        "with_idempotency_key": (option.with_idempotency_key, {"key": "k"}),
        "bulk_import": (pi.bulk_import, {"option": pi.new_bulk_import_option(uri, COLLECTION, FILES)}),
        "get_import_progress": (pi.get_import_progress, {"uri_or_client": uri, "job_id": 1}),
        "list_import_jobs": (pi.list_import_jobs, {"uri_or_client": uri}),
        "wait_for_import": (pi.wait_for_import, {"uri_or_client": uri, "jobs": 1}),
        "ImportClient.bulk_import": (client.bulk_import, {"option": option}),
        "ImportClient.get_import_progress": (client.get_import_progress, {"job_id": 1}),
        "ImportClient.list_import_jobs": (client.list_import_jobs, {}),
        "ImportClient.wait_for_import": (client.wait_for_import, {"jobs": 1}),
        "ImportClient.server_version": (client.server_version, {}),
    }


def _async_surface() -> dict[str, tuple[str, dict[str, Any]]]:
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    return {
        "bulk_import": ("bulk_import", {"option": option}),
        "get_import_progress": ("get_import_progress", {"job_id": 1}),
        "list_import_jobs": ("list_import_jobs", {}),
        "wait_for_import": ("wait_for_import", {"jobs": 1}),
        "server_version": ("server_version", {}),
    }


def _parameters(function: Callable[..., Any]) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


def test_a_bad_value_for_any_argument_is_an_invalid_input_error(server: Milvus24TestServer) -> None:
    failures: list[str] = []
    tried = 0
    for name, (function, good) in _sync_surface(server.uri).items():
        for parameter in _parameters(function):
            for bad in BAD_VALUES:
                tried += 1
                try:
                    function(**{**good, parameter: bad})
                except pi.InvalidInputError:
                    continue
                except BaseException as error:
                    failures.append(f"{name}({parameter}={bad!r}): {type(error).__name__}: {error}")
                else:
                    failures.append(f"{name}({parameter}={bad!r}): no error")
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    with pi.ImportClient(server.uri) as client:
        for option_field in dataclasses.fields(option):
            for bad in BAD_VALUES:
                tried += 1
                try:
                    client.bulk_import(dataclasses.replace(option, **{option_field.name: bad}))
                except pi.InvalidInputError:
                    continue
                except BaseException as error:
                    failures.append(f"BulkImportOption({option_field.name}={bad!r}): {type(error).__name__}: {error}")
                else:
                    failures.append(f"BulkImportOption({option_field.name}={bad!r}): no error")

    async def main() -> None:
        nonlocal tried
        async with pi.AsyncImportClient(server.uri) as client:
            for name, (method, good) in _async_surface().items():
                for parameter in _parameters(getattr(client, method)):
                    for bad in BAD_VALUES:
                        tried += 1
                        try:
                            await getattr(client, method)(**{**good, parameter: bad})
                        except pi.InvalidInputError:
                            continue
                        except BaseException as error:
                            failures.append(f"AsyncImportClient.{name}({parameter}={bad!r}): {type(error).__name__}")
                        else:
                            failures.append(f"AsyncImportClient.{name}({parameter}={bad!r}): no error")

    asyncio.run(main())
    assert failures == [], "\n".join(failures)
    assert tried > 400
    assert server.requests == []


def test_collection_names_that_cannot_be_sent_are_refused_by_list_import_jobs(server: Milvus24TestServer) -> None:
    for name in ("c\udc80", "c\x00", " books"):
        with pytest.raises(pi.InvalidInputError, match="collection name"):
            pi.list_import_jobs(server.uri, name)
    assert server.requests == []


def _every_rpc(client: pi.ImportClient) -> dict[str, Callable[[], Any]]:
    option = pi.new_bulk_import_option("", COLLECTION, FILES)
    return {
        "bulk_import": lambda: client.bulk_import(option, timeout=5),
        "get_import_progress": lambda: client.get_import_progress(1, timeout=5),
        "list_import_jobs": lambda: client.list_import_jobs(timeout=5),
        "wait_for_import": lambda: client.wait_for_import(1, timeout=5),
        "server_version": lambda: client.server_version(timeout=5),
    }


def test_an_unreachable_server_is_a_server_unavailable_error_everywhere() -> None:
    with pi.ImportClient(f"http://127.0.0.1:{helpers.unused_port()}", retry=pi.Retry(attempts=1)) as client:
        calls = _every_rpc(client)
        # waiting rides out an unreachable server until its timeout (README), and then says so
        with pytest.raises(pi.ImportTimeoutError, match="unreachable") as caught:
            client.wait_for_import(1, timeout=0.2, poll_initial=0.001, poll_max=0.001)
        assert isinstance(caught.value.__cause__, pi.ServerUnavailableError)
        del calls["wait_for_import"]
        for call in calls.values():
            with pytest.raises(pi.ServerUnavailableError):
                call()


def test_a_server_answering_garbage_is_a_malformed_reply_error_everywhere(server: Milvus24TestServer) -> None:
    with pi.ImportClient(server.uri, preflight=False) as client:
        for method in ("Import", "GetImportState", "ListImportTasks", "GetVersion"):
            server.inject(method, *[Fault.raw(b"\xff\xff\xff\xff")] * 2)
        for call in _every_rpc(client).values():
            with pytest.raises(pi.MalformedReplyError):
                call()
    with pi.ImportClient(server.uri) as client:
        server.inject("DescribeCollection", Fault.raw(b"\xff\xff\xff\xff"))
        with pytest.raises(pi.MalformedReplyError):
            client.bulk_import(pi.new_bulk_import_option("", COLLECTION, FILES))


def test_closed_clients_and_closed_channels_are_client_closed_errors_everywhere(server: Milvus24TestServer) -> None:
    closed = pi.ImportClient(server.uri)
    closed.close()
    channel = grpc.insecure_channel(server.address)
    under = pi.ImportClient(server.uri, channel=channel)
    channel.close()
    for client in (closed, under):
        for call in _every_rpc(client).values():
            with pytest.raises(pi.ClientClosedError):
                call()
    assert server.requests == []
