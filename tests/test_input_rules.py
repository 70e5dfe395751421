"""The rules every input passes before any RPC (issue 18, defects 2 client half, 5, 6, 7, 8, 11, 15, 18), each tried
on many values: what a user gives is refused with a package error before anything reaches the (test) server, the
error pickles, and no secret shows in any text a user could see."""

from __future__ import annotations

import copy
import pickle
import string
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_milvus import Milvus24TestServer
from helpers import exception_texts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pymilvus_import as pi

FILES = [["/data/rows.json"]]
MANY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def refused_before_any_rpc(server: Milvus24TestServer, call: Callable[[], object]) -> pi.InvalidInputError:
    """``call`` raises InvalidInputError, the server saw nothing, and the error survives pickle and deepcopy."""
    before = len(server.requests)
    with pytest.raises(pi.InvalidInputError) as refused:
        call()
    assert len(server.requests) == before, "an RPC was sent"
    error = refused.value
    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert str(copied) == str(error) and repr(copied.value) == repr(error.value)
    return error


def visible_texts(error: BaseException) -> str:
    return "\n".join(exception_texts(error)) + repr(getattr(error, "value", None))


def option() -> pi.BulkImportOption:
    return pi.new_bulk_import_option("", "coll", FILES)


# ------------------------------------------------------------------------------------- #6 one rule for secrets
SECRET = "S3cr3t-Value-9f2b"
secret_words = st.sampled_from(["token", "password", "secret", "api_key", "apikey", "access_key", "private", "ezk"])
affixes = st.sampled_from(["", "my_", "x-", "milvus_", "db_", "_id", "-v2", "2"])


@st.composite
def secret_key(draw: st.DrawFn) -> str:
    word = draw(secret_words)
    if word == "ezk":
        return draw(st.sampled_from(["ezk", "EZK", "Ezk"]))
    return draw(affixes) + draw(st.sampled_from([word, word.upper()])) + draw(affixes)


@MANY
@given(key=secret_key(), value=st.text(string.ascii_letters + string.digits + "-_", min_size=8, max_size=30))
def test_repr_and_str_of_an_option_mask_secret_option_values(key: str, value: str) -> None:
    built = option().with_option(key, SECRET + value)
    for text in (repr(built), str(built)):
        assert SECRET not in text and "***" in text


@MANY
@given(key=secret_key(), bad=st.sampled_from([b"S3cr3t-Value-9f2b", "S3cr3t-Value-9f2b\udcff", SECRET + "\n"]))
def test_errors_about_a_secret_option_value_never_show_it(key: str, bad: Any) -> None:
    with pytest.raises(pi.InvalidInputError) as refused:
        option().with_option(key, bad)
    assert "S3cr3t" not in visible_texts(refused.value)


def test_the_cli_never_shows_a_secret_option_value(capsys: Any) -> None:
    from helpers import run_cli

    result = run_cli(
        capsys, "submit", "--uri", "http://127.0.0.1:1", "-c", "coll", "/d/a.json", "-o", f"ezk={SECRET}\n"
    )
    assert result.code == 2 and SECRET not in result.out + result.err


@MANY
@given(
    key=st.sampled_from(["x-api-token", "x-milvus-token", "authorization", "x-api-key", "x-secret", "my-password"]),
    shape=st.sampled_from(["triple", "list", "nul", "non-str"]),
)
def test_metadata_errors_never_show_values_of_secret_looking_keys(
    server: Milvus24TestServer, client: pi.ImportClient, key: str, shape: str
) -> None:
    entry: Any = {
        "triple": (key, SECRET, "extra"),
        "list": [key, SECRET],
        "nul": (key, SECRET + "\0"),
        "non-str": (key, [SECRET]),
    }[shape]
    error = refused_before_any_rpc(server, lambda: client.bulk_import(option(), metadata=[entry]))
    assert SECRET not in visible_texts(error)


@pytest.mark.parametrize("metadata", ["authorization=" + SECRET, SECRET.encode(), "x-api-token: " + SECRET])
def test_metadata_given_as_text_is_not_shown(
    server: Milvus24TestServer, client: pi.ImportClient, metadata: Any
) -> None:
    error = refused_before_any_rpc(server, lambda: client.bulk_import(option(), metadata=metadata))
    assert SECRET not in visible_texts(error)


@MANY
@given(key_text=st.text(string.ascii_letters + string.digits + "+/=", min_size=1, max_size=39))
def test_a_client_key_given_as_short_key_text_is_not_shown(key_text: str) -> None:
    with pytest.raises(pi.InvalidInputError) as refused:
        pi.ImportClient("https://127.0.0.1:1", client_cert=b"-----BEGIN CERTIFICATE-----\n", client_key=key_text)
    assert repr(key_text) not in visible_texts(refused.value)


def test_a_client_key_path_is_still_named() -> None:
    with pytest.raises(pi.InvalidInputError, match=r"/no/such/client\.key"):
        pi.ImportClient(
            "https://127.0.0.1:1", client_cert=b"-----BEGIN CERTIFICATE-----\n", client_key="/no/such/client.key"
        )


# ---------------------------------------------------------------------------- #7 a scheme is followed by "//"
@MANY
@given(
    scheme=st.sampled_from(["http", "https", "HTTPS", "tcp", "grpc", "grpcs"]),
    gap=st.sampled_from(["", "/", "\\", "\\\\", "/\\"]),
    host=st.sampled_from(["milvus.example.com", "localhost", "10.0.0.1"]),
    port=st.sampled_from(["", ":19530"]),
)
def test_a_scheme_not_followed_by_two_slashes_is_refused(scheme: str, gap: str, host: str, port: str) -> None:
    uri = f"{scheme}:{gap}{host}{port}"
    with pytest.raises(pi.InvalidInputError, match="//"):
        pi.new_bulk_import_option(uri, "coll", FILES)
    with pytest.raises(pi.InvalidInputError):
        pi.ImportClient(uri)


def test_bare_host_port_and_unix_uris_still_work() -> None:
    for uri in ("localhost:19530", "milvus.example.com", "unix:/tmp/milvus.sock", "[::1]:19530", "::1"):
        pi.ImportClient(uri).close()


# ----------------------------------------------------- #8 numbers and values Python, protobuf or gRPC would refuse
huge_ints = st.integers(min_value=2**64, max_value=10**5000) | st.just(10**400)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=huge_ints | st.sampled_from([1e12, float("inf"), float("nan"), -1, 0]))
def test_huge_or_impossible_timeouts_are_refused(
    server: Milvus24TestServer, client: pi.ImportClient, number: Any
) -> None:
    refused_before_any_rpc(server, lambda: client.bulk_import(option(), timeout=number))
    refused_before_any_rpc(server, lambda: client.get_import_progress(1, timeout=number))
    refused_before_any_rpc(server, lambda: client.wait_for_import(1, poll_max=number))
    refused_before_any_rpc(server, lambda: pi.Retry(initial=number))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=huge_ints | st.just(2**63))
def test_limits_and_job_ids_beyond_64_bits_are_refused(
    server: Milvus24TestServer, client: pi.ImportClient, number: int
) -> None:
    refused_before_any_rpc(server, lambda: client.list_import_jobs(limit=number))
    refused_before_any_rpc(server, lambda: client.get_import_progress(number))
    refused_before_any_rpc(server, lambda: client.wait_for_import([1, number]))


@settings(max_examples=15, deadline=None)
@given(digits=st.integers(min_value=21, max_value=6000))
def test_long_digit_strings_are_refused_as_job_ids_and_timestamps(digits: int) -> None:
    text = "9" * digits
    for build in (lambda: option().with_option("start_ts", text), lambda: option().with_option("end_ts", text)):
        with pytest.raises(pi.InvalidInputError):
            build()
    with pi.ImportClient("http://127.0.0.1:1") as offline, pytest.raises(pi.InvalidInputError):
        offline.get_import_progress(text)


@pytest.mark.parametrize(
    "entry",
    [("bogus.option", object()), ("bogus", None), ("bogus", 2**70), ("bogus", [1]), ("b\u00f6gus", 1), ("", 1)],
)
def test_channel_option_values_grpc_cannot_take_are_refused(entry: tuple[str, Any]) -> None:
    with pytest.raises(pi.InvalidInputError) as refused:
        pi.ImportClient("http://127.0.0.1:1", channel_options=[entry])
    pickle.loads(pickle.dumps(refused.value))


def test_channel_option_values_grpc_takes_still_work() -> None:
    options = [("grpc.max_send_message_length", 2**31 - 1), ("grpc.primary_user_agent", "me"), ("grpc.x", b"v")]
    pi.ImportClient("http://127.0.0.1:1", channel_options=options).close()


# ------------------------------------------------------- #5 InvalidInputError.value is a picklable description
def _generator() -> Iterator[str]:
    yield "/d/a.json"


unpicklable = st.sampled_from(
    [lambda: None, threading.Lock(), _generator(), (x for x in ()), object(), type("Local", (), {})()]
)


@MANY
@given(value=unpicklable)
def test_the_offending_value_is_kept_as_a_picklable_description(
    server: Milvus24TestServer, client: pi.ImportClient, value: Any
) -> None:
    attempts: list[Callable[[], object]] = [
        lambda: pi.new_bulk_import_option("", "coll", value),
        lambda: pi.new_bulk_import_option("", "coll", [value]),
        lambda: pi.new_bulk_import_option("", value, FILES),
        lambda: option().with_partition(value),
        lambda: option().with_option("k", value),
        lambda: option().with_option(value, "v"),
        lambda: option().with_idempotency_key(value),
        lambda: client.bulk_import(option(), timeout=value),
        lambda: client.bulk_import(option(), wait_for_ready=value),
        lambda: client.bulk_import(option(), preflight=value),
        lambda: client.get_import_progress(value),
        lambda: client.list_import_jobs(value),
        lambda: client.list_import_jobs(limit=value),
        lambda: client.wait_for_import(1, poll_initial=value),
        lambda: pi.ImportClient(server.uri, secure=value),
        lambda: pi.ImportClient(server.uri, channel_options=[("grpc.x", value)]),
        lambda: pi.ImportClient(server.uri, preflight=value),
        lambda: pi.Retry(initial=value),
    ]
    for attempt in attempts:
        error = refused_before_any_rpc(server, attempt)
        assert error.value is None or type(error.value) in (str, int, float, bool, bytes, tuple, list)


# -------------------------------------------------------------------------- #11 reserved metadata keys
reserved_keys = (
    st.sampled_from([":path", ":authority", ":method", "host", "te", "content-type", "connection", "upgrade"])
    | st.text(string.ascii_lowercase + "-", min_size=1, max_size=10).map(lambda s: "grpc-" + s)
    | st.text(string.ascii_lowercase, min_size=1, max_size=5).flatmap(
        lambda s: st.sampled_from([s + c + s for c in ":/!~+@ ,;=?"])
    )
)


@MANY
@given(key=reserved_keys)
def test_reserved_or_ill_formed_metadata_keys_are_refused_before_the_rpc(
    server: Milvus24TestServer, client: pi.ImportClient, key: str
) -> None:
    error = refused_before_any_rpc(server, lambda: client.bulk_import(option(), metadata=[(key, "v")]))
    assert "metadata key" in str(error)


def test_ordinary_metadata_keys_still_pass(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    with pytest.raises(pi.ImportJobNotFoundError):
        client.get_import_progress(1, metadata=[("x-request-id", "a"), ("trace.id", "b"), ("my_key", "c")])


# ---------------------------------------------------------------------------- #15 one check for every credential
bad_credentials = st.sampled_from(["", "   ", "abc\n", "abc\r\n", "a\0b", "ab\tc", "\x7fx", "x\x85", "tok\udcff"])


@MANY
@given(bad=bad_credentials)
def test_every_credential_is_checked_alike(bad: str) -> None:
    for attempt in (
        lambda: option().with_api_key(bad),
        lambda: pi.ImportClient("http://127.0.0.1:1", token=bad),
        lambda: pi.ImportClient("http://127.0.0.1:1", user=bad, password="pw"),
        lambda: pi.ImportClient("http://127.0.0.1:1", user="u", password=bad),
    ):
        with pytest.raises(pi.InvalidInputError) as refused:
            attempt()
        assert refused.value.value == "***"
        if bad.strip():
            assert bad not in visible_texts(refused.value)


# ------------------------------------------------------ #18 control characters in paths and option values
controls = st.sampled_from([chr(c) for c in [*range(0, 32), 127, 0x85, 0x9F]])


@MANY
@given(control=controls, where=st.sampled_from(["start", "middle", "end-before-ext"]))
def test_control_characters_in_paths_are_refused_when_the_option_is_built(control: str, where: str) -> None:
    path = {"start": f"/{control}a.json", "middle": f"/a{control}b.json", "end-before-ext": f"/a{control}.json"}[where]
    with pytest.raises(pi.InvalidInputError):
        pi.new_bulk_import_option("", "coll", [[path]])


@MANY
@given(control=controls, key=st.sampled_from(["timeout_note", "custom", "sep", "backup"]))
def test_control_characters_in_option_values_are_refused_when_the_option_is_built(control: str, key: str) -> None:
    if key == "sep" and control == "\t":
        option().with_option("sep", "\t")  # a tab-separated CSV: the one control character a value may be
        return
    with pytest.raises(pi.InvalidInputError):
        option().with_option(key, f"v{control}")


# ------------------------------------------------------- #2 (client half) names no Milvus version accepts
strict_first = st.sampled_from(list(string.ascii_letters + "_"))
strict_rest = st.text(string.ascii_letters + string.digits + "_", max_size=20)
valid_strict_names = st.builds(lambda a, b: a + b, strict_first, strict_rest)
bad_anywhere = st.sampled_from([*"-.!@#$%^&*()+=/\\:;,<>?~`'\"[]{}|", "ü", "中", "é", "\u00a0x"])


@MANY
@given(name=valid_strict_names, bad=bad_anywhere, at=st.integers(min_value=0, max_value=30))
def test_collection_and_database_names_no_version_accepts_are_refused(name: str, bad: str, at: int) -> None:
    invalid = name[:at] + bad + name[at:]
    with pytest.raises(pi.InvalidInputError, match="collection name"):
        pi.new_bulk_import_option("", invalid, FILES)
    with pytest.raises(pi.InvalidInputError, match="database name"):
        option().with_database(invalid)
    with pytest.raises(pi.InvalidInputError, match=r"db_name|database name"):
        pi.ImportClient("http://127.0.0.1:1", db_name=invalid)
    if invalid.isascii() and set(invalid).isdisjoint('/?#%@\\"<>` '):
        with pytest.raises(pi.InvalidInputError, match="database name"):
            pi.ImportClient(f"http://127.0.0.1:1/{invalid}")


@MANY
@given(digit=st.sampled_from(list(string.digits)), name=strict_rest)
def test_a_digit_first_is_refused_for_collections_and_databases_but_not_partitions(digit: str, name: str) -> None:
    with pytest.raises(pi.InvalidInputError):
        pi.new_bulk_import_option("", digit + name, FILES)
    with pytest.raises(pi.InvalidInputError):
        option().with_database(digit + name)
    assert option().with_partition(digit + name).partition_name == digit + name


@MANY
@given(name=valid_strict_names)
def test_valid_names_pass_and_dashes_inside_partitions_are_left_to_the_server(name: str) -> None:
    assert pi.new_bulk_import_option("", name, FILES).collection_name == name
    assert option().with_database(name).db_name == name
    assert option().with_partition(name + "-1").partition_name == name + "-1"  # valid from 2.4.18 / 2.5.0
    with pytest.raises(pi.InvalidInputError, match="partition name"):
        option().with_partition("-" + name)  # "-" first: no version takes it
    long_name = name + "x" * 300  # the length limit is a server setting: left to the server
    assert pi.new_bulk_import_option("", long_name, FILES).collection_name == long_name


def test_an_invalid_collection_name_reaches_no_rpc(server: Milvus24TestServer, client: pi.ImportClient) -> None:
    for name in ("my-books", "1abc", "bücher"):
        refused_before_any_rpc(server, lambda name=name: client.list_import_jobs(name))
