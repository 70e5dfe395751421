"""Issue 18, the CLI's defects: signals, a closed or abandoned stdout, one JSON shape, GROUPs split by options,
CLI words in errors, an unknown collection in every command, a 0x0 terminal, gRPC's own log lines.

``main(argv)`` in-process against the Milvus 2.4+ TEST server, and the console script in a subprocess where a real
signal, pipe, closed descriptor or terminal matters. (The contract over every command and exit path is
tests/test_contract_cli.py.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import helpers
import pytest
from fake_milvus import JOB_ID_BASE, Fault, Milvus24TestServer, stuck_at_80
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CONSOLE_SCRIPT = Path(sys.executable).parent / "milvus-import"
FAST = ["--poll-max", "0.05"]
FIRST, SECOND = str(JOB_ID_BASE), str(JOB_ID_BASE + 1)


pytestmark = pytest.mark.test_server(
    collections=({"name": "coll", "partitions": ("_default", "p1")}, {"name": "keyed", "partition_key": True})
)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> helpers.CliResult:
    return helpers.run_cli(capsys, *argv)


def error_line(result: helpers.CliResult) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("milvus-import: ")]
    assert lines, result
    assert "Traceback" not in result.err
    return lines[-1]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "GRPC_"))}
    env.update(extra)
    return env


def wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ------------------------------------------------------------------------------------------------ 3: signals
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "plain"])
def test_a_signal_while_waiting_prints_the_created_job_ids(
    server: Milvus24TestServer, sig: signal.Signals, code: int, as_json: bool
) -> None:
    """`milvus-import --json submit ... --wait` killed by SIGTERM (also SIGHUP, SIGINT) names the job it created."""
    server.next_job_script = stuck_at_80(100_000)
    json_flag = ["--json"] if as_json else []
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "--uri", server.uri, *json_flag, "submit", "-c", "coll", "--wait", *FAST, "/d/a.json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    wait_until(lambda: len(server.requests_for("GetImportState")) >= 2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, (out, err)
    assert "Traceback" not in err
    assert f"the import jobs keep running on the server: {FIRST}" in err
    if as_json:
        document = json.loads(out)
        assert document["job_ids"] == [FIRST] and document["error"]["job_ids"] == [FIRST]
        assert document["error"]["exit_code"] == code
    else:
        assert FIRST in out.splitlines()[0]


def test_a_signal_while_an_import_is_in_flight_names_the_jobs_of_earlier_groups(server: Milvus24TestServer) -> None:
    server.inject("Import", Fault.delay(0), Fault.delay(30))  # group 1 hangs: the signal comes while it is sent
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "--uri", server.uri, "--json", "submit", "-c", "coll", "/d/a.json", "/d/b.json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    wait_until(lambda: len(server.requests_for("Import")) == 2)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10  # the RPC in flight was cancelled, not waited for
    assert proc.returncode == 143, (out, err)
    document = json.loads(out)
    assert document["job_ids"] == [FIRST] and document["error"]["job_ids"] == [FIRST]
    assert "may have been created too" in document["error"]["message"]


def test_a_signal_during_the_preflight_says_nothing_was_sent(server: Milvus24TestServer) -> None:
    server.inject("DescribeCollection", Fault.delay(30))
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "--uri", server.uri, "--json", "submit", "-c", "coll", "/d/a.json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    wait_until(lambda: len(server.requests_for("DescribeCollection")) == 1)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 129, (out, err)
    assert json.loads(out)["error"]["message"] == "hung up while submitting; no import was sent"
    assert server.requests_for("Import") == []


# ------------------------------------------------------------------------------------------------ 4: stdout gone
def closed_stdout(*argv: str) -> subprocess.CompletedProcess[str]:
    """The console script with its standard output closed, as `milvus-import ... >&-` runs it."""
    return subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" >&-', str(CONSOLE_SCRIPT), *argv],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
    )


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "plain"])
def test_a_closed_stdout_sends_the_job_ids_to_stderr(server: Milvus24TestServer, as_json: bool) -> None:
    json_flag = ["--json"] if as_json else []
    proc = closed_stdout("--uri", server.uri, *json_flag, "submit", "-c", "coll", "/d/a.json")
    assert proc.returncode == 0, proc.stderr
    assert "AttributeError" not in proc.stderr and "Traceback" not in proc.stderr
    if as_json:
        assert json.loads(proc.stderr)["job_ids"] == [FIRST]
    else:
        assert proc.stderr.splitlines()[0] == f"Submitted 1 import job into collection 'coll': {FIRST}"
    assert server.import_count() == 1


def test_a_closed_stdout_with_a_failure_keeps_its_exit_code(server: Milvus24TestServer) -> None:
    proc = closed_stdout("--uri", server.uri, "--json", "submit", "-c", "nope", "/d/a.json")
    assert proc.returncode == 2, proc.stderr
    document = json.loads(proc.stderr[proc.stderr.index("{") :])
    assert document["error"]["type"] == "CollectionNotFoundError" and document["job_ids"] == []


def test_a_reader_that_leaves_sees_the_job_ids_in_the_first_line(server: Milvus24TestServer) -> None:
    """`milvus-import submit ... | head -1`: the first line names every job."""
    submit = [str(CONSOLE_SCRIPT), "--uri", server.uri, "submit", "-c", "coll", "/d/a.json", "/d/b.json"]
    proc = subprocess.run(
        ["sh", "-c", '"$0" "$@" | head -1', *submit],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
    )
    assert proc.stdout == f"Submitted 2 import jobs into collection 'coll': {FIRST} {SECOND}\n", proc.stderr


# ------------------------------------------------------------------------------------------- 10: unknown collection
@pytest.mark.parametrize(
    ("argv", "error_type"),
    [
        (["submit", "-c", "nope", "/d/a.json"], "CollectionNotFoundError"),
        (["list", "-c", "nope"], "CollectionNotFoundError"),
        (["--db", "nodb", "submit", "-c", "coll", "/d/a.json"], "DatabaseNotFoundError"),
        (["--db", "nodb", "list", "-c", "coll"], "DatabaseNotFoundError"),
        (["--db", "nodb", "list"], "DatabaseNotFoundError"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_every_command_reports_an_unknown_collection_the_same_way(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer, argv: list[str], error_type: str
) -> None:
    result = cli(capsys, "--uri", server.uri, "--json", *argv)
    assert result.code == 2, result
    assert result.json()["error"]["type"] == error_type
    line = error_line(result)
    assert ("'nope' does not exist" in line) or ("database 'nodb' does not exist" in line), line
    assert server.import_count() == 0


@pytest.mark.milvus
def test_list_of_an_unknown_collection_on_milvus_2_3_5_is_collection_not_found(milvus: Any) -> None:
    """The verdict's backing: 2.3.5 answers ListImportTasks for an unknown collection with status 100."""
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "--uri", milvus.uri, "--json", "list", "-c", "nope_never_created"],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "CollectionNotFoundError"


# ------------------------------------------------------------------------------------------------ 12: one JSON shape
@pytest.mark.parametrize(
    ("argv", "code", "key"),
    [
        (["--help"], 0, "help"),
        (["submit", "--help"], 0, "help"),
        (["list", "--help"], 0, "help"),
        (["--version"], 0, "version"),
        (["frobnicate"], 2, "error"),
        (["submit", "-c", "coll"], 2, "error"),
        (["submit", "-c", "coll", "/d/\udcff.json"], 2, "error"),  # a path that is not valid UTF-8
        (["submit", "-c", "coll", "-o", "timeout=soon", "/d/a.json"], 2, "error"),
        (["progress", "abc"], 2, "error"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_every_json_document_has_top_level_job_ids(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int, key: str
) -> None:
    result = cli(capsys, "--json", "--uri", "http://127.0.0.1:1", *argv)
    assert result.code == code, result
    document = result.json()
    assert document["job_ids"] == [] and key in document
    if key == "help":
        assert document["help"].startswith("usage: milvus-import")
    if key == "version":
        assert document["version"].startswith("milvus-import 0.")
    if key == "error":
        assert document["error"]["job_ids"] == [] and document["error"]["exit_code"] == 2


# ------------------------------------------------------------------------------------------------ 13: split GROUPs
def test_groups_split_by_group_and_double_dash_keep_their_order(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    argv = ["submit", "-c", "coll", "/d/1.json", "--group", "/d/2.json", "--", "/d/3.json"]
    result = cli(capsys, "--uri", server.uri, *argv)
    assert result.code == 0, result
    assert [list(c.request.files) for c in server.requests_for("Import")] == [
        ["/d/1.json"],
        ["/d/2.json"],
        ["/d/3.json"],
    ]


FLAGS = [["-q"], ["--no-preflight"], ["-o", "timeout=300s"], ["--idempotency-key", "k"], ["--poll-max", "1"]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_groups_are_sent_in_command_line_order_however_options_split_them(
    capsys: pytest.CaptureFixture[str], data: st.DataObject
) -> None:
    """The rule: every GROUP and --group reaches the server in command-line order, whatever options stand between
    them (before or after `--`). Checked with --dry-run: the plan lists the requests in the order they would go."""
    count = data.draw(st.integers(1, 6), label="groups")
    pieces: list[list[str]] = []
    expected: list[list[str]] = []
    dashed = False
    for index in range(count):
        path = f"/d/{index}.json"
        kind = data.draw(st.sampled_from(["arg", "group", "after-dash"] if not dashed else ["arg"]))
        if kind == "group":
            pieces.append(["--group", path])
        elif kind == "after-dash":
            pieces.append(["--", path])
            dashed = True
        else:
            pieces.append([path])
        expected.append([path])
        if not dashed and data.draw(st.booleans()):
            pieces.append(data.draw(st.sampled_from(FLAGS)))
    argv = ["--json", "submit", "-c", "coll", "--dry-run", "--no-preflight"]
    for piece in pieces:
        if not piece[0].startswith("-") and argv[-2] == "--group":
            argv.append("-q")  # --group takes every argument up to the next option (documented)
        argv.extend(piece)
    result = cli(capsys, "--uri", "http://127.0.0.1:1", *argv)
    assert result.code == 0, (argv, result)
    assert [r["files"] for r in result.json()["dry_run"]["requests"]] == expected, argv


def test_job_ids_split_by_an_option_are_all_followed(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    assert cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/a.json", "/d/b.json").code == 0
    result = cli(capsys, "--uri", server.uri, "--json", "progress", FIRST, "--timeout", "5", SECOND)
    assert result.code == 0, result
    assert [j["job_id"] for j in result.json()["jobs"]] == [FIRST, SECOND]


# ------------------------------------------------------------------------------------------------ 14: CLI words
PYTHON_WORDS = re.compile(
    r"\b(with_\w+|new_bulk_import_option|bulk_import|ImportClient)\(|\b\w+=(False|True|None|\.\.\.)"
    r"|\b(ca_cert|client_cert|client_key|server_name|db_name|channel_options)\b"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["submit", "-c", "keyed", "-p", "p1", "/d/a.json"],  # a partition for a partition-key collection
        ["submit", "-c", "coll", "-o", "backup=true", "/d/a"],  # backup without a partition
        ["--client-cert", "/nonexistent.pem", "list"],
        ["--ca-cert", "/nonexistent/ca.pem", "list"],
        ["--db", " ", "list"],
        ["--server-name", "bad\nname", "list"],
        ["submit", "-c", "coll", "--idempotency-key", "k\n", "/d/a.json"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_errors_name_cli_flags_not_python_calls(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer, argv: list[str]
) -> None:
    result = cli(capsys, "--uri", server.uri, *argv)
    assert result.code == 2, result
    line = error_line(result)
    assert not PYTHON_WORDS.search(line), line


def test_a_partition_for_a_partition_key_collection_says_which_flag_to_drop(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    line = error_line(cli(capsys, "--uri", server.uri, "submit", "-c", "keyed", "-p", "p1", "/d/a.json"))
    assert "drop --partition" in line


def test_a_value_that_looks_like_a_parameter_name_is_shown_as_given(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/db_name.txt")
    assert "'/d/db_name.txt'" in error_line(result)  # a user's value is never rewritten


def test_tls_with_an_http_uri_reports_the_tls_target(server: Milvus24TestServer) -> None:
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "--uri", server.uri, "--tls", "list", "--timeout", "3"],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert f"https://{server.address}" in proc.stderr and server.uri not in proc.stderr


def test_a_timeout_before_anything_was_sent_does_not_say_a_job_may_exist(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    server.inject("DescribeCollection", Fault.delay(2))
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "--timeout", "0.2", "/d/a.json")
    assert result.code == 4, result
    line = error_line(result)
    assert "may still create the job" not in line and "no import was sent" in line
    assert server.requests_for("Import") == []


# ------------------------------------------------------------------------------------------------ 16: a 0x0 terminal
def run_in_terminal(argv: list[str], rows: int, columns: int, timeout: float = 60) -> tuple[int, str]:
    """``python -m pymilvus_import ARGV`` with a pseudo-terminal of ``rows`` x ``columns`` as its terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    owner = (
        "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
        "os.execv(sys.executable, [sys.executable, '-m', 'pymilvus_import', *sys.argv[1:]])"
    )
    env = environment(TERM="xterm")
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    proc = subprocess.Popen([sys.executable, "-c", owner, *argv], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        with contextlib.suppress(OSError):
            os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, output.decode(errors="replace")


def test_a_terminal_of_size_0x0_gets_an_80_column_bar(server: Milvus24TestServer) -> None:
    server.next_job_script = stuck_at_80(5)
    code, output = run_in_terminal(["--uri", server.uri, "submit", "-c", "coll", "--wait", *FAST, "/d/a.json"], 0, 0)
    assert code == 0, output
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", output)  # colours and cursor moves
    bars = [line for line in re.split(r"[\r\n]", plain) if f"job {JOB_ID_BASE}: 100%|" in line]
    assert bars, output
    assert 60 <= len(bars[-1].rstrip()) <= 80, bars[-1]  # an 80-column bar, not a blank line


# ------------------------------------------------------------------------------------------------ 17: gRPC's log lines
@pytest.mark.parametrize(
    ("extra", "env", "shown"),
    [([], {}, False), (["--debug"], {}, True), ([], {"GRPC_VERBOSITY": "INFO"}, True)],
    ids=["default", "debug", "GRPC_VERBOSITY=INFO"],
)
def test_grpc_core_info_lines_stay_off_stderr_unless_asked_for(
    server: Milvus24TestServer, extra: list[str], env: dict[str, str], shown: bool
) -> None:
    """A TLS handshake against a plaintext server: gRPC's C core logs "Handshake failed" at INFO."""
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "--uri", server.uri, "--tls", *extra, "list", "--timeout", "3"],
        capture_output=True,
        text=True,
        env=environment(**env),
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert ("Handshake failed" in proc.stderr) is shown, proc.stderr


def test_the_library_leaves_grpc_verbosity_alone() -> None:
    code = "import os, pymilvus_import; print(os.environ.get('GRPC_VERBOSITY'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment(), timeout=60)
    assert proc.stdout.strip() == "None", proc.stderr


def test_which_processes_are_the_command() -> None:
    from pymilvus_import._cli._verbosity import is_the_command, keep_grpc_quiet

    assert is_the_command(["/venv/bin/milvus-import", "list"], ["/venv/bin/python", "/venv/bin/milvus-import"])
    assert is_the_command(["-m"], ["python", "-m", "pymilvus_import", "list"])
    assert not is_the_command(["-m"], ["python", "-m", "benchmarks"])
    assert not is_the_command(["app.py"], ["python", "app.py"])
    environ: dict[str, str] = {}
    keep_grpc_quiet(["milvus-import", "--debug", "list"], environ, [])
    assert environ == {}
    keep_grpc_quiet(["milvus-import", "list", "--", "--debug"], environ, [])
    assert environ == {"GRPC_VERBOSITY": "ERROR"}
    environ = {"GRPC_VERBOSITY": "DEBUG"}
    keep_grpc_quiet(["milvus-import", "list"], environ, [])
    assert environ == {"GRPC_VERBOSITY": "DEBUG"}


# ------------------------------------------------------------------------------------------------ 19: demo files
def test_the_demo_removes_its_folder_once_empty(tmp_path: Path) -> None:
    from tools.demo import DEMO_FOLDER, remove_demo_files

    mine = tmp_path / DEMO_FOLDER / "demo_1"
    (mine / "npy").mkdir(parents=True)
    (mine / "rows.json").write_text("{}")
    remove_demo_files(mine)
    assert list(tmp_path.iterdir()) == []

    theirs = tmp_path / DEMO_FOLDER / "demo_2"  # another demo's files at the same time: the folder stays
    theirs.mkdir(parents=True)
    mine.mkdir(parents=True)
    remove_demo_files(mine)
    assert [p.name for p in (tmp_path / DEMO_FOLDER).iterdir()] == ["demo_2"]
