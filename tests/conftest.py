"""The suite's fixtures: one per kind of server, one client, one clean environment.

The Milvus 2.4+ TEST server (``fake_milvus.Milvus24TestServer``, in-process, no ``milvus`` marker):

- ``start_test_server`` (function): the factory. ``start_test_server(collections=..., **server_args)`` starts a
  server (``server_args`` as ``Milvus24TestServer`` takes them: ``version``, ``require_token``, ...) with the given
  collections (names, or dicts of ``add_collection`` arguments with a ``"name"``; default: ``coll`` with the
  partitions ``_default`` and ``p1``); every server it started is stopped after the test.
- ``server`` (function): the test server of a test, ``start_test_server(**kwargs)`` with the keyword arguments of
  the ``test_server`` markers on the test, its class and its module (the closest marker wins per argument), e.g.
  ``pytestmark = pytest.mark.test_server(version="v2.6.24")``.
- ``client`` (function): an ``ImportClient(server.uri)``, closed after the test.

The real embedded Milvus 2.3.5 (started only when a test asks for one of these; every such test gets the
``milvus`` marker):

- ``milvus_harness`` (session): a ``milvus_server.MilvusHarness``; ``milvus_harness.get(extra_args)``
  returns a running server, restarting it with a fresh data dir only when the args differ. Stopped at session end.
- ``milvus``: the plain server (no extra args): ``.uri``, ``.address``, ``.data_dir``, ``.log_tail()``.
- ``import_dir`` (function): a fresh empty directory under ``milvus.data_dir`` (files for Import must live there).
- ``collection`` (function): a fresh collection ``{id INT64 pk, vec FLOAT_VECTOR(8)}`` in the default database,
  indexed but not loaded (``helpers.create_collection``), dropped afterwards; the fixture value is its name.

Every test runs without the ``MILVUS_URI``, ``MILVUS_TOKEN`` and ``MILVUS_PASSWORD`` of the shell that started
pytest (``clean_environment``, autouse); a test that needs one sets it with ``monkeypatch``.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloud_servers
import helpers
import pytest
import s3_server
from milvus_server import MilvusHarness, MilvusServer

import pymilvus_import as pi


def pytest_configure(config: pytest.Config) -> None:
    # `make test` runs the two pytest processes side by side from a shell, which starts background jobs with SIGINT
    # ignored, and an ignored signal stays ignored in every child. Give SIGINT its usual disposition here, so the
    # programs the tests start (a CLI to Ctrl-C, a stager) get it as a terminal's foreground process does, without a
    # preexec_fn (a Python callback between fork and exec is unsafe in a process running gRPC's threads: a child
    # aborted in gRPC's fork handler, in CI).
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


if TYPE_CHECKING:
    from fake_milvus import Milvus24TestServer


#: What ``start_test_server`` creates when not told: the collection most tests import into.
DEFAULT_COLLECTIONS: tuple[str | Mapping[str, Any], ...] = ({"name": "coll", "partitions": ("_default", "p1")},)


# ------------------------------------------------------------------------------------------ environment
@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's ``MILVUS_*`` variables (the library reads URI and token, the CLI the password)."""
    for name in ("MILVUS_URI", "MILVUS_TOKEN", "MILVUS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------------------ the Milvus 2.4+ TEST server
StartTestServer = Callable[..., "Milvus24TestServer"]


@pytest.fixture
def start_test_server() -> Iterator[StartTestServer]:
    started: list[Milvus24TestServer] = []

    def start(
        *, collections: tuple[str | Mapping[str, Any], ...] = DEFAULT_COLLECTIONS, **server_args: Any
    ) -> Milvus24TestServer:
        from fake_milvus import Milvus24TestServer

        server = Milvus24TestServer(**server_args)
        started.append(server)
        server.start()
        for spec in collections:
            arguments = {"name": spec} if isinstance(spec, str) else dict(spec)
            server.add_collection(arguments.pop("name"), **arguments)
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def server(request: pytest.FixtureRequest, start_test_server: StartTestServer) -> Milvus24TestServer:
    arguments: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("test_server"))):  # module first, the test's last
        arguments.update(marker.kwargs)
    return start_test_server(**arguments)


@pytest.fixture
def client(server: Milvus24TestServer) -> Iterator[pi.ImportClient]:
    with pi.ImportClient(server.uri) as opened:
        yield opened


# ---------------------------------------------------------------------------------- the real Milvus 2.3.5
def _one_process_only() -> None:
    """Real servers have fixed ports (one Milvus, one SeaweedFS per machine): never start one from a pytest-xdist
    worker while other workers run (``make test`` runs the ``milvus`` tests with ``-p no:xdist``)."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        pytest.fail(
            "real-server tests (marker milvus) must run in one process: Milvus and SeaweedFS have fixed ports; "
            "run them without -n (make test does)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def milvus_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusHarness]:
    _one_process_only()
    harness = MilvusHarness(tmp_path_factory.mktemp("milvus"))
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def milvus(milvus_harness: MilvusHarness) -> MilvusServer:
    # Function-scoped on purpose (cheap: the harness keeps the server running): a session-scoped value would go
    # stale once a test asks the harness for a server with other args (TLS, auth), which stops the plain one.
    return milvus_harness.get(())


@pytest.fixture
def import_dir(milvus: MilvusServer) -> Path:
    path = milvus.data_dir / "imports" / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    return path


@pytest.fixture
def collection(milvus: MilvusServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    helpers.create_collection(milvus.uri, name)
    yield name
    helpers.drop_collection(milvus.uri, name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the real server (through the harness fixture) carries the ``milvus`` marker, so
    ``make test-unit`` (``-m "not milvus"``) can never start a server by accident."""
    for item in items:
        if {"milvus_harness", "s3_harness"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.milvus)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("s3") == "seaweedfs":  # tests/test_storage_s3.py's servers
            item.add_marker(pytest.mark.milvus)

    # Tests marked ``milvus_restart`` (they need the one server in another state: auth, TLS, stopped, killed) run
    # after every other test, by the marker's ``rank`` (default 1), then in file order: each state costs one restart
    # (~10 s), so the plain server is not wanted again between them. ``rank=0`` is for a module that starts from the
    # plain server the tests before it left running.
    def run_order(item: pytest.Item) -> tuple[int, int]:
        restart = item.get_closest_marker("milvus_restart")
        return (0, 0) if restart is None else (1, restart.kwargs.get("rank", 1))

    items.sort(key=run_order)  # a stable sort: file order within each group


@pytest.fixture(autouse=True)
def _close_module_level_clients() -> Iterator[None]:
    """Close the clients the module-level API cached during a test. Left open, their channels keep redialling a
    stopped test server's port; gRPC shares subchannels between channels to the same address, so a later test
    server that gets the same port number would first see that subchannel's reconnect backoff (UNAVAILABLE
    "connection refused"), as a fresh client did once in a full run."""
    yield
    from pymilvus_import import _api

    _api._close_shared()


# -- issue 16: a real S3 server (SeaweedFS) and Milvus on it; see tests/s3_server.py ------------------------------


@pytest.fixture(scope="session")
def s3_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_server.S3Harness]:
    _one_process_only()
    harness = s3_server.S3Harness(tmp_path_factory.mktemp("s3"))
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def s3(s3_harness: s3_server.S3Harness) -> s3_server.SeaweedFS:
    """The session's SeaweedFS (``.endpoint``, ``.access_key``, ``.secret_key``); buckets are the test's to make."""
    return s3_harness.get()


@pytest.fixture
def milvus_s3(milvus_harness: MilvusHarness, s3: s3_server.SeaweedFS) -> MilvusServer:
    """Milvus 2.3.5 whose storage is ``s3_server.BUCKET`` on the session's SeaweedFS."""
    return s3_server.milvus_on_s3(milvus_harness, s3)


@pytest.fixture
def s3_collection(milvus_s3: MilvusServer) -> Iterator[str]:
    """A fresh collection ``{id INT64 pk, vec FLOAT_VECTOR(8)}`` on the Milvus on S3, dropped afterwards."""
    name = f"s3_{uuid.uuid4().hex[:12]}"
    helpers.create_collection(milvus_s3.uri, name, dim=8)
    yield name
    helpers.drop_collection(milvus_s3.uri, name)


@pytest.fixture
def storage(s3: s3_server.SeaweedFS, milvus_s3: MilvusServer) -> pi.ObjectStorage:
    """The bucket the Milvus on S3 reads, with a fresh prefix for this test's staged files."""
    return s3_server.storage_for(s3, s3_server.BUCKET, f"staged-{uuid.uuid4().hex[:8]}")


# -- object-store emulators on free ports, no Milvus (tests/cloud_servers.py) -------------------------------------


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cloud_servers.Azurite]:
    """Azurite's Blob service, started once per session on a free port (``.endpoint``, ``.account``,
    ``.account_key``, ``.blob_service()``)."""
    server = cloud_servers.Azurite(tmp_path_factory.mktemp("azurite"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cloud_servers.MotoS3]:
    """moto's S3 server with IAM authentication, once per session on a free port."""
    server = cloud_servers.MotoS3(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
