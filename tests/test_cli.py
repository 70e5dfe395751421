"""The ``milvus-import`` command: exit codes, output (plain, ``--json``, progress bar on a terminal), credentials.

Most tests run ``main(argv)`` in-process against the Milvus 2.4+ TEST server; a few run the installed console script
(or ``python -m pymilvus_import``) as a subprocess, under a pseudo-terminal where a terminal matters. The tests marked
``milvus`` run the command end to end against the real embedded Milvus 2.3.5.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import helpers
import pytest
from fake_milvus import JOB_ID_BASE, MISSING_FILE_REASON, Fault, Milvus24TestServer, stuck_at_80

BIN = Path(sys.executable).parent
CONSOLE_SCRIPT = BIN / "milvus-import"
TOKEN = "s3cr3t-T0KEN-value"
FAST = ["--poll-max", "0.05"]


pytestmark = pytest.mark.test_server(
    version="v2.4.10",
    rows_per_job=1000,
    collections=({"name": "coll", "partitions": ("_default", "p1")}, {"name": "c2", "db_name": "db2"}),
)


Result = helpers.CliResult


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    return helpers.run_cli(capsys, *argv)


def run(*argv: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: str | Path = "/") -> Result:
    """The installed console script, in a subprocess (stdout/stderr are pipes, so no terminal)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    full_env.update(env or {})
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), *argv],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def one_error_line(result: Result) -> str:
    """The error output is exactly one line starting with the program name, and no traceback."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("milvus-import: error: "), result
    assert "Traceback" not in result.err
    return lines[0]


# ------------------------------------------------------------------------------------------------ help and usage
@pytest.mark.parametrize("command", [[], ["submit"], ["progress"], ["list"], ["wait"]])
def test_help_on_every_command(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    result = cli(capsys, *command, "--help")
    assert result.code == 0
    assert result.out.startswith("usage: milvus-import")
    assert "exit codes:" in result.out and "ImportJobNotFoundError" in result.out
    assert "--uri" in result.out and "--json" in result.out and "--ca-cert" in result.out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "--version")
    assert result.code == 0 and result.out.startswith("milvus-import 0.")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["submit", "/d/a.json"],  # no --collection
        ["submit", "-c", "coll"],  # no GROUP
        ["submit", "-c", "coll", "-o", "novalue", "/d/a.json"],
        ["submit", "-c", "coll", "--timeout", "-3", "/d/a.json"],
        ["submit", "-c", "coll", "--timeout", "soon", "/d/a.json"],
        ["list", "--limit", "0"],
        ["progress"],
        ["wait", "--poll-max", "0", "1"],
    ],
    ids=lambda argv: " ".join(argv) or "nothing",
)
def test_argparse_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    result = cli(capsys, "--uri", "http://127.0.0.1:1", *argv)
    assert result.code == 2, result
    assert "usage: milvus-import" in result.err and "error:" in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["progress", "abc"], "job id must be a positive integer"),
        (["wait", "12", "-7"], "job id must be a positive integer"),
        (["submit", "-c", "coll", "/d/a.npy,,/d/b.npy"], "has an empty path"),
        (["submit", "-c", "coll", "/d/a.txt"], "unsupported extension"),
        (["submit", "-c", "coll", "/d/a.json,/d/b.json"], "a row-based group holds exactly one file"),
        (["submit", "-c", "coll", "/d/a.json", "/d/a.json"], "duplicate path"),
        (["submit", "-c", "coll", "-o", "timeout=soon", "/d/a.json"], "Go duration"),
        (["submit", "-c", "coll", "-o", "backup=true", "/d/a"], "needs a partition name"),
        (["submit", "-c", " ", "/d/a.json"], "collection name"),
        (["--password", "pw", "list"], "--password needs --user"),
        (["--token", "t", "--user", "u", "--password", "p", "list"], "alternatives"),
        (["--user", "root", "list"], "--user root needs a password"),
        (["--client-cert", "/nonexistent.pem", "list"], "--client-cert and --client-key"),
        (["--ca-cert", "/nonexistent/ca.pem", "list"], "cannot read --ca-cert file"),
        (["--db", " ", "list"], "--db must be a non-empty string"),
    ],
)
def test_bad_input_exits_2_before_any_rpc(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer, argv: list[str], says: str
) -> None:
    result = cli(capsys, "--uri", server.uri, *argv)
    assert result.code == 2, result
    assert says in one_error_line(result)
    assert server.requests == []


def test_no_uri_anywhere_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "list")
    assert result.code == 2
    assert "pass --uri http://host:19530 or set MILVUS_URI" in one_error_line(result)


def test_bad_uri_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "--uri", "ftp://user:pw1234@host", "list")
    assert result.code == 2
    line = one_error_line(result)
    assert "unsupported scheme" in line and "pw1234" not in line


# ------------------------------------------------------------------------------------------------ connection problems
@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["progress", "1"],
        ["wait", "1"],
        ["submit", "-c", "coll", "/d/a.json"],
        ["submit", "-w", "-c", "c", "/a.json"],
    ],
)
def test_unreachable_server_exits_3_quickly(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    started = time.monotonic()
    result = cli(capsys, "--uri", f"http://127.0.0.1:{helpers.unused_port()}", *argv)
    assert result.code == 3, result
    assert "UNAVAILABLE" in one_error_line(result)
    assert time.monotonic() - started < 10


def test_wrong_token_exits_3_and_never_shows_the_token(
    start_test_server: Callable[..., Milvus24TestServer], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = start_test_server(require_token="root:Milvus", collections=("coll",))
    for argv in (["list"], ["submit", "-c", "coll", "--wait", "/d/a.json"], ["progress", "1"], ["wait", "1"]):
        for extra in ([], ["--debug"], ["--json"]):
            result = cli(capsys, "--uri", srv.uri, "--token", TOKEN, *extra, *argv)
            assert result.code == 3, result
            assert "UNAUTHENTICATED" in result.err
            if not extra:
                one_error_line(result)
            if extra == ["--debug"]:
                assert "Traceback" in result.err
            if extra == ["--json"]:
                assert result.json()["error"]["type"] == "AuthenticationError"
                assert result.json()["error"]["exit_code"] == 3
            for secret in (TOKEN, base64.b64encode(TOKEN.encode()).decode()):
                assert secret not in result.out and secret not in result.err


def test_right_credentials_every_way(
    start_test_server: Callable[..., Milvus24TestServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    srv = start_test_server(require_token="root:Milvus", collections=("coll",))
    assert cli(capsys, "--uri", srv.uri, "--token", "root:Milvus", "list").code == 0
    assert cli(capsys, "--uri", srv.uri, "--user", "root", "--password", "Milvus", "list").code == 0
    assert cli(capsys, "--uri", "http://root:Milvus@" + srv.address, "list").code == 0
    monkeypatch.setenv("MILVUS_PASSWORD", "Milvus")
    assert cli(capsys, "--uri", srv.uri, "--user", "root", "list").code == 0
    monkeypatch.delenv("MILVUS_PASSWORD")
    monkeypatch.setenv("MILVUS_TOKEN", "root:Milvus")
    monkeypatch.setenv("MILVUS_URI", srv.uri)
    result = cli(capsys, "submit", "-c", "coll", "--wait", *FAST, "/d/a.json")
    assert result.code == 0, result
    assert "Milvus" not in result.out.replace("Milvus import", "") and "root:" not in result.out
    monkeypatch.setenv("MILVUS_TOKEN", "root:wrong-env-secret")
    result = cli(capsys, "list")
    assert result.code == 3 and "wrong-env-secret" not in result.err
    headers = {call.metadata.get("authorization") for call in srv.requests}
    assert base64.b64encode(b"root:Milvus").decode() in headers


def test_secrets_in_the_uri_are_masked(
    start_test_server: Callable[..., Milvus24TestServer], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = start_test_server(require_token="root:Milvus", collections=())
    result = cli(capsys, "--uri", f"http://root:Hunter2pw@{srv.address}", "--debug", "list")
    assert result.code == 3
    assert "Hunter2pw" not in result.err and base64.b64encode(b"root:Hunter2pw").decode() not in result.err


# ------------------------------------------------------------------------------------------------ submit / wait
def test_submit_prints_job_ids_and_sends_what_was_asked(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    result = cli(
        capsys,
        "--uri",
        server.uri,
        "submit",
        "-c",
        "coll",
        "-p",
        "p1",
        "-o",
        "timeout=300s",
        "-o",
        "sep=;",
        "--idempotency-key",
        "k1",
        "/d/a.json",
        "/d/g/id.npy,/d/g/vec.npy",
    )
    assert result.code == 0, result
    first, second = str(JOB_ID_BASE), str(JOB_ID_BASE + 1)
    assert result.out.splitlines() == [
        f"Submitted 2 import jobs into collection 'coll': {first} {second}",
        f"  {first}  /d/a.json",
        f"  {second}  /d/g/id.npy,/d/g/vec.npy",
    ]
    assert result.err == ""
    calls = server.requests_for("Import")
    assert [list(c.request.files) for c in calls] == [["/d/a.json"], ["/d/g/id.npy", "/d/g/vec.npy"]]
    assert all(c.request.partition_name == "p1" for c in calls)
    assert [(kv.key, kv.value) for kv in calls[0].request.options] == [("timeout", "300s"), ("sep", ";")]
    assert server.requests_for("GetImportState") == []  # no --wait: nothing polled


def test_submit_json_and_database(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    result = cli(capsys, "--uri", server.uri, "--db", "db2", "--json", "submit", "-c", "c2", "/d/a.parquet")
    assert result.code == 0, result
    assert result.json() == {"collection": "c2", "partition": None, "database": "db2", "job_ids": [str(JOB_ID_BASE)]}
    (call,) = server.requests_for("Import")
    assert call.request.db_name == "db2" and call.metadata.get("dbname") == "db2"


def test_options_before_or_after_the_command(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/a.json")
    before = cli(capsys, "--uri", server.uri, "--json", "list", "-c", "coll")
    after = cli(capsys, "list", "-c", "coll", "--json", "--uri", server.uri)
    assert before.code == after.code == 0
    assert before.json() == after.json()


def test_submit_wait_shows_plain_progress_lines_and_the_result(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "--wait", *FAST, "/d/a.json", "/d/b.json")
    assert result.code == 0, result
    first, second = str(JOB_ID_BASE), str(JOB_ID_BASE + 1)
    lines = result.out.splitlines()
    for job_id in (first, second):
        assert any(f"job {job_id}: Pending 0%" in line for line in lines), result
        assert any(f"job {job_id}: Completed 100%, 1000 rows" in line for line in lines), result
    assert "\r" not in result.out  # not a terminal: no bar
    assert lines[-3].split() == [first, "Completed", "100%", "1000", "rows"]
    assert lines[-2].split() == [second, "Completed", "100%", "1000", "rows"]
    assert lines[-1].startswith("Completed: 2 jobs, 2000 rows imported in ")
    assert result.err == ""


def test_submit_wait_json_puts_progress_on_stderr(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    result = cli(capsys, "--uri", server.uri, "--json", "submit", "-c", "coll", "--wait", *FAST, "/d/a.json")
    assert result.code == 0, result
    document = result.json()
    (job,) = document["jobs"]
    assert document["job_ids"] == [job["job_id"]] == [str(JOB_ID_BASE)]
    assert (job["state"], job["progress"], job["imported_rows"], job["raw_state"]) == (
        "Completed",
        100,
        1000,
        "ImportCompleted",
    )
    assert job["create_time"].endswith("+00:00")
    assert f"job {JOB_ID_BASE}: Completed 100%" in result.err


def test_quiet_wait_shows_only_the_result(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "-w", "-q", *FAST, "/d/a.json")
    assert result.code == 0
    assert f"job {JOB_ID_BASE}:" not in result.out and result.out.splitlines()[-1].startswith(
        "Completed: 1 job, 1000 rows"
    )


def test_failed_import_exits_1_with_the_reason(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "--wait", *FAST, "/d/ok.json", "/d/fail.json")
    assert result.code == 1, result
    line = one_error_line(result)
    assert MISSING_FILE_REASON in line and str(JOB_ID_BASE + 1) in line
    assert f"job {JOB_ID_BASE + 1}: Failed 0%: {MISSING_FILE_REASON}" in result.out
    assert result.out.splitlines()[-1] == "Failed: 1 of 2 jobs failed (1 completed, 1000 rows imported)"

    as_json = cli(capsys, "--uri", server.uri, "--json", "wait", *FAST, str(JOB_ID_BASE), str(JOB_ID_BASE + 1))
    assert as_json.code == 1
    document = as_json.json()
    assert [j["state"] for j in document["jobs"]] == ["Completed", "Failed"]
    assert document["jobs"][1]["reason"] == MISSING_FILE_REASON
    assert document["error"]["type"] == "ImportFailedError" and document["error"]["exit_code"] == 1


def test_refused_import_exits_1(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    result = cli(capsys, "--uri", server.uri, "submit", "--no-preflight", "-c", "nope", "/d/a.json")
    assert result.code == 1
    assert "collection not found" in one_error_line(result)


def test_an_unknown_collection_is_bad_input_found_by_the_preflight(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "nope", "/d/a.json")
    assert result.code == 2
    assert "collection 'nope' does not exist in database 'default'" in one_error_line(result)
    assert server.import_count() == 0


def test_a_collection_name_the_server_refuses_is_bad_input_before_any_import(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    """issue 18 #2 (server half): DescribeCollection answers 1100 "Invalid collection name"; exit 2, no Import."""
    name = "n" * 300  # only the server knows its length limit (proxy.maxNameLength)
    result = cli(capsys, "--uri", server.uri, "--json", "submit", "-c", name, "/d/a.json")
    assert result.code == 2, result
    assert f"refuses the collection name {name!r}" in one_error_line(result)
    assert result.json()["error"]["type"] == "InvalidCollectionNameError"
    assert server.import_count() == 0


def test_partly_created_jobs_are_named_in_the_error(
    start_test_server: Callable[..., Milvus24TestServer], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = start_test_server(max_active_jobs=1, collections=("coll",))  # the second group is refused: too many jobs
    result = cli(capsys, "--uri", srv.uri, "--json", "submit", "-c", "coll", "/d/a.json", "/d/b.json")
    assert result.code == 1, result
    line = one_error_line(result)
    assert "reached the limit" in line and f"job ids already created by earlier groups: ['{JOB_ID_BASE}']" in line
    assert result.json()["error"]["type"] == "BulkImportError"


def test_timeout_exits_4_and_says_how_to_resume(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    server.next_job_script = stuck_at_80(100_000)
    started = time.monotonic()
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "-w", "--timeout", "1", *FAST, "/d/a.json")
    assert time.monotonic() - started < 5
    assert result.code == 4, result
    line = one_error_line(result)
    assert "not finished after" in line and f"milvus-import wait {JOB_ID_BASE}" in line
    assert "unreachable" not in line
    assert result.out.splitlines()[-1].startswith("Not finished: 0 of 1 job completed")

    again = cli(capsys, "--uri", server.uri, "--json", "wait", "--timeout", "0.5", *FAST, str(JOB_ID_BASE))
    assert again.code == 4
    document = again.json()
    assert document["jobs"][0]["progress"] == 80 and document["error"]["type"] == "ImportTimeoutError"


def test_slow_server_on_submit_exits_4(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    server.inject("Import", Fault.delay(3))
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "--timeout", "0.5", "/d/a.json")
    assert result.code == 4, result
    line = one_error_line(result)
    assert "DEADLINE_EXCEEDED" in line and "the server may still create the job" in line


def test_wait_for_several_jobs(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/a.json", "/d/b.json")
    result = cli(capsys, "--uri", server.uri, "wait", *FAST, str(JOB_ID_BASE + 1), str(JOB_ID_BASE))
    assert result.code == 0, result
    assert result.out.splitlines()[-1].startswith("Completed: 2 jobs, 2000 rows")


def test_job_vanishing_while_waiting_exits_1(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    server.next_job_script = stuck_at_80(100_000)
    cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/a.json")
    server.expire_job(JOB_ID_BASE)
    result = cli(capsys, "--uri", server.uri, "wait", *FAST, str(JOB_ID_BASE))
    assert result.code == 1
    assert "import job does not exist" in one_error_line(result)


def test_transient_unavailable_while_waiting_is_ridden_out(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/a.json")
    server.inject("GetImportState", *[Fault.abort(grpc.StatusCode.UNAVAILABLE, after_receive=False)] * 8)
    result = cli(capsys, "--uri", server.uri, "wait", *FAST, str(JOB_ID_BASE))
    assert result.code == 0, result


# ------------------------------------------------------------------------------------------------ progress / list
def test_progress_plain_and_json(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/a.json", "/d/fail.json")
    first, second = str(JOB_ID_BASE), str(JOB_ID_BASE + 1)
    result = cli(capsys, "--uri", server.uri, "progress", first, second)
    assert result.code == 0, result  # nothing failed yet
    assert [line.split()[:3] for line in result.out.splitlines()] == [
        [first, "Pending", "0%"],
        [second, "Pending", "0%"],
    ]
    result = cli(capsys, "--uri", server.uri, "--json", "progress", first, second)
    assert result.code == 1  # the second job is Failed now
    document = result.json()
    assert [(j["job_id"], j["state"]) for j in document["jobs"]] == [(first, "Importing"), (second, "Failed")]
    assert document["jobs"][1]["reason"] == MISSING_FILE_REASON
    assert document["not_found"] == []


def test_progress_of_unknown_jobs_exits_1_and_still_shows_the_known(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/a.json")
    result = cli(capsys, "--uri", server.uri, "--json", "progress", "123", str(JOB_ID_BASE))
    assert result.code == 1
    assert result.json()["not_found"] == ["123"]
    assert [j["job_id"] for j in result.json()["jobs"]] == [str(JOB_ID_BASE)]
    assert "import job 123 is not known" in one_error_line(result)


def test_list_plain_json_and_limit(capsys: pytest.CaptureFixture[str], server: Milvus24TestServer) -> None:
    cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/a.json", "/d/b.json", "/d/c.json")
    result = cli(capsys, "--uri", server.uri, "list", "-c", "coll")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["JOB", "ID", "COLLECTION", "STATE", "PROGRESS", "ROWS", "REASON"]
    assert len(lines) == 1 + 3 + 1 and "does not report job ids" in lines[-1]
    result = cli(capsys, "--uri", server.uri, "--json", "list", "-c", "coll", "--limit", "2")
    records = result.json()["jobs"]
    assert len(records) == 2 and all(r["job_id"] is None for r in records)
    assert cli(capsys, "--uri", server.uri, "list", "-c", "nope").code == 2  # as submit: CollectionNotFoundError
    assert cli(capsys, "--uri", server.uri, "--db", "db2", "list").out.strip() == "no import jobs"


# ------------------------------------------------------------------------------------------------ subprocesses
def test_console_script_and_python_dash_m(server: Milvus24TestServer, tmp_path: Path) -> None:
    result = run("submit", "-c", "coll", "--wait", *FAST, "/d/a.json", env={"MILVUS_URI": server.uri}, cwd=tmp_path)
    assert result.code == 0, result
    assert f"job {JOB_ID_BASE}: Completed 100%, 1000 rows" in result.out
    proc = subprocess.run(
        [sys.executable, "-m", "pymilvus_import", "--uri", server.uri, "--json", "progress", str(JOB_ID_BASE)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["jobs"][0]["state"] == "Completed"
    usage = run("nonsense")
    assert usage.code == 2 and "usage: milvus-import" in usage.err


def test_ctrl_c_exits_130_and_names_the_running_jobs(server: Milvus24TestServer) -> None:
    server.next_job_script = stuck_at_80(100_000)
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "--uri", server.uri, "submit", "-c", "coll", "--wait", "/d/a.json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(server.requests_for("GetImportState")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert f"the import jobs keep running on the server: {JOB_ID_BASE}" in err
    assert "Traceback" not in err


def run_in_terminal(argv: list[str], *, answer: bytes | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run ``python -m pymilvus_import ARGV`` with a pseudo-terminal as its controlling terminal and stdio."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    become_terminal_owner = (
        "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
        "os.execv(sys.executable, [sys.executable, '-m', 'pymilvus_import', *sys.argv[1:]])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(
        [sys.executable, "-c", become_terminal_owner, *argv], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                if answer is not None and b"Password for Milvus user" in output:
                    os.write(master, answer)
                    answer = None
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        with contextlib.suppress(OSError):
            os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, output.decode(errors="replace")


def test_progress_bar_on_a_terminal(server: Milvus24TestServer) -> None:
    server.next_job_script = stuck_at_80(10)
    code, output = run_in_terminal(["--uri", server.uri, "submit", "-c", "coll", "--wait", *FAST, "/d/a.json"])
    assert code == 0, output
    assert "\r" in output and "|" in output  # tqdm redraws one line
    assert f"job {JOB_ID_BASE}: 100%|" in output
    assert "Completed, 1000 rows" in output
    assert f"[   0.0s] job {JOB_ID_BASE}" not in output  # no plain lines on a terminal
    assert "Completed: 1 job, 1000 rows imported" in output


def test_password_prompt_on_a_terminal(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    srv = start_test_server(require_token="root:Pr0mpted-pw", collections=("coll",))
    code, output = run_in_terminal(["--uri", srv.uri, "--user", "root", "list"], answer=b"Pr0mpted-pw\n")
    assert code == 0, output
    assert "Password for Milvus user root:" in output
    assert "Pr0mpted-pw" not in output  # not echoed
    code, output = run_in_terminal(["--uri", srv.uri, "--user", "root", "list"], answer=b"wrong-pw\n")
    assert code == 3, output
    assert "wrong-pw" not in output


# ------------------------------------------------------------------------------------------------ the real Milvus 2.3.5
@pytest.mark.milvus
def test_real_submit_wait_plain_progress_and_row_count(milvus: Any, collection: str, import_dir: Path) -> None:
    rows = helpers.write_json_rows(import_dir / "rows.json", 1000)
    npy = helpers.write_npy_group(import_dir / "npy", 500, start_id=10_000)
    result = run("submit", "-c", collection, "--wait", rows, ",".join(npy), env={"MILVUS_URI": milvus.uri})
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].startswith(f"Submitted 2 import jobs into collection {collection!r}: ")
    first, second = lines[1].split()[0], lines[2].split()[0]
    assert int(first) > 0 and int(second) > 0 and first != second
    assert any(f"job {first}: Completed 100%, 1000 rows" in line for line in lines), result
    assert any(f"job {second}: Completed 100%, 500 rows" in line for line in lines), result
    assert lines[-1].startswith("Completed: 2 jobs, 1500 rows imported in ")
    assert result.err == ""
    assert helpers.count_rows(milvus.uri, collection) == 1500


@pytest.mark.milvus
def test_real_json_submit_then_wait_progress_and_list(milvus: Any, collection: str, import_dir: Path) -> None:
    env = {"MILVUS_URI": milvus.uri}
    rows = helpers.write_json_rows(import_dir / "rows.json", 300)
    submitted = run("--json", "submit", "-c", collection, rows, env=env)
    assert submitted.code == 0, submitted
    (job_id,) = submitted.json()["job_ids"]

    waited = run("--json", "wait", "--timeout", "120", job_id, env=env)
    assert waited.code == 0, waited
    (job,) = waited.json()["jobs"]
    assert (job["job_id"], job["state"], job["imported_rows"], job["raw_state"]) == (
        job_id,
        "Completed",
        300,
        "ImportCompleted",
    )
    assert job["infos"]["collection"] == collection and job["infos"]["files"] == rows

    progress = run("--json", "progress", job_id, env=env)
    assert progress.code == 0 and progress.json()["jobs"][0]["state"] == "Completed"

    listed = run("--json", "list", "--collection", collection, env=env)
    assert listed.code == 0
    (record,) = listed.json()["jobs"]
    assert (record["job_id"], record["collection_name"], record["state"]) == (job_id, collection, "Completed")
    assert helpers.count_rows(milvus.uri, collection) == 300


@pytest.mark.milvus
def test_real_failed_import_and_unknown_job_exit_1(milvus: Any, collection: str, import_dir: Path) -> None:
    env = {"MILVUS_URI": milvus.uri}
    missing = str(import_dir / "missing.json")
    result = run("submit", "-c", collection, "--wait", missing, env=env)
    assert result.code == 1, result
    line = one_error_line(result)
    assert "no such file or directory" in line and missing in line

    unknown = run("progress", "12345", env=env)
    assert unknown.code == 1
    assert "key not found" in one_error_line(unknown)


# ------------------------------------------------------------------------------------------------ pure parts
def test_exit_codes_for_every_error_class() -> None:
    import pymilvus_import as pi
    from pymilvus_import._cli._commands import exit_code_for
    from pymilvus_import._cli._parser import UsageError

    transport = {"code": None, "details": "", "target": "t", "method": "m"}
    cases: list[tuple[BaseException, int]] = [
        (UsageError("x"), 2),
        (pi.InvalidInputError("x"), 2),
        (pi.ImportFailedError("x", reason="r", progress=()), 1),
        (pi.ImportJobNotFoundError("x", job_id="1"), 1),
        (pi.BulkImportError("x", status=100, server_message="m", retriable=False, response=None), 1),
        (pi.ServerError("x", status=5, server_message="m"), 1),
        (pi.MalformedReplyError("x"), 1),
        (pi.ImportTimeoutError("x", progress=()), 4),
        (pi.DeadlineExceededError("x", **transport), 4),
        (pi.ServerUnavailableError("x", **transport), 3),
        (pi.AuthenticationError("x", **transport), 3),
        (pi.PermissionDeniedError("x", **transport), 3),
        (pi.TransportError("x", **transport), 3),
    ]
    for error, code in cases:
        assert exit_code_for(error) == code, type(error).__name__


def test_groups_from_arguments() -> None:
    from pymilvus_import._cli._parser import UsageError, parse_groups

    assert parse_groups(["/a.json", "/g/id.npy,/g/vec.npy"]) == [["/a.json"], ["/g/id.npy", "/g/vec.npy"]]
    assert parse_groups(["/g/id.npy, /g/vec.npy"]) == [["/g/id.npy", " /g/vec.npy"]]  # kept: the library refuses it
    assert parse_groups([("/d/a,b.json",), "/c.json"]) == [["/d/a,b.json"], ["/c.json"]]  # --group: taken literally
    for bad in (["/a.npy,"], [","], ["/a.npy,,/b.npy"]):
        with pytest.raises(UsageError):
            parse_groups(bad)


def progress(state: str, percent: int, rows: int = 0, reason: str = "", job_id: str = "7") -> Any:
    import pymilvus_import as pi

    return pi.ImportProgress(job_id, state, percent, rows, reason, None, "ImportStarted", {})


def test_plain_lines_throttle_changes_and_show_state_changes_at_once() -> None:
    from pymilvus_import._cli._output import PlainLines

    lines = PlainLines(["7"], start=100.0, min_interval=1.0, heartbeat=30.0)
    assert lines.update(progress("Pending", 0), 100.0) == ["[   0.0s] job 7: Pending 0%"]
    assert lines.update(progress("Importing", 10, 100), 100.2) == ["[   0.2s] job 7: Importing 10%, 100 rows"]
    assert lines.update(progress("Importing", 20, 200), 100.4) == []  # same state, too soon: held back
    assert lines.update(progress("Importing", 30, 300), 100.6) == []
    assert lines.tick(100.9) == []
    assert lines.tick(101.3) == ["[   1.3s] job 7: Importing 30%, 300 rows"]  # the latest, once due
    assert lines.tick(101.5) == []
    assert lines.update(progress("Failed", 30, 0, "boom"), 101.6) == ["[   1.6s] job 7: Failed 30%: boom"]
    assert lines.flush(102.0) == []


def test_plain_lines_heartbeat_and_flush() -> None:
    from pymilvus_import._cli._output import PlainLines

    lines = PlainLines(["7", "8"], start=0.0, min_interval=1.0, heartbeat=30.0)
    lines.update(progress("Importing", 80, 800), 1.0)
    lines.update(progress("Completed", 100, 1000, job_id="8"), 1.0)
    assert lines.tick(20.0) == []
    assert lines.tick(31.5) == ["[  31.5s] job 7: still Importing 80%, 800 rows"]  # finished jobs stay quiet
    assert lines.tick(40.0) == []
    assert lines.tick(61.6) == ["[ 1m 02s] job 7: still Importing 80%, 800 rows"]
    assert lines.update(progress("Importing", 81, 810), 61.7) == []
    assert lines.flush(61.8) == ["[ 1m 02s] job 7: Importing 81%, 810 rows"]


class FakeTerminal:
    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_bar_only_on_a_terminal_with_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from pymilvus_import._cli import _output as _progress

    monkeypatch.setenv("TERM", "xterm")
    assert _progress.wants_bar(FakeTerminal())  # type: ignore[arg-type]
    assert not _progress.wants_bar(io.StringIO())
    monkeypatch.setenv("TERM", "dumb")
    assert not _progress.wants_bar(FakeTerminal())  # type: ignore[arg-type]
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(_progress, "tqdm_available", lambda: False)  # the 'progress' extra is not installed
    terminal = FakeTerminal()
    with _progress.ProgressDisplay(["7"], terminal) as display:  # type: ignore[arg-type]
        assert not display.bar
        display.update(progress("Completed", 100, 5))
    assert terminal.text == "[   0.0s] job 7: Completed 100%, 5 rows\n"
