"""Faults with the real embedded Milvus 2.3.5: a call that stalls past its deadline, a server killed while
``wait_for_import`` polls and then restarted on the same data directory (a server that is not started at all:
tests/test_unreachable_server.py).

What a user observes: every call ends within its deadline with a documented error, the same ``ImportClient`` works
again once the server is back (no rebuild), and the client never creates a job by itself (jobs are counted on the
server with ListImportTasks after each scenario).

Observed on Milvus 2.3.5 (and pinned below where it matters to users):

- An Import into an unknown collection is *not* slow when the caller sets a deadline: the server's internal retries
  honour the propagated gRPC deadline and it answers a status (65535 "collection not found") well before it runs out.
- Freezing the server (SIGSTOP) to make it slow is not usable: when it resumes, the proxy handles the already
  cancelled GetImportState/Import and can crash with a nil-pointer panic (Milvus issue #35539, fixed in Aug 2024).
  A slow call is therefore made by a TCP forwarder that holds the bytes (the server never sees the call).
- A job that is running when the server is killed is reported ``ImportFailedError`` with reason "task marked failed as
  service restarted" once the server is back on the same data directory.
- After such a restart the server accepts new imports but may not finish them for a long time (its data node session
  is stale), so this module closes the harness's server at the end: the next test gets a fresh one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import grpc
import helpers
import pytest
from milvus_server import MilvusHarness, MilvusServer

import pymilvus_import as pi

# Kills the server and closes the harness at the end: runs after the other tests of the plain server, first of the
# restarting ones (it starts from the plain server they leave running).
pytestmark = [pytest.mark.milvus, pytest.mark.milvus_restart(rank=0)]

SLACK = 1.0


@pytest.fixture(scope="module")
def server(milvus_harness: MilvusHarness) -> Iterator[MilvusServer]:
    """The harness's plain server; closed at the end of the module if a test killed it (restarts leave it slow)."""
    srv = milvus_harness.get(())
    yield srv
    if getattr(srv, "_killed_by_reliability_tests", False) and milvus_harness.current is srv:
        milvus_harness.close()


def new_collection(srv: MilvusServer) -> str:
    return helpers.create_collection(srv.uri, f"rel_{uuid.uuid4().hex[:10]}")


def rows_file(srv: MilvusServer, n: int, start_id: int = 0) -> str:
    return helpers.write_json_rows(srv.data_dir / "reliability" / f"{uuid.uuid4().hex[:8]}.json", n, start_id=start_id)


class StallingProxy:
    """A TCP forwarder in front of the real server. ``stall()`` holds every byte from then on (the call is slow: the
    server never sees it); ``cut()`` drops the held bytes and every connection, so the client has to reconnect."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._go = threading.Event()
        self._go.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [downstream, upstream]
            threading.Thread(target=self._pump, args=(downstream, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while not self._go.wait(0.05):
                    if source.fileno() < 0:
                        return  # cut while stalled: the held bytes are dropped
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def stall(self) -> None:
        self._go.clear()

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._go.set()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()


@pytest.mark.milvus
def test_unknown_collection_answers_within_the_callers_deadline(server: MilvusServer) -> None:
    with pi.ImportClient(server.uri) as client:
        before = len(client.list_import_jobs(timeout=10))
        option = pi.new_bulk_import_option("", f"nope_{uuid.uuid4().hex[:6]}", [[rows_file(server, 5)]])
        with helpers.timed(0.5 + SLACK), pytest.raises(pi.CollectionNotFoundError):
            client.bulk_import(option, timeout=0.5)  # the preflight: DescribeCollection answers in milliseconds
        # Without the preflight, 2.3.5's own retries stop at ~60 % of the caller's deadline (measured: 3.0 s of
        # 5 s, 6.2 s of 10 s), and it answers with its status.
        with helpers.timed(2 + SLACK), pytest.raises(pi.BulkImportError) as err:
            client.bulk_import(option, timeout=2, preflight=False)
        assert "collection not found" in err.value.server_message
        assert len(client.list_import_jobs(timeout=10)) == before


@pytest.mark.milvus
def test_slow_call_gives_deadline_exceeded_and_no_duplicate(server: MilvusServer) -> None:
    collection = new_collection(server)
    path = rows_file(server, 100)
    proxy = StallingProxy((server.host, server.port))
    try:
        with pi.ImportClient(f"http://{proxy.address}") as client:
            assert client.list_import_jobs(collection, timeout=10) == []  # connected, through the proxy
            option = pi.new_bulk_import_option("", collection, [[path]])
            proxy.stall()
            with helpers.timed(0.5 + SLACK), pytest.raises(pi.DeadlineExceededError) as err:
                client.bulk_import(option, timeout=0.5, preflight=False)
            assert isinstance(err.value, TimeoutError)
            assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert err.value.failed_group == (path,)
            # With the preflight, the deadline runs out on DescribeCollection: no Import was even sent.
            with helpers.timed(0.5 + SLACK), pytest.raises(pi.DeadlineExceededError) as err:
                client.bulk_import(option, timeout=0.5)
            assert err.value.method.endswith("/DescribeCollection") and err.value.failed_group is None
            with helpers.timed(0.5 + SLACK), pytest.raises(pi.DeadlineExceededError):
                client.list_import_jobs(collection, timeout=0.5)
            proxy.cut()
            # The same client reconnects by itself; the timed-out Import was not resent: no job at all.
            assert client.server_version(timeout=10) == "v2.3.5-lite"
            assert client.list_import_jobs(collection, timeout=10) == []
            response = client.bulk_import(option, timeout=10)
            jobs = client.list_import_jobs(collection, timeout=10)
            assert [job.job_id for job in jobs] == [response.job_id]
    finally:
        proxy.close()


def _kill(srv: MilvusServer) -> None:
    assert srv.pid is not None
    srv._killed_by_reliability_tests = True  # type: ignore[attr-defined]
    os.killpg(srv.pid, signal.SIGKILL)
    srv.stop()  # reaps the group and waits until nothing listens on the port


@pytest.mark.milvus
def test_server_killed_while_waiting_then_restarted(server: MilvusServer) -> None:
    collection = new_collection(server)
    with pi.ImportClient(server.uri) as client:
        # A real import through this client, counted on the server.
        first = client.bulk_import(pi.new_bulk_import_option("", collection, [[rows_file(server, 1000)]]), timeout=30)
        (done,) = client.wait_for_import(first, timeout=120)
        assert done.state == "Completed" and done.imported_rows == 1000
        assert helpers.count_rows(server.uri, collection) == 1000

        # A second import, then the server dies under the wait.
        option = pi.new_bulk_import_option("", collection, [[rows_file(server, 3000, start_id=10_000)]])
        second = client.bulk_import(option, timeout=30)
        _kill(server)

        # The server stays down: the wait reports the connection problem within its timeout.
        with helpers.timed(3.0 + SLACK), pytest.raises(pi.ImportTimeoutError) as err:
            client.wait_for_import(second, timeout=3.0, poll_max=0.5)
        assert isinstance(err.value.__cause__, pi.TransportError)
        assert helpers.reports_unreachable(err.value), str(err.value)
        # A new import while it is down fails at once and creates nothing (counted below).
        with helpers.timed(2.0 + SLACK), pytest.raises(pi.ServerUnavailableError):
            client.bulk_import(pi.new_bulk_import_option("", collection, [[rows_file(server, 10)]]), timeout=2.0)

        # The server comes back (same data dir) while a wait is polling: the wait rides it out and reports the
        # server's verdict on the job, not a connection error.
        restart_error: list[BaseException] = []

        def restart() -> None:
            try:
                server.start()
            except BaseException as exc:  # reported below
                restart_error.append(exc)

        restarter = threading.Thread(target=restart, daemon=True)
        started = time.monotonic()
        restarter.start()
        try:
            (final,) = client.wait_for_import(second, timeout=120, poll_max=1.0)
            outcome: object = final
        except pi.ImportFailedError as failed:
            outcome = failed
        restarter.join(120)
        assert not restart_error, restart_error
        assert time.monotonic() - started < 120
        if isinstance(outcome, pi.ImportFailedError):
            assert outcome.reason, "the server says why"
            (final,) = outcome.progress
        assert final.job_id == second.job_id
        assert final.state in ("Completed", "Failed")

        # The same client object works again, and no job was duplicated or created while the server was down.
        assert client.server_version(timeout=10) == "v2.3.5-lite"
        jobs = client.list_import_jobs(collection, timeout=10)
        assert sorted(j.job_id for j in jobs) == sorted([first.job_id, second.job_id])  # type: ignore[type-var]
        third = client.bulk_import(pi.new_bulk_import_option("", collection, [[rows_file(server, 10)]]), timeout=30)
        assert client.get_import_progress(third.job_id, timeout=10).job_id == third.job_id
        assert len(client.list_import_jobs(collection, timeout=10)) == 3
