"""URIs users already write for Milvus -> where and how we connect (pymilvus_import._uri, observed through clients).

The table is checked twice: on the parsed target (address, TLS, database, user; pure) and, for the valid ones, through
the public ``ImportClient`` whose ``repr`` shows the masked target (no network: gRPC channels connect lazily).
"""

from __future__ import annotations

import pytest

import pymilvus_import as pi
from pymilvus_import._uri import authorization_value, mask_uri, parse_uri

# uri, address, secure, db_name, user, password
VALID = [
    ("http://localhost:19530", "localhost:19530", False, None, None, None),
    ("http://localhost", "localhost:19530", False, None, None, None),
    ("https://milvus.example.com", "milvus.example.com:443", True, None, None, None),
    ("https://milvus.example.com:8443", "milvus.example.com:8443", True, None, None, None),
    ("tcp://10.0.0.5:19531", "10.0.0.5:19531", False, None, None, None),
    ("grpc://milvus:19532", "milvus:19532", False, None, None, None),
    ("grpcs://milvus", "milvus:443", True, None, None, None),
    ("HTTP://LocalHost:19530", "localhost:19530", False, None, None, None),
    ("  http://h:1  ", "h:1", False, None, None, None),
    ("unix:/tmp/milvus.sock", "unix:/tmp/milvus.sock", False, None, None, None),
    ("unix:///var/run/milvus.sock", "unix:///var/run/milvus.sock", False, None, None, None),
    ("localhost:19531", "localhost:19531", False, None, None, None),
    ("milvus-host", "milvus-host:19530", False, None, None, None),
    ("127.0.0.1", "127.0.0.1:19530", False, None, None, None),
    ("[::1]:19531", "[::1]:19531", False, None, None, None),
    ("[::1]", "[::1]:19530", False, None, None, None),
    ("::1", "[::1]:19530", False, None, None, None),
    ("2001:db8::7", "[2001:db8::7]:19530", False, None, None, None),
    ("http://[2001:db8::7]:19533", "[2001:db8::7]:19533", False, None, None, None),
    ("https://[::1]", "[::1]:443", True, None, None, None),
    ("http://h:19530/db1", "h:19530", False, "db1", None, None),
    ("http://h/db1/ignored/segments", "h:19530", False, "db1", None, None),
    ("http://h:19530/", "h:19530", False, None, None, None),
    ("https://[::1]:9443/analytics", "[::1]:9443", True, "analytics", None, None),
    ("http://h/my%5Fdb", "h:19530", False, "my_db", None, None),  # percent-decoded ("my db": not a Milvus name)
    ("http://root:Milvus@h:19530", "h:19530", False, None, "root", "Milvus"),
    ("http://root:Milvus@h", "h:19530", False, None, "root", "Milvus"),
    ("root:Milvus@h:19531", "h:19531", False, None, "root", "Milvus"),
    ("http://us%40er:p%3Aw%2Fd%40x@h:1/db", "h:1", False, "db", "us@er", "p:w/d@x"),
    ("https://alice:s%C3%A9cret@[::1]:9443/db2", "[::1]:9443", True, "db2", "alice", "s\u00e9cret"),
    ("http://alice@h", "h:19530", False, None, "alice", None),
]


@pytest.mark.parametrize(("uri", "address", "secure", "db_name", "user", "password"), VALID, ids=[v[0] for v in VALID])
def test_valid_uris(
    uri: str, address: str, secure: bool, db_name: str | None, user: str | None, password: str | None
) -> None:
    target = parse_uri(uri)
    assert target.address == address
    assert target.secure is secure
    assert target.db_name == db_name
    assert target.user == user
    assert target.password == password
    if password:
        assert password not in repr(target)
        assert password not in target.display


# A user name without a password parses (password=... may supply it), but alone it would send no credentials.
WITH_PASSWORD = [v for v in VALID if v[4] is None or v[5] is not None]


@pytest.mark.parametrize(
    ("uri", "address", "secure", "db_name", "user", "password"), WITH_PASSWORD, ids=[v[0] for v in WITH_PASSWORD]
)
def test_valid_uris_build_a_client_and_an_option(
    uri: str, address: str, secure: bool, db_name: str | None, user: str | None, password: str | None
) -> None:
    option = pi.new_bulk_import_option(uri, "coll", [["/data/rows.json"]])
    assert option.uri == uri
    with pi.ImportClient(uri) as client:
        shown = repr(client)
        assert f"db_name={db_name!r}" in shown
    for text in (shown, repr(option)):
        if password:
            assert password not in text
            assert "***" in text


def test_default_ports() -> None:
    assert parse_uri("http://h").address.endswith(":19530")
    assert parse_uri("https://h").address.endswith(":443")
    assert parse_uri("h").address.endswith(":19530")


def test_credentials_are_percent_decoded_into_the_authorization_header_value() -> None:
    target = parse_uri("http://us%40er:p%3Aw@h")
    value = authorization_value(token=None, user=target.user, password=target.password)
    import base64

    assert base64.b64decode(value).decode() == "us@er:p:w"


def test_authorization_value_rules() -> None:
    import base64

    assert base64.b64decode(authorization_value(token="api-key-1", user="u", password="p")) == b"api-key-1"
    assert base64.b64decode(authorization_value(token=None, user="root", password="Milvus")) == b"root:Milvus"
    assert authorization_value(token=None, user="root", password=None) is None
    assert authorization_value(token=None, user=None, password=None) is None


# uri, text the message must name (password masked), secret that must not appear
INVALID = [
    ("", "''", None),
    ("   ", "'   '", None),
    ("ftp://h:19530", "'ftp'", None),
    ("mongodb://h", "'mongodb'", None),
    ("http://h:abc", "http://h:abc", None),
    ("http://h:99999", "http://h:99999", None),
    ("http://h:0", "http://h:0", None),
    ("localhost:port", "localhost:port", None),
    ("http://", "'http://'", None),
    ("http://:19530", "http://:19530", None),
    ("http://h:1?timeout=3", "http://h:1?timeout=***", None),
    ("http://h:1#frag", "http://h:1#***", None),
    ("unix:", "'unix:'", None),
    ("unix:///", "'unix:///'", None),
    ("http://[::1", "http://[::1", None),
    ("::1:19530", "::1:19530", None),
    ("http://root:Sup3rSecretPw@h:bad", "http://root:***@h:bad", "Sup3rSecretPw"),
    ("ftp://root:Sup3rSecretPw@h", "ftp://root:***@h", "Sup3rSecretPw"),
    ("root:Sup3rSecretPw@h:99999", "root:***@h:99999", "Sup3rSecretPw"),
    ("https://root:Sup3rSecretPw@:443", "https://root:***@:443", "Sup3rSecretPw"),
    ("http://root:Sup3rSecretPw@h?x=1", "http://root:***@h?x=***", "Sup3rSecretPw"),
]


@pytest.mark.parametrize(("uri", "named", "secret"), INVALID, ids=[repr(v[0]) for v in INVALID])
def test_invalid_uris(uri: str, named: str, secret: str | None) -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        parse_uri(uri)
    assert named in str(err.value)
    assert "uri" in str(err.value).lower()
    if secret is not None:
        assert secret not in str(err.value)
        assert secret not in repr(err.value.value)
        assert "***" in str(err.value)


@pytest.mark.parametrize(("uri", "named", "secret"), INVALID[2:], ids=[repr(v[0]) for v in INVALID[2:]])
def test_invalid_uris_are_refused_by_the_public_api(uri: str, named: str, secret: str | None) -> None:
    for build in (
        lambda: pi.new_bulk_import_option(uri, "coll", [["/a.json"]]),
        lambda: pi.ImportClient(uri),
    ):
        with pytest.raises(pi.InvalidInputError) as err:
            build()
        assert named in str(err.value)
        if secret is not None:
            assert secret not in str(err.value)


def test_non_string_uri() -> None:
    with pytest.raises(pi.InvalidInputError, match="must be a string, got int 19530"):
        parse_uri(19530)


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("http://root:pw@h:1", "http://root:***@h:1"),
        ("root:pw@h", "root:***@h"),
        ("http://h:19530/db", "http://h:19530/db"),
        ("http://[::1]:19530/db", "http://[::1]:19530/db"),
        ("http://alice@h", "http://***@h"),
    ],
)
def test_mask_uri(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked


@pytest.mark.parametrize(
    ("uri", "secret_part"),
    [("http://root:pa@ss-Tail77@h:19530", "ss-Tail77"), ("http://root:pa/ss-Tail77@h:bad", "ss-Tail77")],
)
def test_mask_uri_hides_the_whole_password_even_with_unescaped_at_or_slash(uri: str, secret_part: str) -> None:
    shown: list[str] = []
    try:
        shown.append(parse_uri(uri).display)
        with pi.ImportClient(uri) as client:
            shown.append(repr(client))
    except pi.InvalidInputError as error:
        shown.append(str(error))
    for text in shown:
        assert secret_part not in text
