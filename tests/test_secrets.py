"""Secrets never leak: a token, a password and an API key never appear in any repr, str, exception message (the whole
``__cause__``/``__context__`` chain, the formatted traceback and the exception's attributes), log record (DEBUG, the
``pymilvus_import`` logger and the root logger) or CLI output, on every error path: unreachable server, auth failure,
bad input, server status error, timeout.

Besides the plain values, their base64 forms (what travels in the ``authorization`` header) must not show either.
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import helpers
import pytest
from fake_milvus import Fault, Milvus24TestServer, stuck_at_80

import pymilvus_import as pi
from pymilvus_import._uri import parse_uri

TOKEN = "tok-SEKRIT-123"
PASSWORD = "pw-SEKRIT-456"
API_KEY = "api-SEKRIT-789"
USER = "root"
MARKER = "SEKRIT"  # any fragment of any secret
B64 = [base64.b64encode(s.encode()).decode() for s in (TOKEN, f"{USER}:{PASSWORD}", API_KEY, PASSWORD)]
FILES = [["/data/rows.json"]]


def leaks(text: str) -> list[str]:
    found = [MARKER] if MARKER in text else []
    found += [b for b in B64 if b in text]
    # Percent-encoded forms of the password, as a user may write it in a URI.
    found += [q for q in (quote(PASSWORD, safe=""),) if q != PASSWORD and q in text]
    return found


exception_texts = helpers.exception_texts


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        assert not leaks(text), f"secret leaked: {leaks(text)} in {text!r}"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # root
    caplog.set_level(logging.DEBUG, logger="pymilvus_import")
    yield caplog
    texts = [caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    assert_no_leak(*texts)


def expect_error(call: Callable[[], object], error: type[BaseException] = pi.MilvusImportError) -> BaseException:
    with pytest.raises(error) as info:
        call()
    assert_no_leak(*exception_texts(info.value))
    return info.value


# --------------------------------------------------------------------------------- every way to pass credentials
FAST = pi.Retry(initial=0.01, maximum=0.02)  # unreachable-server paths fail in milliseconds, not seconds


def credential_forms(address: str) -> dict[str, Callable[[], pi.ImportClient]]:
    encoded = quote(PASSWORD + "/%@:", safe="")
    return {
        "token": lambda: pi.ImportClient(f"http://{address}", token=TOKEN, retry=FAST),
        "user+password": lambda: pi.ImportClient(f"http://{address}", user=USER, password=PASSWORD, retry=FAST),
        "uri userinfo": lambda: pi.ImportClient(f"http://{USER}:{PASSWORD}@{address}", retry=FAST),
        "uri userinfo, percent-encoded": lambda: pi.ImportClient(f"http://{USER}:{encoded}@{address}", retry=FAST),
        "bare uri userinfo": lambda: pi.ImportClient(f"{USER}:{PASSWORD}@{address}/default", retry=FAST),
        "token + db in uri": lambda: pi.ImportClient(f"https://{address}/db1", token=TOKEN, secure=False, retry=FAST),
    }


FORMS = list(credential_forms("h:1"))


def make_option(uri: str = "", api_key: bool = True, files: Any = FILES) -> pi.BulkImportOption:
    option = pi.new_bulk_import_option(uri, "coll", files)
    return option.with_api_key(API_KEY) if api_key else option


def exercise_client(client: pi.ImportClient, *, job_id: str = "450000000000000001", timeout: float = 0.3) -> None:
    """Every call of the client; each must fail (or succeed) without leaking."""
    assert_no_leak(repr(client), str(client))
    for call in (
        lambda: client.bulk_import(make_option(), timeout=timeout),
        lambda: client.bulk_import(make_option(api_key=False), timeout=timeout),
        lambda: client.get_import_progress(job_id, timeout=timeout),
        lambda: client.list_import_jobs("coll", timeout=timeout),
        lambda: client.wait_for_import(job_id, timeout=timeout, poll_initial=0.05, poll_max=0.2),
        lambda: client.server_version(timeout=timeout),
    ):
        try:
            result = call()
        except pi.MilvusImportError as error:
            assert_no_leak(*exception_texts(error))
        else:
            assert_no_leak(repr(result), str(result))


# --------------------------------------------------------------------------------- error paths
@pytest.mark.parametrize("form", FORMS)
def test_unreachable_server(form: str, logs: pytest.LogCaptureFixture) -> None:
    address = f"127.0.0.1:{helpers.unused_port()}"
    with credential_forms(address)[form]() as client:
        exercise_client(client)
        expect_error(lambda: client.bulk_import(make_option(), timeout=1), pi.ServerUnavailableError)


pytestmark = pytest.mark.test_server(require_token="the-right-token", collections=("coll",))


@pytest.mark.parametrize("form", FORMS)
def test_auth_failure(form: str, server: Milvus24TestServer, logs: pytest.LogCaptureFixture) -> None:
    with credential_forms(server.address)[form]() as client:
        exercise_client(client)
        expect_error(lambda: client.bulk_import(make_option(), timeout=2), pi.AuthenticationError)
        expect_error(lambda: client.list_import_jobs("coll", timeout=2), pi.AuthenticationError)


@pytest.mark.parametrize(
    ("secret", "form"),
    [(TOKEN, "token"), (f"{USER}:{PASSWORD}", "user+password"), (f"{USER}:{PASSWORD}", "uri userinfo")],
    ids=["token", "user+password", "uri userinfo"],
)
def test_success_and_server_errors_with_valid_credentials(
    start_test_server: Callable[..., Milvus24TestServer], secret: str, form: str, logs: pytest.LogCaptureFixture
) -> None:
    srv = start_test_server(require_token=secret, collections=({"name": "coll", "script": stuck_at_80(1000)},))
    with credential_forms(srv.address)[form]() as client:
        response = client.bulk_import(make_option(api_key=False), timeout=5)
        assert_no_leak(repr(response), str(response), repr(response.to_dict()))
        progress = client.get_import_progress(response.job_id, timeout=5)
        assert_no_leak(repr(progress), repr(client.list_import_jobs("coll", timeout=5)))
        # server status error
        srv.inject("Import", Fault.status(2100, "rate limit exceeded", retriable=True))
        expect_error(lambda: client.bulk_import(make_option(api_key=False), timeout=5), pi.BulkImportError)
        # unknown job
        expect_error(lambda: client.get_import_progress(123, timeout=5), pi.ImportJobNotFoundError)
        # timeouts: a slow call and a wait that runs out
        srv.inject("Import", Fault.delay(2))
        expect_error(lambda: client.bulk_import(make_option(api_key=False), timeout=0.2), pi.DeadlineExceededError)
        expect_error(lambda: client.wait_for_import(response, timeout=0.3, poll_initial=0.05), pi.ImportTimeoutError)
        # an ambiguous UNAVAILABLE (not retried on 2.4)
        srv.inject("Import", Fault.abort(grpc.StatusCode.UNAVAILABLE, "reset"))
        expect_error(lambda: client.bulk_import(make_option(api_key=False), timeout=5), pi.ServerUnavailableError)
    assert srv.wait_idle(5)


def test_api_key_on_the_option(
    start_test_server: Callable[..., Milvus24TestServer], logs: pytest.LogCaptureFixture
) -> None:
    srv = start_test_server(require_token=API_KEY, collections=("coll",))
    option = make_option(srv.uri)
    assert_no_leak(repr(option), str(option))
    response = pi.bulk_import(option, timeout=5)
    assert_no_leak(repr(response))
    srv.inject("Import", Fault.status(100, "collection not found[collection=coll]"))
    expect_error(lambda: pi.bulk_import(option, timeout=5), pi.BulkImportError)
    srv.inject("Import", Fault.delay(2))
    expect_error(lambda: pi.bulk_import(option, timeout=0.2), pi.DeadlineExceededError)
    wrong = pi.new_bulk_import_option(srv.uri, "coll", FILES).with_api_key("api-SEKRIT-wrong")
    expect_error(lambda: pi.bulk_import(wrong, timeout=5), pi.AuthenticationError)
    assert srv.wait_idle(5)


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MILVUS_TOKEN", TOKEN)
    address = f"127.0.0.1:{helpers.unused_port()}"
    monkeypatch.setenv("MILVUS_URI", f"http://{USER}:{PASSWORD}@{address}")
    with pi.ImportClient(retry=FAST) as client:
        exercise_client(client)
    expect_error(lambda: pi.bulk_import(make_option(), timeout=0.3), pi.ServerUnavailableError)
    expect_error(lambda: pi.list_import_jobs(None, "coll", timeout=0.3), pi.ServerUnavailableError)


# --------------------------------------------------------------------------------- bad input
BAD_INPUT: dict[str, Callable[[], object]] = {
    "bad scheme": lambda: pi.ImportClient(f"ftp://{USER}:{PASSWORD}@h:1"),
    "port out of range": lambda: pi.ImportClient(f"http://{USER}:{PASSWORD}@h:99999"),
    "non-numeric port": lambda: pi.ImportClient(f"http://{USER}:{PASSWORD}@h:port"),
    "query string": lambda: pi.ImportClient(f"http://{USER}:{PASSWORD}@h:1?db=x"),
    "no host": lambda: pi.ImportClient(f"http://{USER}:{PASSWORD}@/db"),
    "percent-encoded, bad port": lambda: pi.ImportClient(f"http://{USER}:{quote(PASSWORD + '/', safe='')}@h:x"),
    "option with bad uri": lambda: pi.new_bulk_import_option(f"ftp://{USER}:{PASSWORD}@h", "coll", FILES),
    "option bad files": lambda: make_option(f"http://{USER}:{PASSWORD}@h:1", files="rows.json"),
    "option empty collection": lambda: pi.new_bulk_import_option(f"http://{USER}:{PASSWORD}@h:1", "", FILES),
    "empty api key": lambda: make_option().with_api_key(""),
    "user without password": lambda: pi.ImportClient("http://h:1", user=USER, token=TOKEN),
    "password without user": lambda: pi.ImportClient("http://h:1", password=PASSWORD),
    "token + secure=False + ca": lambda: pi.ImportClient("http://h:1", token=TOKEN, secure=False, ca_cert=b"x"),
    "client cert without key": lambda: pi.ImportClient("http://h:1", token=TOKEN, client_cert=b"cert"),
    "option names another server": lambda: pi.ImportClient(f"http://{USER}:{PASSWORD}@h:1").bulk_import(
        make_option(f"http://{USER}:{PASSWORD}@other:2")
    ),
    "bad timeout": lambda: pi.ImportClient("http://h:1", token=TOKEN).bulk_import(make_option(), timeout=-1),
    "metadata tuple of 3": lambda: pi.ImportClient("http://h:1").bulk_import(
        make_option(), metadata=[("authorization", TOKEN, "x")]
    ),
    "metadata upper-case key": lambda: pi.ImportClient("http://h:1").bulk_import(
        make_option(), metadata=[("Authorization", TOKEN)]
    ),
    "metadata non-str value": lambda: pi.ImportClient("http://h:1").bulk_import(
        make_option(), metadata=[("authorization", TOKEN.encode())]
    ),
    "bad collection for listing": lambda: pi.ImportClient("http://h:1", token=TOKEN).list_import_jobs(""),
    "module-level with a client of wrong type": lambda: pi.get_import_progress(object(), 1),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("call", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input(call: Callable[[], object], logs: pytest.LogCaptureFixture) -> None:
    expect_error(call, pi.InvalidInputError)


def test_reprs_of_everything_built_with_secrets() -> None:
    option = make_option(f"http://{USER}:{PASSWORD}@h:1").with_idempotency_key("k1")
    target = parse_uri(f"http://{USER}:{quote(PASSWORD)}@h:1/db")
    assert target.password == PASSWORD
    with pi.ImportClient(f"http://{USER}:{PASSWORD}@h:1", token=TOKEN) as client:
        assert_no_leak(repr(option), str(option), repr(target), str(target), target.display, repr(client))


# regression (found by this suite): _uri.mask_uri masks only up to the FIRST '@' ([^/@]*), but urlsplit takes the LAST
# '@': a raw '@' in the password leaves its tail in Target.display, ImportClient repr and every error message
def test_password_with_a_raw_at_sign_is_masked() -> None:
    uri = f"http://{USER}:pw@{PASSWORD}@127.0.0.1:{helpers.unused_port()}"
    assert parse_uri(uri).password == f"pw@{PASSWORD}"  # the client does use it as the password
    with pi.ImportClient(uri) as client:
        assert_no_leak(repr(client))
        expect_error(lambda: client.bulk_import(make_option(api_key=False), timeout=1), pi.ServerUnavailableError)


# regression (found by this suite): _uri.parse_uri put urlsplit's ValueError text into the message ("Port could not
# be cast to integer value as 'pw-SEKRIT'") and mask_uri could not mask a password containing '/'.
@pytest.mark.parametrize("password", [f"{PASSWORD}/x", f"{PASSWORD}?x", f"{PASSWORD}#x"], ids=["slash", "?", "#"])
def test_unencoded_special_characters_in_the_password_are_masked(password: str) -> None:
    expect_error(lambda: pi.ImportClient(f"http://{USER}:{password}@h:1"), pi.InvalidInputError)


# regression (found by this suite): metadata masking covered only tuple entries; a metadata entry given as a list
# (['authorization', token]) is echoed unmasked in the InvalidInputError message and .value
def test_metadata_entry_as_a_list_is_masked() -> None:
    with pi.ImportClient("http://h:1") as client:
        expect_error(
            lambda: client.bulk_import(make_option(), metadata=[["authorization", TOKEN]]),  # type: ignore[list-item]
            pi.InvalidInputError,
        )


# --------------------------------------------------------------------------------- CLI
HAS_CLI = importlib.util.find_spec("pymilvus_import.__main__") is not None
needs_cli = pytest.mark.skipif(not HAS_CLI, reason="the CLI (pymilvus_import/__main__.py) does not exist yet")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pymilvus_import", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=full_env,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).parent,
    )


def cli_case(*args: str, env: dict[str, str] | None = None, codes: tuple[int, ...]) -> None:
    """Run the command twice at once (with --debug: logs and tracebacks; and with --json) and check both outputs."""
    variants = (("--debug",), ("--debug", "--json"))
    with ThreadPoolExecutor(len(variants)) as pool:
        results = list(pool.map(lambda extra: run_cli(*args, *extra, env=env), variants))
    for extra, result in zip(variants, results, strict=True):
        output = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        assert_no_leak(output)
        assert result.returncode in codes, output
        assert "Traceback" not in result.stderr or "--debug" in extra, output


def cli_credentials(address: str) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
    return {
        "--token": (("--uri", f"http://{address}", "--token", TOKEN), {}),
        "--user/--password": (("--uri", f"http://{address}", "--user", USER, "--password", PASSWORD), {}),
        "uri userinfo": (("--uri", f"http://{USER}:{quote(PASSWORD, safe='')}@{address}"), {}),
        "environment": ((), {"MILVUS_URI": f"http://{address}", "MILVUS_TOKEN": TOKEN}),
        "--user + MILVUS_PASSWORD": (("--uri", f"http://{address}", "--user", USER), {"MILVUS_PASSWORD": PASSWORD}),
    }


CLI_FORMS = list(cli_credentials("h:1"))


@needs_cli
@pytest.mark.parametrize("form", CLI_FORMS)
def test_cli_unreachable_server(form: str) -> None:
    connection, env = cli_credentials(f"127.0.0.1:{helpers.unused_port()}")[form]
    cli_case("submit", *connection, "-c", "coll", "--timeout", "0.5", "/data/rows.json", env=env, codes=(3, 4))


@needs_cli
@pytest.mark.parametrize("form", CLI_FORMS)
def test_cli_auth_failure(form: str, server: Milvus24TestServer) -> None:
    connection, env = cli_credentials(server.address)[form]
    cli_case("list", *connection, "-c", "coll", "--timeout", "5", env=env, codes=(3,))


@needs_cli
def test_cli_error_paths_with_valid_credentials(start_test_server: Callable[..., Milvus24TestServer]) -> None:
    srv = start_test_server(require_token=TOKEN, collections=({"name": "coll", "script": stuck_at_80(1000)},))
    connection = ("--uri", f"http://{srv.address}", "--token", TOKEN)
    cli_case("submit", *connection, "-c", "coll", "--timeout", "5", "/data/rows.json", codes=(0,))
    job_id = str(next(iter(srv.jobs)))
    # server status error
    srv.inject("Import", *[Fault.status(2100, "rate limit exceeded", retriable=True)] * 2)
    cli_case("submit", *connection, "-c", "coll", "--timeout", "5", "/data/rows.json", codes=(1,))
    # bad input
    cli_case("submit", *connection, "-c", "coll", "-o", "sep=;;", "/data/rows.json", codes=(2,))
    cli_case("progress", *connection, "not-a-job-id", codes=(2,))
    # unknown job
    cli_case("progress", *connection, "123", codes=(1,))
    # timeouts
    cli_case("wait", *connection, "--timeout", "0.5", "--poll-max", "0.1", job_id, codes=(4,))
    srv.inject("Import", *[Fault.delay(2)] * 2)
    cli_case("submit", *connection, "-c", "coll", "--timeout", "0.3", "/data/rows.json", codes=(4,))
    assert srv.wait_idle(5)
