"""A server that is not started: every call ends within its deadline with a documented error.

Nothing listens on the port (a free local port, bound once and released), so no Milvus is needed; what a user
observes is ``ServerUnavailableError`` (UNAVAILABLE, the address named), ``DeadlineExceededError`` with
``wait_for_ready``, and ``ImportTimeoutError`` from a wait whose cause says the server was unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import helpers
import pytest

import pymilvus_import as pi

TIMEOUT = 2.0
SLACK = 1.0


@pytest.fixture
def nowhere() -> Iterator[pi.ImportClient]:
    with pi.ImportClient(f"http://127.0.0.1:{helpers.unused_port()}") as client:
        yield client


def test_server_not_started_import_fails_within_the_deadline(nowhere: pi.ImportClient) -> None:
    option = pi.new_bulk_import_option("", "coll", [["/data/rows.json"]])
    with helpers.timed(TIMEOUT + SLACK), pytest.raises(pi.ServerUnavailableError) as err:
        nowhere.bulk_import(option, timeout=TIMEOUT)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert err.value.created_job_ids == ()
    assert "127.0.0.1" in str(err.value)


def test_server_not_started_without_a_timeout_does_not_hang(nowhere: pi.ImportClient) -> None:
    option = pi.new_bulk_import_option("", "coll", [["/data/rows.json"]])
    with helpers.timed(10), pytest.raises(pi.ServerUnavailableError):
        nowhere.bulk_import(option)
    with helpers.timed(10), pytest.raises(pi.ServerUnavailableError):
        nowhere.get_import_progress(1)


@pytest.mark.parametrize("method", ["get_import_progress", "list_import_jobs", "server_version"])
def test_server_not_started_read_only_calls_fail_within_the_deadline(nowhere: pi.ImportClient, method: str) -> None:
    args = {"get_import_progress": (450_000_000_000_000_001,), "list_import_jobs": ("coll",), "server_version": ()}
    with helpers.timed(TIMEOUT + SLACK), pytest.raises(pi.ServerUnavailableError):
        getattr(nowhere, method)(*args[method], timeout=TIMEOUT)


def test_server_not_started_wait_reports_it_within_the_deadline(nowhere: pi.ImportClient) -> None:
    with helpers.timed(TIMEOUT + SLACK), pytest.raises(pi.ImportTimeoutError) as err:
        nowhere.wait_for_import(450_000_000_000_000_001, timeout=TIMEOUT, poll_max=0.5)
    assert isinstance(err.value.__cause__, pi.ServerUnavailableError)
    assert helpers.reports_unreachable(err.value), str(err.value)


def test_server_not_started_wait_for_ready_ends_at_the_deadline(nowhere: pi.ImportClient) -> None:
    option = pi.new_bulk_import_option("", "coll", [["/data/rows.json"]])
    with helpers.timed(1.0 + SLACK), pytest.raises(pi.DeadlineExceededError):
        nowhere.bulk_import(option, timeout=1.0, wait_for_ready=True)


def test_server_not_started_module_level_call(monkeypatch: pytest.MonkeyPatch) -> None:
    option = pi.new_bulk_import_option(f"http://127.0.0.1:{helpers.unused_port()}", "coll", [["/data/rows.json"]])
    with helpers.timed(TIMEOUT + SLACK), pytest.raises(pi.ServerUnavailableError):
        pi.bulk_import(option, timeout=TIMEOUT)
