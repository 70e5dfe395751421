"""Input validation and parsing: everything that will be sent is checked before the first RPC.

Built as a user would: an option or a client from the public API, then the typed error, its message and ``.value``;
where an RPC would be sent, the Milvus 2.4+ TEST server is the witness that nothing reached the wire.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import helpers
import pytest
from fake_milvus import Milvus24TestServer

import pymilvus_import as pi

BAD = "/data/bad\udc80.json"  # what os.listdir returns for the file name b"bad\x80.json" on Linux


pytestmark = pytest.mark.test_server(version="v2.4.10")


# ------------------------------------------------------------------------------------------ UTF-8, before any RPC
def test_undecodable_path_in_group_1_is_refused_by_the_builder_naming_group_and_escaped_path() -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        helpers.option([["/data/a.json"], [BAD]])
    message = str(err.value)
    assert "file group 1" in message
    assert "'/data/bad\\udc80.json'" in message  # escaped, so the message itself can be printed anywhere
    assert "UTF-8" in message
    assert err.value.value == BAD
    assert err.value.field == "files"
    message.encode("utf-8")  # printable on any UTF-8 stream


def test_an_option_built_around_the_builder_still_sends_nothing(
    server: Milvus24TestServer, client: pi.ImportClient
) -> None:
    """Once group 0's job was created and then a raw UnicodeEncodeError escaped without created_job_ids; now the
    option is refused when it is built (``dataclasses.replace`` checks every field, as the builders do)."""
    with pytest.raises(pi.InvalidInputError, match="file group 1"):
        sneaky = dataclasses.replace(
            helpers.option([["/data/a.json"], ["/data/b.json"]]), files=(("/data/a.json",), (BAD,))
        )
        client.bulk_import(sneaky)
    assert server.requests == []
    assert server.import_count() == 0


# every value that goes into the ImportRequest, with a lone surrogate in it
UNENCODABLE: list[tuple[str, Callable[[], object], str]] = [
    ("partition", lambda: helpers.option().with_partition("p\udc801"), "partition name 'p\\udc801'"),
    ("collection", lambda: helpers.option(collection="co\udcffll"), "collection name 'co\\udcffll'"),
    ("database", lambda: helpers.option().with_database("db\udc80"), "database name 'db\\udc80'"),
    ("option key", lambda: helpers.option().with_option("ke\udc80y", "v"), "option key 'ke\\udc80y'"),
    ("option value", lambda: helpers.option().with_option("custom", "v\udc80"), "'v\\udc80'"),
    ("idempotency key", lambda: helpers.option().with_idempotency_key("k\udc80"), "'k\\udc80'"),
]


@pytest.mark.parametrize(("what", "build", "named"), UNENCODABLE, ids=[u[0] for u in UNENCODABLE])
def test_every_unencodable_value_is_refused_by_its_builder(what: str, build: Callable[[], object], named: str) -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        build()
    assert named in str(err.value)
    assert "\udc80" not in str(err.value) and "\udcff" not in str(err.value)


@pytest.mark.parametrize(
    "field_values",
    [
        {"partition_name": "p\udc80"},
        {"collection_name": "c\udc80"},
        {"db_name": "d\udc80"},
        {"options": (("k", "v\udc80"),)},
        {"options": (("k\udc80", "v"),)},
        {"idempotency_key": "k\udc80"},
        {"api_key": "key\udc80"},
    ],
    ids=lambda v: next(iter(v)),
)
def test_a_replaced_field_that_cannot_be_encoded_never_reaches_the_server(
    server: Milvus24TestServer, client: pi.ImportClient, field_values: dict[str, Any]
) -> None:
    with pytest.raises(pi.InvalidInputError):
        sneaky = dataclasses.replace(helpers.option([["/data/a.json"], ["/data/b.json"]]), **field_values)
        client.bulk_import(sneaky)
    assert server.requests == []


# -------------------------------------------------------------------------------- names that travel in a header
@pytest.mark.parametrize("db_name", ["données", "a\nb", "a\x00b", "a\x7fb"])
def test_a_database_name_that_cannot_be_a_grpc_header_is_refused_up_front(
    server: Milvus24TestServer, client: pi.ImportClient, db_name: str
) -> None:
    """Today: TransportError 'INTERNAL: Invalid metadata' from gRPC, after the request was built."""
    with pytest.raises(pi.InvalidInputError, match="database name") as err:
        client.bulk_import(helpers.option().with_database(db_name))
    assert err.value.value == db_name
    with pytest.raises(pi.InvalidInputError, match="db_name"):
        pi.ImportClient(server.uri, db_name=db_name)
    assert server.requests == []


def test_a_database_in_the_uri_path_must_be_printable_ascii() -> None:
    with pytest.raises(pi.InvalidInputError, match="printable ASCII"):
        pi.ImportClient("http://h:1/donn%C3%A9es")
    with pytest.raises(pi.InvalidInputError, match="printable ASCII"):
        pi.new_bulk_import_option("http://h:1/a%0Ab", "coll", [["/a.json"]])


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: helpers.option(collection="co\x00ll"), "collection name 'co\\x00ll'"),
        (lambda: helpers.option(collection="co\tll"), "collection name 'co\\tll'"),
        (lambda: helpers.option().with_partition("p\n1"), "partition name 'p\\n1'"),
        (lambda: helpers.option([["/data/a\x00.json"]]), "NUL"),
        (lambda: helpers.option().with_option("ke\ny", "v"), "option key 'ke\\ny'"),
    ],
    ids=["nul-collection", "tab-collection", "newline-partition", "nul-path", "newline-option-key"],
)
def test_control_characters_in_names_and_nul_in_paths_are_refused(build: Callable[[], object], named: str) -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        build()
    assert named in str(err.value)


def test_a_tab_separator_is_still_a_valid_option_value() -> None:
    assert helpers.option().with_option("sep", "\t").options == (("sep", "\t"),)


# ------------------------------------------------------------------------------------------ os.PathLike in files
class BytesPathLike:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __fspath__(self) -> bytes:
        return self.raw


def test_pathlib_and_any_pathlike_are_sent_as_strings(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    files = [
        [Path("/data/a.json")],
        (PurePosixPath("/data/g/id.npy"), BytesPathLike(b"/data/g/vec.npy")),
        [b"/data/c.parquet"],
    ]
    built = helpers.option(files)
    assert built.files == (("/data/a.json",), ("/data/g/id.npy", "/data/g/vec.npy"), ("/data/c.parquet",))
    response = client.bulk_import(built)
    assert len(response.job_ids) == 3
    assert [list(c.request.files) for c in server.requests_for("Import")] == [list(g) for g in built.files]


def test_a_bytes_pathlike_with_an_undecodable_name_gets_the_utf8_error() -> None:
    with pytest.raises(pi.InvalidInputError, match=r"file group 0 .*UTF-8") as err:
        helpers.option([[BytesPathLike(b"/data/bad\x80.json")]])
    assert err.value.value == os.fsdecode(b"/data/bad\x80.json")


def test_groups_may_come_as_a_tuple_or_a_generator() -> None:
    expected = (("/data/a.json",), ("/data/b.json",))
    assert helpers.option((("/data/a.json",), ("/data/b.json",))).files == expected
    assert helpers.option([p] for p in ("/data/a.json", "/data/b.json")).files == expected
    assert helpers.option([(p for p in ["/data/a.json"]), ["/data/b.json"]]).files == expected


def test_a_single_path_object_as_a_group_or_as_files_gets_a_helpful_error() -> None:
    with pytest.raises(pi.InvalidInputError, match=r"file group 1 .*single path.*write \['/data/b.json'\]"):
        helpers.option([["/data/a.json"], Path("/data/b.json")])
    with pytest.raises(pi.InvalidInputError, match=r"\[\['/data/a.json'\]\], not a bare path"):
        helpers.option(Path("/data/a.json"))
    with pytest.raises(pi.InvalidInputError, match="flat list of paths"):
        helpers.option([Path("/data/a.json"), Path("/data/b.json")])


def test_a_mapping_is_not_taken_for_a_list_of_groups() -> None:
    with pytest.raises(pi.InvalidInputError, match="got dict"):
        helpers.option({"/data/a.json": 1})
    with pytest.raises(pi.InvalidInputError, match="file group 0 must be a list of paths, got dict"):
        helpers.option([{"/data/a.json": 1}])


# --------------------------------------------------------------------------------------------------- URI parsing
def test_unix_scheme_is_case_insensitive(server: Milvus24TestServer) -> None:
    """Today 'UNIX:/tmp/m.sock' dials host 'unix', port 19530, database 'tmp'."""
    for uri in ("UNIX:/tmp/m.sock", "Unix:/tmp/m.sock"):
        client = pi.ImportClient(uri)
        try:
            assert "unix:/tmp/m.sock" in repr(client)
            assert "db_name=None" in repr(client)
        finally:
            client.close()


@pytest.mark.parametrize("uri", ["http://ho st:1", "http://h\u00e9:1", "http://h!x", "ho st", "http://h%20x:1"])
def test_a_host_with_invalid_characters_is_refused(uri: str) -> None:
    with pytest.raises(pi.InvalidInputError, match="is not a host name or IP address"):
        pi.new_bulk_import_option(uri, "coll", [["/a.json"]])
    with pytest.raises(pi.InvalidInputError, match="is not a host name or IP address"):
        pi.ImportClient(uri)


@pytest.mark.parametrize("uri", ["http://h\tx:1", "http://h:1/d\nb", "http://h\udc80:1"])
def test_a_uri_with_control_or_unencodable_characters_is_refused(uri: str) -> None:
    with pytest.raises(pi.InvalidInputError, match="invalid Milvus URI"):
        pi.ImportClient(uri)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://TOKEN-abc@h:1", "no password"),
        ("http://:pw-abc@h:1", "no user name"),
        ("http://@h:1", "no user name"),
        ("http://root:@h:1", "empty password"),
    ],
)
def test_credentials_in_a_uri_that_would_send_no_auth_are_refused(
    server: Milvus24TestServer, uri: str, why: str
) -> None:
    for build in (lambda: pi.ImportClient(uri), lambda: pi.new_bulk_import_option(uri, "coll", [["/a.json"]])):
        with pytest.raises(pi.InvalidInputError) as err:
            build()
        message = str(err.value)
        assert why in message
        assert "token=" in message and "MILVUS_TOKEN" in message and "user:password@" in message
        assert "abc" not in message and "abc" not in repr(err.value.value)
    assert server.requests == []


def test_a_user_name_in_the_uri_with_password_given_separately_still_works(server: Milvus24TestServer) -> None:
    with pi.ImportClient(f"http://root@{server.address}", password="Milvus") as client:
        client.bulk_import(helpers.option())
    (call,) = server.requests_for("Import")
    assert call.metadata["authorization"] == "cm9vdDpNaWx2dXM="  # base64("root:Milvus")


# ----------------------------------------------------------------------------------------- constructor arguments
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"token": 123}, "token"),
        ({"token": b"tok-abc"}, "token"),
        ({"token": ""}, "token"),
        ({"token": "   "}, "token"),
        ({"token": "tok-abc\n"}, "token"),
        ({"token": "tok-abc\udc80"}, "token"),
        ({"user": 1, "password": "pw-abc"}, "user"),
        ({"user": "root", "password": 12345678}, "password"),
        ({"user": "root", "password": b"pw-abc"}, "password"),
        ({"user": "root", "password": ""}, "password"),
        ({"user": "", "password": "pw-abc"}, "user"),
    ],
    ids=repr,
)
def test_bad_credentials_are_refused_up_front_and_masked(
    server: Milvus24TestServer, kwargs: dict[str, Any], field: str
) -> None:
    """Today token=123 raises AttributeError; user=1 and an empty token are silently accepted."""
    with pytest.raises(pi.InvalidInputError) as err:
        pi.ImportClient(server.uri, **kwargs)
    assert err.value.field == field
    assert err.value.value == "***"
    assert "abc" not in str(err.value)
    assert server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"db_name": 5}, "db_name must be a string, got int 5"),
        ({"secure": "false"}, "secure must be True, False or None"),
    ],
)
def test_other_constructor_arguments_of_the_wrong_type(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(pi.InvalidInputError, match=says):
        pi.ImportClient("http://h:1", **kwargs)


def test_a_milvus_token_that_cannot_be_encoded_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MILVUS_TOKEN", "tok-abc\udc80")
    with pytest.raises(pi.InvalidInputError, match="MILVUS_TOKEN") as err:
        pi.ImportClient("http://h:1")
    assert err.value.value == "***"
    assert "abc" not in str(err.value)


def test_a_non_string_api_key_on_a_user_channel_client_is_refused() -> None:
    import grpc

    channel = grpc.insecure_channel("127.0.0.1:1")
    try:
        with pytest.raises(pi.InvalidInputError, match="token must be a string") as err:
            pi.ImportClient(channel=channel, token=123)  # type: ignore[arg-type]
        assert err.value.value == "***"
    finally:
        channel.close()
