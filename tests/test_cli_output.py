"""The CLI on every exit path: nothing lost (created job ids in every exit path), paths as given, a closed stdout is
not a failed import, readable durations, a failed version probe does not block ``wait``, valid JSON and masked
secrets in every exit path.

Like tests/test_cli.py: ``main(argv)`` in-process against the Milvus 2.4+ TEST server, and the console script in a
subprocess where a real pipe matters.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import helpers
import pytest
from fake_milvus import JOB_ID_BASE, Fault, Milvus24TestServer, Step, failed_script, stuck_at_80

from pymilvus_import import _client
from pymilvus_import._cli._output import format_duration

CONSOLE_SCRIPT = Path(sys.executable).parent / "milvus-import"
TOKEN = "s3cr3t-T0KEN-value"
FAST = ["--poll-max", "0.05"]
FIRST, SECOND = str(JOB_ID_BASE), str(JOB_ID_BASE + 1)


pytestmark = pytest.mark.test_server(version="v2.4.10", rows_per_job=1000, collections=("coll",))


Result = helpers.CliResult


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    return helpers.run_cli(capsys, *argv)


def error_line(result: Result) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("milvus-import: ")]
    assert lines, result
    assert "Traceback" not in result.err
    return lines[-1]


# ------------------------------------------------------------------------------------------------ nothing lost
def test_refused_second_group_reports_the_created_job_in_json(
    start_test_server: Callable[..., Milvus24TestServer], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = start_test_server(max_active_jobs=1, collections=("coll",))  # group 1 is refused: too many active jobs
    as_json = cli(capsys, "--uri", srv.uri, "--json", "submit", "-c", "coll", "/d/a.json", "/d/b.json")
    assert as_json.code == 1, as_json
    document = as_json.json()
    assert document["job_ids"] == [FIRST]
    assert document["error"]["type"] == "BulkImportError" and document["error"]["job_ids"] == [FIRST]
    assert "reached the limit" in error_line(as_json)


def test_refused_group_in_plain_mode_lists_what_was_created(
    start_test_server: Callable[..., Milvus24TestServer], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = start_test_server(max_active_jobs=1, collections=("coll",))
    result = cli(capsys, "--uri", srv.uri, "submit", "-c", "coll", "/d/a.json", "/d/b.json")
    assert result.code == 1, result
    assert result.out.splitlines() == [
        f"Submitted 1 of 2 import jobs into collection 'coll' before the error: {FIRST}",
        f"  {FIRST}  /d/a.json",
    ]


@pytest.mark.parametrize(
    ("second_call", "extra", "code", "error_type"),
    [
        (Fault.abort(grpc.StatusCode.UNAVAILABLE, after_receive=False), [], 3, "ServerUnavailableError"),
        (Fault.abort(grpc.StatusCode.PERMISSION_DENIED, after_receive=False), [], 3, "PermissionDeniedError"),
        (Fault.delay(5), ["--timeout", "1"], 4, "DeadlineExceededError"),
    ],
    ids=["unavailable", "permission-denied", "timeout"],
)
def test_transport_failure_at_group_1_reports_group_0s_job(
    capsys: pytest.CaptureFixture[str],
    server: Milvus24TestServer,
    second_call: Fault,
    extra: list[str],
    code: int,
    error_type: str,
) -> None:
    server.inject("Import", Fault.delay(0), second_call)  # group 0 is answered normally, group 1 fails
    result = cli(capsys, "--uri", server.uri, "--json", "submit", "-c", "coll", *extra, "/d/a.json", "/d/b.json")
    assert result.code == code, result
    document = result.json()
    assert document["job_ids"] == [FIRST]
    assert document["error"]["type"] == error_type and document["error"]["job_ids"] == [FIRST]
    assert FIRST in error_line(result)


def interrupt_after_first_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while group 1 is being sent: group 0's job exists, and (as the library promises) the
    KeyboardInterrupt carries ``created_job_ids``."""
    real = _client.ImportClient.bulk_import

    def bulk_import(self: Any, option: Any, **call: Any) -> Any:
        first_only = dataclasses.replace(option, files=option.files[:1])
        response = real(self, first_only, **call)
        interrupt = KeyboardInterrupt()
        interrupt.created_job_ids = response.job_ids  # type: ignore[attr-defined]
        raise interrupt

    monkeypatch.setattr(_client.ImportClient, "bulk_import", bulk_import)


def test_ctrl_c_while_submitting_reports_the_created_job(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_after_first_group(monkeypatch)
    as_json = cli(capsys, "--uri", server.uri, "--json", "submit", "-c", "coll", "/d/a.json", "/d/b.json")
    assert server.import_count() == 1
    assert as_json.code == 130, as_json
    document = as_json.json()
    assert document["job_ids"] == [FIRST]
    assert document["error"]["type"] == "KeyboardInterrupt" and document["error"]["job_ids"] == [FIRST]
    line = error_line(as_json)
    assert FIRST in line and "keep running on the server" in line

    plain = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "/d/c.json", "/d/d.json")
    assert plain.code == 130
    assert plain.out.splitlines() == [
        f"Submitted 1 of 2 import jobs into collection 'coll' before the interruption: {SECOND}",
        f"  {SECOND}",  # the interrupt names no group_index, so the ids are not paired with files
    ]


def test_ctrl_c_while_waiting_reports_the_jobs(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(_client.ImportClient, "wait_for_import", interrupted)
    result = cli(capsys, "--uri", server.uri, "--json", "submit", "-c", "coll", "--wait", "/d/a.json")
    assert result.code == 130, result
    document = result.json()
    assert document["job_ids"] == [FIRST] and document["error"]["job_ids"] == [FIRST]


def test_failed_and_timed_out_waits_name_the_jobs_in_the_error(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    failed = cli(capsys, "--uri", server.uri, "--json", "submit", "-c", "coll", "-w", *FAST, "/d/fail.json")
    assert failed.code == 1, failed
    assert failed.json()["error"]["type"] == "ImportFailedError" and failed.json()["error"]["job_ids"] == [FIRST]

    server.next_job_script = stuck_at_80(100_000)
    slow = cli(capsys, "--uri", server.uri, "--json", "submit", "-c", "coll", "-w", "--timeout", "1", "/d/a.json")
    assert slow.code == 4, slow
    assert slow.json()["job_ids"] == [SECOND] and slow.json()["error"]["job_ids"] == [SECOND]


# ------------------------------------------------------------------------------------------------ paths as given
def test_group_option_takes_paths_literally_commas_included(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    result = cli(
        capsys,
        "--uri",
        server.uri,
        "submit",
        "-c",
        "coll",
        "/d/plain.json",
        "--group",
        "/d/a,b.json",
        "--group",
        "/d/x,y/id.npy",
        "/d/x,y/vec.npy",
    )
    assert result.code == 0, result
    calls = server.requests_for("Import")
    assert [list(c.request.files) for c in calls] == [
        ["/d/plain.json"],
        ["/d/a,b.json"],
        ["/d/x,y/id.npy", "/d/x,y/vec.npy"],
    ]
    assert f"  {SECOND}  /d/a,b.json" in result.out.splitlines()


def test_group_option_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "submit", "--help")
    assert result.code == 0
    assert "--group PATH [PATH ...]" in result.out and "commas" in result.out


@pytest.mark.parametrize("group", ["/d/a.json ", " /d/a.json", "/g/id.npy, /g/vec.npy"])
def test_spaces_around_paths_are_not_stripped_the_library_rejects_them(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer, group: str
) -> None:
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", group)
    assert result.code == 2, result
    assert "leading or trailing white space" in error_line(result)
    assert server.requests_for("Import") == []


# ------------------------------------------------------------------------------------------------ a closed stdout
def test_submit_wait_into_a_pipe_closed_early_is_not_a_failed_import(server: Milvus24TestServer) -> None:
    """``milvus-import submit --wait ... | head -1``: the reader leaves after one line; the job still completes."""
    server.next_job_script = stuck_at_80(100_000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "--uri", server.uri, "submit", "-c", "coll", "--wait", *FAST, "/d/a.json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first_line = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does
    assert first_line.startswith(b"Submitted 1 import job")
    with server._lock:  # only now let the job finish, so every later line meets the closed pipe
        server.jobs[JOB_ID_BASE].script = [Step("Completed", 100)]
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert code == 0, err
    assert err == f"milvus-import: standard output was closed early; the job ids: {FIRST}\n"  # repeated where seen


# ------------------------------------------------------------------------------------------------ durations
@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0.0s"),
        (1.4666204130007827, "1.5s"),
        (59.94, "59.9s"),
        (59.96, "1m 00s"),
        (125.2, "2m 05s"),
        (3600.0, "1h 00m 00s"),
        (10_921.0, "3h 02m 01s"),
    ],
)
def test_durations_read_like_a_person_wrote_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_timeout_message_shows_a_readable_duration(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    server.next_job_script = stuck_at_80(100_000)
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "-w", "--timeout", "1.5", *FAST, "/d/a.json")
    assert result.code == 4, result
    line = error_line(result)
    assert "not finished after 1.5s" in line, line


# ------------------------------------------------------------------------------------------------ version probe
def test_wait_works_against_a_server_without_get_version(
    start_test_server: Callable[..., Milvus24TestServer], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = start_test_server(unimplemented=("GetVersion",), collections=("coll",))
    assert cli(capsys, "--uri", srv.uri, "submit", "-c", "coll", "/d/a.json").code == 0
    result = cli(capsys, "--uri", srv.uri, "wait", *FAST, FIRST)
    assert srv.requests_for("GetVersion")  # the probe was asked and refused
    assert result.code == 0, result
    assert result.out.splitlines()[-1].startswith("Completed: 1 job, 1000 rows imported in ")


# ------------------------------------------------------------------------------------- JSON and secrets everywhere
@pytest.mark.parametrize(
    "argv",
    [["list", "--limit", "0"], ["frobnicate"], ["submit", "-c", "coll"], ["wait", "--poll-max", "0", "1"]],
    ids=lambda argv: " ".join(argv),
)
def test_usage_errors_in_json_mode_still_print_one_json_document(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    result = cli(capsys, "--json", "--uri", "http://127.0.0.1:1", *argv)
    assert result.code == 2, result
    assert "usage: milvus-import" in result.err
    error = result.json()["error"]
    assert error["type"] == "UsageError" and error["exit_code"] == 2 and error["message"]


def test_a_token_from_the_environment_is_masked_when_the_server_echoes_it(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MILVUS_TOKEN", TOKEN)
    server.inject("Import", Fault.delay(0), Fault.status(100, f"token {TOKEN} may not import here"))
    for extra in ([], ["--json"], ["--debug"]):
        result = cli(capsys, "--uri", server.uri, *extra, "submit", "-c", "coll", "/d/a.json", "/d/b.json")
        assert result.code == 1, result
        assert TOKEN not in result.out and TOKEN not in result.err
        assert "token *** may not import here" in result.err
        server.inject("Import", Fault.delay(0), Fault.status(100, f"token {TOKEN} may not import here"))
    headers = {call.metadata.get("authorization") for call in server.requests_for("Import")}
    assert headers == {base64.b64encode(TOKEN.encode()).decode()}  # the library read MILVUS_TOKEN


def test_a_failure_reason_that_echoes_the_token_is_masked_in_progress_lines(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    server.file_rules.append(("leak", failed_script(f"access denied for {TOKEN}")))
    for extra in ([], ["--json"]):
        result = cli(
            capsys,
            "--uri",
            server.uri,
            "--token",
            TOKEN,
            *extra,
            "submit",
            "-c",
            "coll",
            "-w",
            *FAST,
            f"/d/leak{len(extra)}.json",
        )
        assert result.code == 1, result
        assert "access denied for ***" in result.out + result.err
        assert TOKEN not in result.out and TOKEN not in result.err


def test_an_option_key_with_spaces_is_refused_not_trimmed(
    capsys: pytest.CaptureFixture[str], server: Milvus24TestServer
) -> None:
    result = cli(capsys, "--uri", server.uri, "submit", "-c", "coll", "-o", " timeout=300s", "/d/a.json")
    assert result.code == 2, result
    assert "option key ' timeout' has leading or trailing white space" in result.err
    assert server.requests_for("Import") == []
