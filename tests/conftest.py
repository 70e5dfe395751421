"""Shared fixtures for tests against the real embedded Milvus 2.3.5 server.

- ``milvus_harness`` (session): a ``milvus_server.MilvusHarness``; ``milvus_harness.get(extra_args)``
  returns a running server, restarting it with a fresh data dir only when the args differ. Stopped at session end.
- ``milvus``: the plain server (no extra args): ``.uri``, ``.address``, ``.data_dir``, ``.log_tail()``.
- ``import_dir`` (function): a fresh empty directory under ``milvus.data_dir`` (files for Import must live there).
- ``collection`` (function): a fresh collection ``{id INT64 pk, vec FLOAT_VECTOR(8)}`` in the default database,
  dropped afterwards; the fixture value is its name.

The server starts only when a test asks for one of these fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import helpers
import pytest
import s3_server
from milvus_server import MilvusHarness, MilvusServer


@pytest.fixture(scope="session")
def milvus_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusHarness]:
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
