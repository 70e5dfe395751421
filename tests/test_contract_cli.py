"""The CLI contract (issue 18): for every command, with ``--json`` and without, on every exit path -- success, each
error exit code, SIGINT/SIGTERM/SIGHUP at random moments, a closed stdout (``>&-``), a reader that leaves
(``| head -1``) -- the job ids already created are printed (under ``--json`` in one JSON document with top-level
``job_ids``, ``--help`` and ``--version`` included) and the exit code is the documented one.

"Created" is what the Milvus 2.4+ TEST server (tests/fake_milvus.py) recorded, not what the CLI says. The exit
paths run in-process (``main(argv)``); signals, closed descriptors and pipes run the console script. Examples are
bounded so the suite stays fast.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import helpers
import pytest
from fake_milvus import Fault, Milvus24TestServer, stuck_at_80
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymilvus_import import ImportClient, new_bulk_import_option

CONSOLE_SCRIPT = Path(sys.executable).parent / "milvus-import"
TOKEN = "root:Milvus"
FAST = ["--poll-max", "0.05"]
SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def submit_directly(server: Milvus24TestServer, *files: str) -> list[str]:
    """Jobs created before the command runs (for wait / progress), through the library."""
    with ImportClient(server.uri, token=server.require_token) as client:
        option = new_bulk_import_option(server.uri, "coll", [[f] for f in files])
        return list(client.bulk_import(option, timeout=10, preflight=False).job_ids)


# ------------------------------------------------------------------------------------------------ the scenarios
@dataclass
class Scenario:
    """One exit path of one command: the server set-up, the arguments (``{uri}``, ``{ids}`` filled in), the
    documented exit code."""

    name: str
    argv: list[str]
    code: int
    setup: Callable[[Milvus24TestServer], list[str]] = lambda server: []  # returns job ids created beforehand
    server: dict[str, Any] = field(default_factory=dict)
    uri: str | None = None  # instead of the server's

    def __str__(self) -> str:
        return self.name


def stuck(server: Milvus24TestServer) -> list[str]:
    server.next_job_script = stuck_at_80(100_000)
    return []


def one_stuck_job(server: Milvus24TestServer) -> list[str]:
    stuck(server)
    return submit_directly(server, "/d/pre.json")


def one_failed_job(server: Milvus24TestServer) -> list[str]:
    ids = submit_directly(server, "/d/pre-fail.json")
    with server._lock:
        server.jobs[int(ids[0])].script = server.jobs[int(ids[0])].script[-1:]  # Failed from the first poll on
    return ids


def unavailable_at_group_1(server: Milvus24TestServer) -> list[str]:
    server.inject("Import", Fault.delay(0), Fault.abort(grpc.StatusCode.UNAVAILABLE, after_receive=False))
    return []


def slow_group_1(server: Milvus24TestServer) -> list[str]:
    server.inject("Import", Fault.delay(0), Fault.delay(5))
    return []


def slow(method: str) -> Callable[[Milvus24TestServer], list[str]]:
    def setup(server: Milvus24TestServer) -> list[str]:
        server.inject(method, *[Fault.delay(5)] * 3)
        return []

    return setup


def refused(method: str) -> Callable[[Milvus24TestServer], list[str]]:
    def setup(server: Milvus24TestServer) -> list[str]:
        server.inject(method, Fault.status(65535, "unexpected failure"))
        return []

    return setup


def with_jobs(then: Callable[[Milvus24TestServer], list[str]]) -> Callable[[Milvus24TestServer], list[str]]:
    def setup(server: Milvus24TestServer) -> list[str]:
        ids = submit_directly(server, "/d/pre.json")
        then(server)
        return ids

    return setup


NOWHERE = "http://127.0.0.1:{port}"
SUBMIT = ["submit", "-c", "coll"]
SCENARIOS = [
    # submit
    Scenario("submit ok", [*SUBMIT, "/d/a.json", "/d/g/id.npy,/d/g/vec.npy"], 0),
    Scenario("submit --wait ok", [*SUBMIT, "--wait", *FAST, "/d/a.json"], 0),
    Scenario("submit --dry-run", [*SUBMIT, "--dry-run", "/d/a.json"], 0),
    Scenario("submit --wait a job fails", [*SUBMIT, "--wait", *FAST, "/d/a.json", "/d/fail.json"], 1),
    Scenario("submit group 1 refused", [*SUBMIT, "/d/a.json", "/d/b.json"], 1, server={"max_active_jobs": 1}),
    Scenario("submit bad input", [*SUBMIT, "-o", "timeout=soon", "/d/a.json"], 2),
    Scenario("submit usage", ["submit", "-c"], 2),
    Scenario("submit unknown collection", ["submit", "-c", "nope", "/d/a.json"], 2),
    Scenario("submit unknown partition", [*SUBMIT, "-p", "nope", "/d/a.json"], 2),
    Scenario("submit unreachable", [*SUBMIT, "/d/a.json"], 3, uri=NOWHERE),
    Scenario("submit unavailable at group 1", [*SUBMIT, "/d/a.json", "/d/b.json"], 3, unavailable_at_group_1),
    Scenario("submit wrong token", [*SUBMIT, "/d/a.json"], 3, server={"require_token": "root:other"}),
    Scenario("submit timeout at group 1", [*SUBMIT, "--timeout", "0.5", "/d/a.json", "/d/b.json"], 4, slow_group_1),
    Scenario("submit --wait timeout", [*SUBMIT, "-w", "--timeout", "0.5", *FAST, "/d/a.json"], 4, stuck),
    # progress
    Scenario("progress ok", ["progress", "{ids}"], 0, with_jobs(lambda s: [])),
    Scenario("progress a job failed", ["progress", "{ids}"], 1, one_failed_job),
    Scenario("progress unknown job", ["progress", "123"], 1),
    Scenario("progress bad id", ["progress", "abc"], 2),
    Scenario("progress unreachable", ["progress", "1"], 3, uri=NOWHERE),
    Scenario("progress wrong token", ["progress", "1"], 3, server={"require_token": "root:other"}),
    Scenario("progress timeout", ["progress", "--timeout", "0.3", "{ids}"], 4, with_jobs(slow("GetImportState"))),
    # list
    Scenario("list ok", ["list", "-c", "coll"], 0, with_jobs(lambda s: [])),
    Scenario("list server error", ["list"], 1, refused("ListImportTasks")),
    Scenario("list unknown collection", ["list", "-c", "nope"], 2),
    Scenario("list bad limit", ["list", "--limit", "0"], 2),
    Scenario("list unreachable", ["list"], 3, uri=NOWHERE),
    Scenario("list wrong token", ["list"], 3, server={"require_token": "root:other"}),
    Scenario("list timeout", ["list", "--timeout", "0.3"], 4, slow("ListImportTasks")),
    # wait
    Scenario("wait ok", ["wait", *FAST, "{ids}"], 0, with_jobs(lambda s: [])),
    Scenario("wait a job fails", ["wait", *FAST, "{ids}"], 1, one_failed_job),
    Scenario("wait unknown job", ["wait", *FAST, "123"], 1),
    Scenario("wait bad id", ["wait", "-7"], 2),
    Scenario("wait unreachable", ["wait", "1"], 3, uri=NOWHERE),
    Scenario("wait timeout", ["wait", "--timeout", "0.5", *FAST, "{ids}"], 4, one_stuck_job),
    # no command
    Scenario("--help", ["--help"], 0),
    Scenario("submit --help", ["submit", "--help"], 0),
    Scenario("--version", ["--version"], 0),
    Scenario("no command", [], 2),
]


@pytest.fixture
def make_server(start_test_server: Callable[..., Milvus24TestServer]) -> Callable[..., Milvus24TestServer]:
    """A TEST server with the collection ``coll`` (conftest's factory; stopped after the test)."""
    return start_test_server


def prepare(scenario: Scenario, server: Milvus24TestServer) -> tuple[list[str], list[str]]:
    """The command line and the ids of jobs that existed before it."""
    before = scenario.setup(server)
    uri = (scenario.uri or server.uri).format(port=closed_port())
    argv = []
    for arg in scenario.argv:
        argv.extend(before if arg == "{ids}" else [arg])
    token = ["--token", TOKEN] if server.require_token == TOKEN else []
    return ["--uri", uri, *token, *argv], before


def created_by_the_command(server: Milvus24TestServer, before: list[str]) -> list[str]:
    with server._lock:
        return [str(job_id) for job_id in server.jobs if str(job_id) not in before]


def the_command(argv: list[str]) -> str:
    return next((a for a in argv if a in ("submit", "progress", "list", "wait")), "")


def check(
    argv: list[str],
    code: int,
    out: str,
    err: str,
    *,
    created: list[str],
    as_json: bool,
    allowed_codes: set[int],
    json_stream: str | None = None,
) -> None:
    """The contract, for one run."""
    shown = f"exit {code}\n--- argv {argv}\n--- stdout\n{out}\n--- stderr\n{err}"
    assert code in allowed_codes, shown
    assert "Traceback" not in err, shown
    if as_json:
        text = out if json_stream is None else json_stream
        document = json.loads(text[text.index("{") :] if json_stream is not None else text)  # exactly one document
        if the_command(argv) == "submit":  # exactly the jobs it created
            assert document["job_ids"] == created, shown
        else:  # wait / progress name the ids they were given (once checked); list and the rest none
            assert set(document["job_ids"]) <= {a for a in argv if a.isdigit()}, shown
        if code != 0:
            error = document["error"]
            assert error["exit_code"] == code and error["job_ids"] == document["job_ids"], shown
        else:
            assert "error" not in document, shown
    for job_id in created:
        assert job_id in out + err, shown  # every job the command created is named somewhere the user sees


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_every_exit_path_prints_the_created_job_ids_and_the_documented_code(
    capsys: pytest.CaptureFixture[str],
    make_server: Callable[..., Milvus24TestServer],
    scenario: Scenario,
    as_json: bool,
) -> None:
    server = make_server(**scenario.server)
    argv, before = prepare(scenario, server)
    if as_json:
        argv.insert(0, "--json")
    result = helpers.run_cli(capsys, *argv)
    server.wait_idle()
    created = created_by_the_command(server, before)
    check(
        argv,
        result.code,
        result.out,
        result.err,
        created=created,
        as_json=as_json,
        allowed_codes={scenario.code},
    )
    if scenario.name.startswith("submit") and scenario.code != 0 and "group 1" in scenario.name:
        assert created, "the scenario is meant to create a job before it fails"


# ------------------------------------------------------------------------------------------------ subprocesses
def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "GRPC_"))}


SIGNAL_RUNS = {
    "submit --wait": (["submit", "-c", "coll", "--wait", *FAST, "/d/a.json", "/d/b.json", "/d/c.json"], stuck),
    "submit (slow imports)": (["submit", "-c", "coll", "/d/a.json", "/d/b.json", "/d/c.json"], None),
    "wait": (["wait", *FAST, "{ids}"], one_stuck_job),
    "progress": (["progress", "{ids}"], with_jobs(slow("GetImportState"))),
    "list": (["list", "-c", "coll"], slow("ListImportTasks")),
}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    run=st.sampled_from(sorted(SIGNAL_RUNS)),
    sig=st.sampled_from(sorted(SIGNALS)),
    delay=st.floats(0.0, 0.8),
    as_json=st.booleans(),
)
def test_a_signal_at_a_random_moment_loses_no_job_id(
    make_server: Callable[..., Milvus24TestServer], run: str, sig: signal.Signals, delay: float, as_json: bool
) -> None:
    arguments, setup = SIGNAL_RUNS[run]
    server = make_server()
    if run == "submit (slow imports)":
        server.inject("Import", *[Fault.delay(0.15)] * 3)
    scenario = Scenario(run, arguments, 0, setup or (lambda s: []))
    argv, before = prepare(scenario, server)
    if as_json:
        argv.insert(0, "--json")
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()
    )
    # The random moment is counted from the command's first RPC: before it, the interpreter is still starting
    # (a signal then is Python's own business: nothing exists yet).
    seen = len(server.requests)
    deadline = time.monotonic() + 30
    while len(server.requests) == seen and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    server.wait_idle()
    created = created_by_the_command(server, before)
    own = 0 if run != "submit --wait" else -1  # submit --wait never ends by itself here (the jobs are stuck)
    check(
        argv,
        proc.returncode,  # never killed by the signal itself (-signum): not even while the interpreter shuts down
        out,
        err,
        created=[job_id for job_id in created if job_id in out + err] if _in_flight(err) else created,
        as_json=as_json,
        allowed_codes={own, SIGNALS[sig]},
    )
    missing = [job_id for job_id in created if job_id not in out + err]
    assert len(missing) <= 1 and (not missing or _in_flight(err)), (missing, out, err)


def _in_flight(err: str) -> bool:
    """The CLI said the group being sent when the signal came may have been created (its id never came back)."""
    return "the file group being sent may have been created too" in err


def shell(command: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command, str(CONSOLE_SCRIPT), *argv],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
    )


#: One success and the failures that create something or end the command early, per command (each runs as two
#: subprocesses per mode; the in-process test above covers every exit path).
SHELL_SCENARIOS = [
    s
    for s in SCENARIOS
    if s.name
    in {
        "submit ok",
        "submit --wait ok",
        "submit unavailable at group 1",
        "submit unknown collection",
        "progress unknown job",
        "list ok",
        "list unknown collection",
        "wait ok",
        "--help",
        "--version",
    }
]


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
@pytest.mark.parametrize("scenario", SHELL_SCENARIOS, ids=str)
def test_a_closed_stdout_and_a_reader_that_leaves(
    make_server: Callable[..., Milvus24TestServer], scenario: Scenario, as_json: bool
) -> None:
    server = make_server(**scenario.server)
    argv, before = prepare(scenario, server)
    if as_json:
        argv.insert(0, "--json")

    closed = shell('exec "$0" "$@" >&-', argv)  # `milvus-import ... >&-`: everything goes to stderr
    server.wait_idle()
    created = created_by_the_command(server, before)
    check(
        argv,
        closed.returncode,
        "",
        closed.stderr,
        created=created,
        as_json=as_json,
        allowed_codes={scenario.code},
        json_stream=closed.stderr,
    )

    argv, before = prepare(scenario, server)  # the set-up again (its faults were used up)
    before = before + [str(job_id) for job_id in server.jobs if str(job_id) not in before]
    if as_json:
        argv.insert(0, "--json")
    left = shell('"$0" "$@" | head -1; exit "${PIPESTATUS[0]}"', argv)
    server.wait_idle()
    created = created_by_the_command(server, before)
    assert left.returncode == scenario.code, left
    assert "Traceback" not in left.stderr and "BrokenPipe" not in left.stderr, left
    for job_id in created:  # in the one line head shows, or repeated on stderr
        assert job_id in left.stdout + left.stderr, left


# ------------------------------------------------------------------------------------------------ any command line
WORDS = [
    "submit", "progress", "list", "wait", "-c", "coll", "nope", "-p", "p1", "-o", "timeout=300s", "backup=true",
    "k=", "--group", "--", "-w", "-q", "--dry-run", "--no-preflight", "--timeout", "0.5", "-1", "--limit", "2",
    "--poll-max", "0.05", "--db", "db2", "--help", "--version", "--debug", "/d/a.json", "/d/b.parquet",
    "/d/g/id.npy,/d/g/vec.npy", "/d/x.txt", "450000000000000001", "abc", "--idempotency-key", "--bogus",
    "--ca-cert", "/nonexistent.pem", "--server-name", "--tls",
]  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=9))
def test_any_command_line_under_json_prints_one_document_with_job_ids(
    capsys: pytest.CaptureFixture[str], make_server: Callable[..., Milvus24TestServer], words: list[str]
) -> None:
    """Whatever the arguments, --json prints exactly one JSON document with top-level job_ids, its error (if any)
    carries the exit code, and that code is one of the documented ones."""
    server = make_server()
    before = created_by_the_command(server, [])
    argv = ["--json", "--uri", server.uri, *words]
    result = helpers.run_cli(capsys, *argv)
    server.wait_idle()
    assert result.code in {0, 1, 2, 3, 4}, result
    check(
        argv,
        result.code,
        result.out,
        result.err.replace("Traceback (most recent call last)", "") if "--debug" in words else result.err,
        created=created_by_the_command(server, before),
        as_json=True,
        allowed_codes={0, 1, 2, 3, 4},
    )
    document = json.loads(result.out)
    assert (result.code == 0) == ("error" not in document), result


PYTHON_WORDS = re.compile(
    r"\b(with_\w+|new_bulk_import_option|bulk_import|ImportClient)\(|\b\w+=(False|True|None|\.\.\.)"
    r"|\b(ca_cert|client_cert|client_key|server_name|db_name|channel_options)\b"
)
FLAG_VALUES = st.sampled_from(
    ["--ca-cert", "--client-cert", "--client-key", "--server-name", "--db", "-p", "-o", "--idempotency-key", "-c"]
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(FLAG_VALUES, st.text(max_size=12)), min_size=1, max_size=3))
def test_errors_always_name_cli_flags(
    capsys: pytest.CaptureFixture[str], make_server: Callable[..., Milvus24TestServer], pairs: list[tuple[str, str]]
) -> None:
    """The rule behind "drop with_partition(...)": no error line of the command names a Python call or parameter,
    whatever flag carried the bad value (a user's own value, in quotes, is shown as given)."""
    server = make_server()
    options = [part for flag, value in pairs for part in (flag, value)]
    if "-c" not in options:
        options += ["-c", "coll"]
    result = helpers.run_cli(capsys, "--uri", server.uri, "submit", *options, "/d/a.json")
    lines = [line for line in result.err.splitlines() if line.startswith("milvus-import: error: ")]
    values = {value for _, value in pairs}
    for line in lines:
        outside = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", line)  # what the user gave is theirs
        assert not PYTHON_WORDS.search(outside) or any(PYTHON_WORDS.search(v) for v in values), line
