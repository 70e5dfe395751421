"""Preflight validation of ``bulk_import`` input, and the ``BulkImportOption`` builder (issue 3).

Every bad input is sent the way a user would (build the option and call ``bulk_import`` against a live Milvus 2.4+
TEST server that knows the collection), so input that slipped through validation would reach the server and show up
in its request log. Each case asserts the error type, that the message names the offending value, and that the
server received nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from fake_milvus import Milvus24TestServer

import pymilvus_import as pi

GOOD_JSON = [["/data/rows.json"]]
NPY = ["/data/g/id.npy", "/data/g/vec.npy"]


pytestmark = pytest.mark.test_server(version="v2.6.24")


def via_client(
    uri: str,
    files: Any = GOOD_JSON,
    *,
    collection: Any = "coll",
    build: Callable[[pi.BulkImportOption], pi.BulkImportOption] = lambda o: o,
    **call: Any,
) -> pi.BulkImportResponse:
    """Build the option against the server's URI and send it with an ImportClient for that server."""
    with pi.ImportClient(uri) as client:
        option = build(pi.new_bulk_import_option(uri, collection, files))
        return client.bulk_import(option, **call)


def via_module(
    uri: str,
    files: Any = GOOD_JSON,
    *,
    collection: Any = "coll",
    build: Callable[[pi.BulkImportOption], pi.BulkImportOption] = lambda o: o,
    **call: Any,
) -> pi.BulkImportResponse:
    """The same through the module-level ``pi.bulk_import`` (the option carries the server's URI)."""
    return pi.bulk_import(build(pi.new_bulk_import_option(uri, collection, files)), **call)


def opt(key: Any, value: Any) -> Callable[[pi.BulkImportOption], pi.BulkImportOption]:
    return lambda o: o.with_option(key, value)


Case = Callable[[str], object]
P = pytest.param

# (what the user does with the server's URI, a text str(error) must contain)
BAD_INPUTS: list[Any] = [
    # --- URI and collection name
    P(lambda u: via_module(u.replace("http://", "ftp://")), "'ftp'", id="uri-bad-scheme"),
    P(lambda u: pi.new_bulk_import_option(19530, "coll", GOOD_JSON), "got int 19530", id="uri-not-a-string"),
    P(lambda u: pi.new_bulk_import_option(None, "coll", GOOD_JSON), "None", id="uri-none"),
    P(lambda u: via_client(u, collection=""), "collection name must not be empty, got ''", id="collection-empty"),
    P(lambda u: via_client(u, collection="   "), "'   '", id="collection-whitespace"),
    P(lambda u: via_client(u, collection=" coll"), "' coll'", id="collection-leading-space"),
    P(lambda u: via_module(u, collection=None), "NoneType None", id="collection-none"),
    P(lambda u: via_client(u, collection=b"coll"), "b'coll'", id="collection-bytes"),
    # --- shape of files
    P(lambda u: via_client(u, []), "files is empty", id="no-groups"),
    P(lambda u: via_client(u, ()), "files is empty", id="no-groups-tuple"),
    P(lambda u: via_client(u, None), "NoneType None", id="files-none"),
    P(lambda u: via_client(u, 42), "int 42", id="files-int"),
    P(lambda u: via_client(u, "/data/rows.json"), "bare string '/data/rows.json'", id="files-bare-string"),
    P(lambda u: via_client(u, b"/data/rows.json"), "b'/data/rows.json'", id="files-bare-bytes"),
    P(lambda u: via_module(u, ["/data/a.json", "/data/b.json"]), "flat list of paths", id="files-flat-list"),
    P(lambda u: via_client(u, [["/data/a.json"], "/data/b.json"]), "got str '/data/b.json'", id="group-is-string"),
    P(
        lambda u: via_client(u, [["/data/a.json"], 7]),
        "file group 1 must be a list of paths, got int 7",
        id="group-int",
    ),
    P(lambda u: via_client(u, [["/data/a.json"], []]), "file group 1 is empty: []", id="empty-group"),
    P(lambda u: via_client(u, [[None]]), "None", id="path-none"),
    # bytes and os.PathLike paths are accepted: tests/test_input_validation.py
    P(lambda u: via_client(u, [["/data/a.json", 3]]), "non-string path 3", id="path-int"),
    P(lambda u: via_client(u, [[""]]), "empty path ''", id="path-empty"),
    P(lambda u: via_client(u, [["   "]]), "empty path '   '", id="path-whitespace"),
    P(lambda u: via_client(u, [[" /data/a.json"]]), "' /data/a.json'", id="path-leading-space"),
    P(lambda u: via_client(u, [["/data/a.json\n"]]), "'/data/a.json\\n'", id="path-trailing-newline"),
    P(lambda u: via_client(u, [[NPY[0], NPY[0]]]), f"duplicate path {NPY[0]!r} (twice", id="dup-same-group"),
    P(lambda u: via_module(u, [["/d/a.json"], ["/d/a.json"]]), "'/d/a.json' (in groups 0 and 1", id="dup-groups"),
    # --- server rules for one group
    P(lambda u: via_client(u, [["/d/a.json", "/d/b.npy"]]), "'/d/b.npy'", id="mixed-json-npy"),
    P(lambda u: via_client(u, [["/d/a.csv", "/d/b.parquet"]]), "'/d/b.parquet'", id="mixed-csv-parquet"),
    P(lambda u: via_client(u, [["/d/a.json", "/d/b.json"]]), "'/d/b.json'", id="two-json"),
    P(lambda u: via_client(u, [["/d/a.jsonl", "/d/b.jsonl"]]), "'/d/b.jsonl'", id="two-jsonl"),
    P(lambda u: via_client(u, [["/d/a.parquet", "/d/b.parquet"]]), "'/d/b.parquet'", id="two-parquet"),
    P(lambda u: via_module(u, [["/d/a.csv", "/d/b.csv"]]), "'/d/b.csv'", id="two-csv"),
    P(lambda u: via_client(u, [["/x/id.npy", "/y/id.npy"]]), "'/y/id.npy'", id="npy-duplicate-base-name"),
    P(lambda u: via_client(u, [["/d/rows.txt"]]), "'/d/rows.txt'", id="unknown-extension"),
    P(lambda u: via_client(u, [["/d/rows"]]), "'/d/rows'", id="no-extension"),
    P(lambda u: via_client(u, [["/d/a.json"], ["/d/b.xlsx"]]), "'/d/b.xlsx' in group 1", id="unknown-ext-group-1"),
    # --- backup imports
    P(
        lambda u: via_client(
            u, [["/b/1/", "/b/2/", "/b/3/"]], build=lambda o: o.with_partition("p1").with_option("backup", "true")
        ),
        "'/b/3/'",
        id="backup-3-prefixes",
    ),
    P(lambda u: via_client(u, [["/b/1/"]], build=opt("backup", "true")), "with_partition", id="backup-no-partition"),
    # --- option keys and values
    P(lambda u: via_client(u, build=opt(1, "x")), "got int 1", id="option-key-int"),
    P(lambda u: via_client(u, build=opt(None, "x")), "NoneType None", id="option-key-none"),
    P(lambda u: via_client(u, build=opt("", "x")), "got ''", id="option-key-empty"),
    P(lambda u: via_client(u, build=opt("timeout", 300)), "int 300 (write '300')", id="option-value-int"),
    P(lambda u: via_client(u, build=opt("backup", True)), "bool True (write 'true')", id="option-value-bool"),
    P(lambda u: via_client(u, build=opt("my_key", None)), "NoneType None", id="option-unknown-key-none-value"),
    P(lambda u: via_client(u, build=opt("timeout", "300")), "got '300'", id="timeout-no-unit"),
    P(lambda u: via_client(u, build=opt("timeout", "5 minutes")), "'5 minutes'", id="timeout-words"),
    P(lambda u: via_client(u, build=opt("timeout", "1h30")), "'1h30'", id="timeout-trailing-number"),
    P(lambda u: via_client(u, build=opt("timeout", "")), "got ''", id="timeout-empty"),
    P(lambda u: via_client(u, build=opt("backup", "yes")), "'yes'", id="backup-yes"),
    P(lambda u: via_client(u, build=opt("l0_import", "1")), "got '1'", id="l0-import-1"),
    P(lambda u: via_client(u, build=opt("auto_commit", "on")), "'on'", id="auto-commit-on"),
    P(lambda u: via_client(u, build=opt("skip_disk_quota_check", "t")), "'t'", id="skip-quota-t"),
    P(
        lambda u: via_client(u, build=opt("skip_disk_quota_check", "true")),
        "skip_disk_quota_check",
        id="skip-quota-without-backup",
    ),
    P(lambda u: via_client(u, build=opt("sep", ",,")), "',,' (2 characters)", id="sep-two-chars"),
    P(lambda u: via_client(u, build=opt("sep", "")), "'' (0 characters)", id="sep-empty"),
    P(lambda u: via_client(u, build=opt("sep", "\n")), "'\\n'", id="sep-newline"),
    P(lambda u: via_client(u, build=opt("sep", '"')), "'\"'", id="sep-quote"),
    P(lambda u: via_client(u, build=opt("sep", "\0")), "'\\x00'", id="sep-nul"),
    P(lambda u: via_client(u, build=opt("start_ts", "abc")), "'abc'", id="start-ts-text"),
    P(lambda u: via_client(u, build=opt("start_ts", "-1")), "'-1'", id="start-ts-negative"),
    P(lambda u: via_client(u, build=opt("end_ts", "1.5")), "'1.5'", id="end-ts-float"),
    P(lambda u: via_client(u, build=opt("endTs", str(2**64))), str(2**64), id="end-ts-overflow"),
    P(
        lambda u: via_client(u, build=lambda o: o.with_option("start_ts", "10").with_option("end_ts", "5")),
        "start_ts (10) is after end_ts (5)",
        id="start-after-end",
    ),
    P(
        lambda u: via_module(u, build=lambda o: o.with_option("startTs", "900").with_option("end_ts", "899")),
        "(900) is after end_ts (899)",
        id="start-after-end-camel",
    ),
    P(lambda u: via_client(u, build=opt("storage_version", "v2")), "'v2'", id="storage-version"),
    # --- builder arguments
    P(lambda u: via_client(u, build=lambda o: o.with_partition(" p1")), "' p1'", id="partition-space"),
    P(lambda u: via_client(u, build=lambda o: o.with_partition(None)), "NoneType None", id="partition-none"),
    P(lambda u: via_client(u, build=lambda o: o.with_database("")), "got ''", id="database-empty"),
    P(lambda u: via_client(u, build=lambda o: o.with_database(7)), "int 7", id="database-int"),
    P(lambda u: via_client(u, build=lambda o: o.with_api_key("")), "API key", id="api-key-empty"),
    # --- idempotency key
    P(lambda u: via_client(u, build=lambda o: o.with_idempotency_key("")), "got ''", id="idem-empty"),
    P(lambda u: via_client(u, build=lambda o: o.with_idempotency_key("cl\u00e9")), "'cl\u00e9'", id="idem-non-ascii"),
    P(lambda u: via_client(u, build=lambda o: o.with_idempotency_key("a\nb")), "'a\\nb'", id="idem-newline"),
    P(lambda u: via_client(u, build=lambda o: o.with_idempotency_key("k" * 257)), "k" * 257, id="idem-257"),
    P(lambda u: via_client(u, build=lambda o: o.with_idempotency_key(12)), "int 12", id="idem-int"),
    P(
        lambda u: via_client(
            u, [[f"/d/{i}.json"] for i in range(11)], build=lambda o: o.with_idempotency_key("k" * 254)
        ),
        "#10",
        id="idem-too-long-with-group-suffix",
    ),
    # --- call options
    P(lambda u: via_client(u, timeout=-1), "got -1", id="timeout-negative"),
    P(lambda u: via_client(u, timeout=0), "got 0", id="timeout-zero"),
    P(lambda u: via_module(u, timeout="30"), "got '30'", id="timeout-string"),
    P(lambda u: via_client(u, timeout=True), "got True", id="timeout-bool"),
    P(lambda u: via_client(u, metadata=[("X-Trace", "1")]), "'X-Trace'", id="metadata-upper-key"),
    P(lambda u: via_client(u, metadata=[("", "1")]), "''", id="metadata-empty-key"),
    P(lambda u: via_client(u, metadata=[("trace-bin", "text")]), "'trace-bin'", id="metadata-bin-str"),
    P(lambda u: via_module(u, metadata=[("x-n", 1)]), "'x-n'", id="metadata-int-value"),
    P(lambda u: via_client(u, metadata=["x-trace"]), "'x-trace'", id="metadata-bare-string"),
    P(lambda u: via_client(u, metadata=[("a", "b", "c")]), "('a', 'b', 'c')", id="metadata-triple"),
    P(
        lambda u: via_client(u, metadata=True),
        "True",
        id="metadata-not-a-sequence",
    ),
    # --- the call itself
    P(lambda u: pi.bulk_import({"uri": u, "collection_name": "coll"}), "got dict", id="not-an-option-module"),
    P(lambda u: pi.ImportClient(u).bulk_import(("coll", GOOD_JSON)), "got tuple", id="not-an-option-client"),
    P(
        lambda u: pi.ImportClient(u).bulk_import(
            pi.new_bulk_import_option("http://other-host:19530", "coll", GOOD_JSON)
        ),
        "'http://other-host:19530'",
        id="option-uri-other-server",
    ),
]


@pytest.mark.parametrize(("case", "named"), BAD_INPUTS)
def test_bad_input_is_refused_before_any_rpc(server: Milvus24TestServer, case: Case, named: str) -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        case(server.uri)
    assert isinstance(err.value, ValueError)
    assert isinstance(err.value, pi.MilvusImportError)
    assert named in str(err.value), str(err.value)
    assert server.requests == []
    assert server.import_count() == 0


def test_empty_uri_without_milvus_uri_env(monkeypatch: pytest.MonkeyPatch, server: Milvus24TestServer) -> None:
    monkeypatch.delenv("MILVUS_URI", raising=False)
    for uri in ("", "   "):
        option = pi.new_bulk_import_option(uri, "coll", GOOD_JSON)
        with pytest.raises(pi.InvalidInputError) as err:
            pi.bulk_import(option)
        assert "no Milvus URI" in str(err.value) and "MILVUS_URI" in str(err.value)
    assert server.requests == []


def test_errors_carry_the_offending_value_as_attribute() -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        pi.new_bulk_import_option("http://h", "coll", [["/a.json", "/a.json"]])
    assert err.value.value == "/a.json"
    assert err.value.field == "files"
    with pytest.raises(pi.InvalidInputError) as err:
        pi.new_bulk_import_option("http://h", "coll", GOOD_JSON).with_option("sep", "ab")
    assert (err.value.field, err.value.value) == ("sep", "ab")


def test_nan_timeout_is_bad_input(server: Milvus24TestServer) -> None:
    with pytest.raises(pi.InvalidInputError, match="nan"):
        via_client(server.uri, timeout=math.nan)
    assert server.requests == []


def test_infinite_timeout_means_no_deadline_or_is_refused(server: Milvus24TestServer) -> None:
    try:
        response = via_client(server.uri, timeout=math.inf)
    except pi.InvalidInputError:
        assert server.requests == []
    else:
        assert len(response.job_ids) == 1


SECRET = "tok-Qv7-DISTINCT-5521"


def test_bad_metadata_entry_never_echoes_a_secret(server: Milvus24TestServer) -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        via_client(server.uri, metadata=[["authorization", SECRET]])
    assert SECRET not in str(err.value)
    assert SECRET not in repr(err.value.value)


def test_bad_metadata_tuple_entry_masks_the_secret(server: Milvus24TestServer) -> None:
    with pytest.raises(pi.InvalidInputError) as err:
        via_client(server.uri, metadata=[("authorization", SECRET, "extra")])
    assert SECRET not in str(err.value)
    assert "***" in str(err.value)
    with pytest.raises(pi.InvalidInputError) as err:
        via_client(server.uri, metadata=[("Authorization", SECRET)])
    assert SECRET not in str(err.value)
    assert server.requests == []


# ------------------------------------------------------------------------------------------------ good paths
def test_with_methods_return_new_options_and_leave_the_original_unchanged() -> None:
    base = pi.new_bulk_import_option("http://h:19530", "coll", GOOD_JSON)
    snapshot = repr(base)
    derived = [
        base.with_partition("p1"),
        base.with_option("timeout", "300s"),
        base.with_database("db1"),
        base.with_api_key("key"),
        base.with_idempotency_key("idem"),
    ]
    assert all(d is not base for d in derived)
    assert repr(base) == snapshot
    assert (base.partition_name, base.options, base.db_name, base.api_key, base.idempotency_key) == (
        "",
        (),
        None,
        None,
        None,
    )
    assert derived[0].partition_name == "p1"
    assert derived[1].options == (("timeout", "300s"),)
    assert derived[2].db_name == "db1"
    assert derived[3].api_key == "key"
    assert derived[4].idempotency_key == "idem"
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.partition_name = "p2"  # type: ignore[misc]


def test_chaining_builds_the_whole_option() -> None:
    option = (
        pi.new_bulk_import_option("http://h:19530", "coll", [["/a.json"], NPY])
        .with_partition("p1")
        .with_database("db1")
        .with_option("timeout", "1.5h")
        .with_idempotency_key("nightly-2024-01-01")
    )
    assert option.collection_name == "coll"
    assert option.files == (("/a.json",), tuple(NPY))
    assert (option.partition_name, option.db_name) == ("p1", "db1")
    assert option.options == (("timeout", "1.5h"),)
    assert option.idempotency_key == "nightly-2024-01-01"


def test_files_accept_any_sequence_and_are_frozen() -> None:
    source = [["/a.json"], ["/b.parquet"]]
    option = pi.new_bulk_import_option("http://h", "coll", source)
    source[0].append("/c.json")
    assert option.files == (("/a.json",), ("/b.parquet",))
    assert pi.new_bulk_import_option("http://h", "coll", (("/a.json",),)).files == (("/a.json",),)
    assert pi.new_bulk_import_option("http://h", "coll", (g for g in [NPY])).files == (tuple(NPY),)


def test_with_option_replaces_a_repeated_key_in_place_keeping_order(server: Milvus24TestServer) -> None:
    option = (
        pi.new_bulk_import_option(server.uri, "coll", GOOD_JSON)
        .with_option("timeout", "300s")
        .with_option("x_custom", "a")
        .with_option("sep", ";")
        .with_option("timeout", "1h")
    )
    assert option.options == (("timeout", "1h"), ("x_custom", "a"), ("sep", ";"))
    with pi.ImportClient(server.uri) as client:
        client.bulk_import(option)
    (call,) = server.requests_for("Import")
    assert [(kv.key, kv.value) for kv in call.request.options] == [("timeout", "1h"), ("x_custom", "a"), ("sep", ";")]


def test_unknown_option_keys_are_forwarded_unchanged(server: Milvus24TestServer) -> None:
    option = (
        pi.new_bulk_import_option(server.uri, "coll", GOOD_JSON)
        .with_option("future_key", "  any value, even odd ones \u00e9 ")
        .with_option("bucket", "my-bucket")
        .with_option("nullkey", "")
        .with_option("ezk", "c2VjcmV0LWtleQ==")
    )
    pi.bulk_import(option, timeout=5)
    (call,) = server.requests_for("Import")
    assert [(kv.key, kv.value) for kv in call.request.options] == [
        ("future_key", "  any value, even odd ones \u00e9 "),
        ("bucket", "my-bucket"),
        ("nullkey", ""),
        ("ezk", "c2VjcmV0LWtleQ=="),
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeout", "300s"),
        ("timeout", "1.5h"),
        ("timeout", "2h45m"),
        ("timeout", "0"),
        ("timeout", "100ms"),
        ("timeout", ".5s"),
        ("backup", "false"),
        ("l0_import", "false"),
        ("auto_commit", "true"),
        ("sep", "\t"),
        ("sep", ";"),
        ("start_ts", "0"),
        ("end_ts", str(2**64 - 1)),
        ("storage_version", "2"),
    ],
)
def test_good_option_values_reach_the_server(server: Milvus24TestServer, key: str, value: str) -> None:
    via_client(server.uri, build=opt(key, value))
    (call,) = server.requests_for("Import")
    assert [(kv.key, kv.value) for kv in call.request.options] == [(key, value)]


def test_equal_timestamps_and_backup_with_two_prefixes_are_fine(server: Milvus24TestServer) -> None:
    response = via_client(
        server.uri,
        [["/backup/insert_log/", "/backup/delta_log/"]],
        build=lambda o: (
            o.with_partition("p1")
            .with_option("backup", "true")
            .with_option("start_ts", "5")
            .with_option("end_ts", "5")
            .with_option("skip_disk_quota_check", "true")
        ),
    )
    assert len(response.job_ids) == 1
    (call,) = server.requests_for("Import")
    assert list(call.request.files) == ["/backup/insert_log/", "/backup/delta_log/"]
    assert call.request.partition_name == "p1"


def test_idempotency_key_of_256_printable_characters_is_fine(server: Milvus24TestServer) -> None:
    key = "".join(chr(32 + i % 95) for i in range(256))
    via_client(server.uri, build=lambda o: o.with_idempotency_key(key))
    (call,) = server.requests_for("Import")
    assert call.request.idempotency_key == key


def test_repr_masks_api_key_and_uri_password() -> None:
    option = pi.new_bulk_import_option("http://root:Pw-Zx81-secret@h:19530/db", "coll", GOOD_JSON).with_api_key(
        "api-KEY-0042-secret"
    )
    for text in (repr(option), str(option), f"{option}"):
        assert "Pw-Zx81-secret" not in text
        assert "api-KEY-0042-secret" not in text
        assert "root:***@h:19530/db" in text
        assert "api_key=***" in text
    assert "api_key=None" in repr(pi.new_bulk_import_option("http://h", "coll", GOOD_JSON))


def test_options_compare_by_value() -> None:
    a = pi.new_bulk_import_option("http://h", "coll", [["/a.json"]]).with_partition("p1")
    b = pi.new_bulk_import_option("http://h", "coll", (("/a.json",),)).with_partition("p1")
    assert a == b
    assert hash(a) == hash(b)
    assert a != a.with_partition("p2")


def test_grpc_call_options_are_accepted(server: Milvus24TestServer) -> None:
    response = via_client(
        server.uri,
        timeout=5,
        metadata=[("x-trace", "1"), ("trace-bin", b"\x00\x01")],
        wait_for_ready=True,
        compression=grpc.Compression.Gzip,
    )
    assert len(response.job_ids) == 1
