"""Secrets in what the user gives us: key material and credentials never appear in an InvalidInputError (message,
``.value``, repr, args, attributes, the cause/context chain, the formatted traceback) nor on the CLI's stderr,
however they arrive: PEM text where a path is expected, a URI given as bytes, ``?token=`` query values, a token
written as user info.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import helpers
import pytest
from fake_milvus import Milvus24TestServer

import pymilvus_import as pi
from pymilvus_import._cli import main

MARKER = "SEKRIT"
PEM_KEY = f"-----BEGIN PRIVATE KEY-----\nMIIEvQ{MARKER}AgEAMA0GCSqGSIb3DQEBAQUAA4IBAQ\n-----END PRIVATE KEY-----\n"
PEM_CERT = f"-----BEGIN CERTIFICATE-----\nMIIC{MARKER}zCCAbOgAwIBAgIUJ\n-----END CERTIFICATE-----\n"
# A key body pasted without its BEGIN/END lines: still key material, never to be echoed.
BARE_KEY = f"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC{MARKER}x7Qk2b"
PEM_HINT = "looks like PEM text: pass it as bytes or a file path"


texts_of = helpers.exception_texts


def assert_masked(error: BaseException) -> None:
    assert isinstance(error, pi.InvalidInputError), repr(error)
    for text in texts_of(error):
        assert MARKER not in text, text
        assert MARKER.lower() not in text.lower(), text


# ------------------------------------------------------------------------------------------------ PEM as text
@pytest.mark.parametrize(
    "kwargs",
    [
        {"ca_cert": PEM_CERT},
        {"client_cert": PEM_CERT, "client_key": b"-----BEGIN PRIVATE KEY-----\n"},
        {"client_cert": b"-----BEGIN CERTIFICATE-----\n", "client_key": PEM_KEY},
        {"client_cert": b"-----BEGIN CERTIFICATE-----\n", "client_key": Path(PEM_KEY)},
    ],
    ids=["ca_cert", "client_cert", "client_key", "client_key-as-Path"],
)
def test_pem_text_where_a_path_is_expected_is_described_not_quoted(kwargs: dict[str, Any]) -> None:
    """Today the whole key is the 'file name' in the message and in .value."""
    with pytest.raises(pi.InvalidInputError) as err:
        pi.ImportClient("https://127.0.0.1:1", **kwargs)
    assert PEM_HINT in str(err.value)
    assert err.value.value == "***"
    assert_masked(err.value)


@pytest.mark.parametrize("text", [BARE_KEY, f"line one\n{MARKER}\n"], ids=["base64-body", "multi-line"])
def test_key_material_without_pem_lines_is_not_echoed_as_a_file_name(text: str) -> None:
    with pytest.raises(pi.InvalidInputError, match="not a usable file path") as err:
        pi.ImportClient("https://127.0.0.1:1", client_cert=b"-----BEGIN CERTIFICATE-----\n", client_key=text)
    assert_masked(err.value)


def test_bytes_that_are_not_pem_are_refused_without_showing_them() -> None:
    """Today non-PEM bytes (e.g. a path given as bytes, or DER) pass and fail later inside the TLS handshake."""
    with pytest.raises(pi.InvalidInputError, match="hold no PEM block") as err:
        pi.ImportClient("https://127.0.0.1:1", ca_cert=f"DER{MARKER}".encode())
    assert_masked(err.value)


def test_an_unreadable_key_file_is_named_and_a_nul_in_its_path_is_our_error(tmp_path: Path) -> None:
    missing = tmp_path / "client.key"
    with pytest.raises(pi.InvalidInputError, match="cannot read client_key file") as err:
        pi.ImportClient("https://127.0.0.1:1", client_cert=PEM_CERT.encode(), client_key=missing)
    assert str(missing) in str(err.value)
    # Today a raw ValueError('embedded null byte') from pathlib.
    with pytest.raises(pi.InvalidInputError, match="not a usable file path"):
        pi.ImportClient("https://127.0.0.1:1", ca_cert="/etc/ca\x00.pem")


def test_a_key_file_that_is_not_pem_is_refused_before_connecting(tmp_path: Path) -> None:
    der = tmp_path / "ca.der"
    der.write_bytes(b"\x30\x82\x01\x0a" + MARKER.encode())
    with pytest.raises(pi.InvalidInputError, match="holds no PEM block") as err:
        pi.ImportClient("https://127.0.0.1:1", ca_cert=der)
    assert_masked(err.value)


def test_pem_files_given_as_paths_still_work(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM_CERT)
    pi.ImportClient("https://127.0.0.1:1", ca_cert=ca).close()
    pi.ImportClient("https://127.0.0.1:1", ca_cert=str(ca)).close()
    pi.ImportClient("https://127.0.0.1:1", ca_cert=PEM_CERT.encode()).close()


@pytest.mark.parametrize("flag", ["--ca-cert", "--client-key"])
def test_cli_stderr_never_shows_a_pem_key_given_as_a_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text(PEM_CERT.replace(MARKER, "AAAA"))
    argv = ["--uri", "https://127.0.0.1:1", flag, PEM_KEY]
    if flag == "--client-key":
        argv += ["--client-cert", str(cert)]
    code = main([*argv, "list"])
    captured = capsys.readouterr()
    assert code == 2
    assert PEM_HINT in captured.err
    assert MARKER not in captured.err and MARKER not in captured.out


# ------------------------------------------------------------------------------------------------- URIs
SECRET_URIS: list[tuple[str, object, str]] = [
    ("bytes with password", f"http://root:pw-{MARKER}@h:1".encode(), "root:***@h:1"),
    ("bytes with token as user", f"http://tok-{MARKER}@h:1".encode(), "***@h:1"),
    ("query token", f"http://h:1?token=tok-{MARKER}", "token=***"),
    ("query api key among others", f"http://h:1/db?x=1&api_key={MARKER}", "api_key=***"),
    ("fragment", f"http://h:1#{MARKER}", "#***"),
    ("token as user info", f"http://tok-{MARKER}@h:1", "***@h:1"),
    ("token as bare user info", f"tok-{MARKER}@h:1", "***@h:1"),
    ("password without user", f"http://:pw-{MARKER}@h:1", "***@h:1"),
    ("empty password", f"http://{MARKER}:@h:1", "***@h:1"),
    ("bad host after password", f"http://root:pw-{MARKER}@ho st:1", "root:***@ho st:1"),
    ("tab after password", f"http://root:pw-{MARKER}@h\t:1", "root:***@h"),
    ("unencodable password", f"http://root:pw-{MARKER}\udc80@h:1", "root:***@h:1"),
    ("bad database after password", f"http://root:pw-{MARKER}@h:1/d%0Ab", "root:***@h:1"),
    ("unsupported scheme, query", f"ftp://h:1?password={MARKER}", "password=***"),
]


@pytest.mark.parametrize(("why", "uri", "shown"), SECRET_URIS, ids=[s[0] for s in SECRET_URIS])
def test_every_way_a_secret_sits_in_a_uri_is_masked(why: str, uri: object, shown: str) -> None:
    """Today bytes URIs, query values, fragments and user-only user info are printed as given."""
    builders: list[Callable[[], object]] = [
        lambda: pi.ImportClient(uri),  # type: ignore[arg-type]
        lambda: pi.new_bulk_import_option(uri, "coll", [["/a.json"]]),  # type: ignore[arg-type]
        lambda: pi.bulk_import(pi.new_bulk_import_option("", "coll", [["/a.json"]])),
    ]
    for index, build in enumerate(builders):
        if index == 2:
            # through MILVUS_URI, where a URI given as text may hide a token just the same
            if not isinstance(uri, str):
                continue
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("MILVUS_URI", uri)
                with pytest.raises(pi.InvalidInputError) as err:
                    build()
        else:
            with pytest.raises(pi.InvalidInputError) as err:
                build()
        assert shown in str(err.value), str(err.value)
        assert_masked(err.value)


def test_a_uri_object_whose_repr_holds_a_secret_is_named_by_type_only() -> None:
    class Settings:
        def __repr__(self) -> str:
            return f"Settings(uri='http://root:{MARKER}@h')"

    with pytest.raises(pi.InvalidInputError, match="must be a string, got Settings") as err:
        pi.ImportClient(Settings())  # type: ignore[arg-type]
    assert_masked(err.value)


def test_a_token_written_as_user_info_is_masked_in_reprs_too() -> None:
    from pymilvus_import._uri import parse_uri

    assert MARKER not in repr(parse_uri(f"http://tok-{MARKER}@h:1"))


def test_the_test_server_never_sees_a_request_for_a_refused_uri(
    start_test_server: Callable[..., Milvus24TestServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_test_server(collections=("coll",))
    for uri in (f"http://tok-{MARKER}@{server.address}", f"http://{server.address}?token={MARKER}"):
        monkeypatch.setenv("MILVUS_URI", uri)
        with pytest.raises(pi.InvalidInputError) as err:
            pi.bulk_import(pi.new_bulk_import_option("", "coll", [["/a.json"]]))
        assert_masked(err.value)
    assert server.requests == []


# ----------------------------------------------------------------------------------------- credential arguments
@pytest.mark.parametrize(
    "build",
    [
        lambda: pi.ImportClient("http://h:1", token=f"tok-{MARKER}\n"),
        lambda: pi.ImportClient("http://h:1", token=f"tok-{MARKER}\udc80"),
        lambda: pi.ImportClient("http://h:1", user="root", password=f"pw-{MARKER}".encode()),
        lambda: pi.ImportClient("http://h:1", user=f"root-{MARKER}".encode(), password="pw"),
        lambda: pi.ImportClient("http://h:1", password=f"pw-{MARKER}"),
        lambda: pi.new_bulk_import_option("http://h:1", "coll", [["/a.json"]]).with_api_key(f"k-{MARKER}\udc80"),
        lambda: pi.new_bulk_import_option("http://h:1", "coll", [["/a.json"]]).with_api_key(f"k-{MARKER}".encode()),
    ],
    ids=[
        "token-newline",
        "token-surrogate",
        "password-bytes",
        "user-bytes",
        "password-alone",
        "api-key-surrogate",
        "api-key-bytes",
    ],
)
def test_bad_credential_arguments_are_refused_and_masked(build: Callable[[], object]) -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        build()
    assert err.value.value == "***"
    assert_masked(err.value)
