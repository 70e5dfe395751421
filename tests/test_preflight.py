"""The preflight's verdicts, cache, flow and dry-run plan, with plain values (no network, no channel).

The flow tests play the server with ``helpers.MockTransport``: each Rpc the flow yields is answered with reply bytes
built from our generated messages, or a ``grpc.RpcError`` (mapped to the package's error as the transports map it).
"""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from helpers import FakeRpcError, MockTransport
from hypothesis import given
from hypothesis import strategies as st

import pymilvus_import as pi
from pymilvus_import import _wire
from pymilvus_import._calls import CallOptions, Identity
from pymilvus_import._errors import (
    CollectionNotFoundError,
    DatabaseNotFoundError,
    InvalidInputError,
    PartitionNotFoundError,
    PreflightError,
    SchemaMismatchError,
    UnsupportedByServerError,
)
from pymilvus_import._generated import common_pb2, milvus_pb2, schema_pb2
from pymilvus_import._import_flow import import_context
from pymilvus_import._plan import ImportPlan, build_plan, mask_options
from pymilvus_import._preflight import (
    SCHEMA_TTL,
    SchemaCache,
    check_collection_reply,
    check_numpy_group,
    check_partition_name,
    check_version,
    extra_npy_file_refused,
    preflight_flow,
)
from pymilvus_import._wire import CollectionSchema, FieldInfo

TARGET = "http://milvus.test:19530"


def option(files: list[list[str]], collection: str = "books", **kw: Any) -> pi.BulkImportOption:
    opt = pi.new_bulk_import_option(TARGET, collection, files)
    if kw.get("partition"):
        opt = opt.with_partition(kw["partition"])
    for key, value in kw.get("options", {}).items():
        opt = opt.with_option(key, value)
    if kw.get("db"):
        opt = opt.with_database(kw["db"])
    return opt


#: A server that fails a NumPy import on a .npy file for no field (2.3; 2.4+ ignores the file).
V2_3 = (2, 3, 5)
PLAIN = CollectionSchema("books", (FieldInfo("id", is_primary=True), FieldInfo("vec")))
AUTO_ID = CollectionSchema("books", (FieldInfo("pk", is_primary=True, auto_id=True), FieldInfo("vec")))
PARTITION_KEY = CollectionSchema(
    "books",
    (
        FieldInfo("id", is_primary=True),
        FieldInfo("tenant", is_partition_key=True),
        FieldInfo("vec"),
    ),
)
DYNAMIC = CollectionSchema("books", PLAIN.fields, enable_dynamic_field=True)


def npy(*stems: str) -> list[str]:
    return [f"/data/g/{s}.npy" for s in stems]


# --- DescribeCollection answers -----------------------------------------------------------------------------------


def describe_reply(
    code: int = 0, reason: str = "", error_code: int = 0, schema: CollectionSchema | None = PLAIN
) -> Any:
    return _wire.DescribeCollectionReply(code or error_code, reason, schema)


def test_unknown_collection_as_2_3_5_answers_it() -> None:
    reason = "can't find collection collection not found[database=default][collection=nope]"
    with pytest.raises(CollectionNotFoundError) as info:
        check_collection_reply(describe_reply(100, reason, 1), collection_name="nope", db_name="")
    assert not isinstance(info.value, DatabaseNotFoundError)
    assert "'nope'" in str(info.value) and "'default'" in str(info.value) and "no import was sent" in str(info.value)
    assert (info.value.collection_name, info.value.value, info.value.field) == ("nope", "nope", "collection_name")
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)


def test_unknown_database_as_2_4_answers_it() -> None:
    with pytest.raises(DatabaseNotFoundError) as info:
        check_collection_reply(
            describe_reply(800, "database not found[database=shop]"), collection_name="c", db_name="shop"
        )
    assert "database 'shop'" in str(info.value)
    assert isinstance(info.value, CollectionNotFoundError)
    assert info.value.db_name == "shop"


def test_legacy_error_code_collection_not_exists() -> None:
    with pytest.raises(CollectionNotFoundError):
        check_collection_reply(describe_reply(0, "collection not found", 4), collection_name="c", db_name="")


@pytest.mark.parametrize("code,reason", [(65535, "permission deny"), (3, "boom"), (2100, "import failed")])
def test_other_statuses_give_no_verdict(code: int, reason: str) -> None:
    assert check_collection_reply(describe_reply(code, reason), collection_name="c", db_name="") is None


@pytest.mark.parametrize(
    "name,reason",
    [
        (
            "my-books",
            "Invalid collection name: my-books. collection name can only contain numbers, letters and underscores",
        ),
        (
            "1abc",
            "Invalid collection name: 1abc. the first character of a collection name must be an underscore or letter",
        ),
        ("b" * 300, "Invalid collection name: bbb. the length of a collection name must be less than 255 characters"),
        (
            "bücher",
            "Invalid collection name: bücher. collection name can only contain numbers, letters and underscores",
        ),
    ],
)
def test_an_invalid_collection_name_answered_1100_is_refused_naming_it(name: str, reason: str) -> None:
    """issue 18 #2 (server half): DescribeCollection answers 1100 "Invalid collection name" on every Milvus line."""
    with pytest.raises(pi.InvalidCollectionNameError) as info:
        check_collection_reply(
            describe_reply(1100, reason + ": invalid parameter", 5), collection_name=name, db_name=""
        )
    assert isinstance(info.value, PreflightError) and isinstance(info.value, InvalidInputError)
    assert (info.value.value, info.value.field, info.value.collection_name) == (name, "collection_name", name)
    assert repr(name) in str(info.value) and "no import was sent" in str(info.value)


def test_ok_without_schema_gives_no_verdict() -> None:
    assert check_collection_reply(describe_reply(schema=None), collection_name="c", db_name="") is None


# --- partitions ---------------------------------------------------------------------------------------------------


def test_partition_name_on_partition_key_collection() -> None:
    with pytest.raises(SchemaMismatchError) as info:
        check_partition_name(PARTITION_KEY, "p1", db_name="")
    assert "'tenant'" in str(info.value) and "'p1'" in str(info.value)
    assert (info.value.field, info.value.field_name, info.value.value) == ("partition_name", "tenant", "p1")


def test_no_partition_name_on_partition_key_collection_passes() -> None:
    check_partition_name(PARTITION_KEY, "", db_name="")
    check_partition_name(PLAIN, "p1", db_name="")


# --- NumPy groups -------------------------------------------------------------------------------------------------


def test_complete_numpy_group_passes() -> None:
    check_numpy_group(PLAIN, 0, npy("id", "vec"), db_name="")
    check_numpy_group(AUTO_ID, 0, npy("vec"), db_name="")
    check_numpy_group(DYNAMIC, 0, npy("id", "vec", "$meta"), db_name="")
    check_numpy_group(DYNAMIC, 0, npy("id", "vec"), db_name="")


def test_missing_field() -> None:
    with pytest.raises(SchemaMismatchError) as info:
        check_numpy_group(PLAIN, 2, npy("id"), db_name="")
    assert "group 2" in str(info.value) and "'vec'" in str(info.value) and "vec.npy" in str(info.value)
    assert info.value.field_name == "vec" and info.value.file is None


def test_several_missing_fields_are_all_named() -> None:
    with pytest.raises(SchemaMismatchError) as info:
        check_numpy_group(PARTITION_KEY, 0, npy("id"), db_name="")
    assert "'tenant', 'vec'" in str(info.value)


def test_misspelt_file_gets_a_suggestion() -> None:
    files = npy("id", "vecs")
    with pytest.raises(SchemaMismatchError) as info:
        check_numpy_group(PLAIN, 0, files, db_name="", version=V2_3)
    assert repr(files[1]) in str(info.value) and "did you mean 'vec.npy'?" in str(info.value)
    assert (info.value.file, info.value.field_name, info.value.suggestion) == (files[1], "vecs", "vec")


def test_unrelated_extra_file_has_no_suggestion() -> None:
    with pytest.raises(SchemaMismatchError) as info:
        check_numpy_group(PLAIN, 0, npy("id", "vec", "zzzzzz"), db_name="", version=V2_3)
    assert info.value.suggestion is None and "did you mean" not in str(info.value)


@given(
    version=st.tuples(st.integers(0, 4), st.integers(0, 12), st.integers(0, 40)) | st.none(),
    extra=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(lambda n: n not in ("id", "vec")),
)
def test_a_npy_file_for_no_field_is_refused_only_where_the_server_fails_on_it(
    version: tuple[int, int, int] | None, extra: str
) -> None:
    """2.3 fails the job on a .npy file that names no field, 2.4+ ignores the file (the file rule npy-extra-file):
    the preflight refuses it only before 2.4, and never for an unknown version (the server may ignore it)."""
    files = npy("id", "vec", extra)
    refused = version is not None and version < (2, 4, 0)
    assert extra_npy_file_refused(version) == refused
    if refused:
        with pytest.raises(SchemaMismatchError, match="names no field") as info:
            check_numpy_group(PLAIN, 0, files, db_name="", version=version)
        assert (info.value.file, info.value.field_name) == (files[2], extra)
    else:
        check_numpy_group(PLAIN, 0, files, db_name="", version=version)


def test_where_a_misspelt_file_is_ignored_the_missing_field_names_it() -> None:
    files = npy("id", "vecs")
    with pytest.raises(SchemaMismatchError, match="no file for field 'vec'") as info:
        check_numpy_group(PLAIN, 0, files, db_name="", version=(2, 4, 5))
    assert f"{files[1]!r} names no field and is ignored by the server; did you mean 'vec.npy'?" in str(info.value)
    assert info.value.field_name == "vec"


def test_the_preflight_and_the_file_check_read_one_rule_for_an_extra_npy_file() -> None:
    from pymilvus_import._files.rules import RULES

    versions = RULES["npy-extra-file"].versions
    for version in [(2, 3, 5), (2, 3, 21), (2, 4, 0), (2, 5, 27), (2, 6, 0), (3, 0, 2), None]:
        assert extra_npy_file_refused(version) == versions.holds(version)


def test_auto_id_primary_key_supplied() -> None:
    files = npy("pk", "vec")
    with pytest.raises(SchemaMismatchError) as info:
        check_numpy_group(AUTO_ID, 0, files, db_name="")
    assert "auto-id primary key" in str(info.value) and info.value.file == files[0]


def test_meta_without_dynamic_field() -> None:
    with pytest.raises(SchemaMismatchError) as info:
        check_numpy_group(PLAIN, 0, npy("id", "vec", "$meta"), db_name="", version=V2_3)
    assert "'$meta'" in str(info.value) and "no dynamic field" in str(info.value)


@pytest.mark.parametrize("version", [(2, 4, 0), (2, 5, 27), (2, 6, 0), None])
def test_meta_without_dynamic_field_is_ignored_where_any_file_for_no_field_is(version: Any) -> None:
    check_numpy_group(PLAIN, 0, npy("id", "vec", "$meta"), db_name="", version=version)
    with pytest.raises(SchemaMismatchError, match=r"no file for field 'vec'.*the dynamic field\) is ignored"):
        check_numpy_group(PLAIN, 0, npy("id", "$meta"), db_name="", version=version)


def test_optional_fields_may_be_left_out() -> None:
    schema = CollectionSchema(
        "books",
        (
            *PLAIN.fields,
            FieldInfo("note", nullable=True),
            FieldInfo("year", has_default=True),
            FieldInfo("sparse", is_function_output=True),
        ),
    )
    check_numpy_group(schema, 0, npy("id", "vec"), db_name="")
    check_numpy_group(schema, 0, npy("id", "vec", "note", "year"), db_name="")


def test_row_based_groups_are_not_checked_against_fields() -> None:
    check_numpy_group(PLAIN, 0, ["/data/rows.json"], db_name="")


# --- versions -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,version,refused",
    [
        ("/d/a.csv", "v2.3.5-lite", True),
        ("/d/a.csv", "v2.4.15", True),
        ("/d/a.csv", "v2.5.0", False),
        ("/d/a.jsonl", "v2.5.9", True),
        ("/d/a.NDJSON", "2.5.4", True),
        ("/d/a.jsonl", "v2.6.0", False),
        ("/d/a.json", "v2.3.5-lite", False),
        ("/d/a.parquet", "v2.3.5-lite", False),
        ("/d/a.csv", "", False),  # unknown version: no verdict
        ("/d/a.csv", "master-dev", False),
    ],
)
def test_row_formats_by_version(path: str, version: str, refused: bool) -> None:
    opt = option([[path]])
    if refused:
        with pytest.raises(UnsupportedByServerError) as info:
            check_version(opt, version, db_name="")
        assert repr(path) in str(info.value) and version in str(info.value)
        assert info.value.server_version == version and info.value.value == path
    else:
        check_version(opt, version, db_name="")


@pytest.mark.parametrize(
    "value,version,refused",
    [("false", "v2.6.3", True), ("false", "v3.0.2", False), ("true", "v2.3.5-lite", False)],
)
def test_auto_commit_by_version(value: str, version: str, refused: bool) -> None:
    opt = option([["/d/a.json"]], options={"auto_commit": value})
    if refused:
        with pytest.raises(UnsupportedByServerError, match="auto_commit"):
            check_version(opt, version, db_name="")
    else:
        check_version(opt, version, db_name="")


# --- cache --------------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = SchemaCache(clock=clock)
    cache.put(TARGET, "", "books", PLAIN)
    assert cache.get(TARGET, "default", "books") is not None  # "" and "default" are the same database
    clock.now += SCHEMA_TTL - 0.01
    assert cache.get(TARGET, "", "books") is not None
    clock.now += 0.02
    assert cache.get(TARGET, "", "books") is None


def test_cache_keys_by_target_database_and_collection_and_invalidates() -> None:
    cache = SchemaCache()
    cache.put(TARGET, "", "books", PLAIN)
    cache.put(TARGET, "shop", "books", PLAIN)
    cache.put("other:19530", "", "books", PLAIN)
    assert cache.get(TARGET, "shop", "films") is None
    cache.invalidate(TARGET, "shop", "books")
    assert cache.get(TARGET, "shop", "books") is None and cache.get(TARGET, "", "books") is not None
    cache.invalidate()
    assert len(cache) == 0


# --- the flow, against a scripted server --------------------------------------------------------------------------


def schema_message(schema: CollectionSchema) -> Any:
    return schema_pb2.CollectionSchema(
        name=schema.collection_name,
        enable_dynamic_field=schema.enable_dynamic_field,
        fields=[
            schema_pb2.FieldSchema(
                name=f.name,
                data_type=schema_pb2.Int64,  # the preflight reads no data type
                is_primary_key=f.is_primary,
                autoID=f.auto_id,
                is_partition_key=f.is_partition_key,
            )
            for f in schema.fields
        ],
    )


def describe_bytes(schema: CollectionSchema | None = PLAIN, code: int = 0, reason: str = "") -> bytes:
    reply = milvus_pb2.DescribeCollectionResponse(status=common_pb2.Status(code=code, reason=reason))
    if schema is not None:
        reply.schema.CopyFrom(schema_message(schema))
    return reply.SerializeToString()


def has_bytes(value: bool, code: int = 0) -> bytes:
    return milvus_pb2.BoolResponse(status=common_pb2.Status(code=code), value=value).SerializeToString()


Answer = Any  # what MockTransport takes: reply bytes, an exception, or a function of the Rpc


def run(opt: pi.BulkImportOption, answers: dict[str, list[Answer]], **kw: Any) -> tuple[Any, list[Any]]:
    """``preflight_flow`` for ``opt`` with the import call's database and metadata, against a scripted server;
    its result and the RPCs it sent."""
    identity = kw.pop("identity", Identity(user="user", password="pw"))
    call = kw.pop("call", CallOptions(timeout=5.0, metadata=(("x-trace", "t1"),)))
    server = MockTransport(answers)
    session = server.make_session()
    db_name, metadata = import_context(identity, opt, call)
    deadline = session.deadline(call.timeout)
    flow = preflight_flow(session, opt, call, deadline, db_name=db_name, metadata=metadata, **kw)
    return server.run(flow), server.sent


def test_flow_describes_in_the_imports_database_with_its_metadata() -> None:
    opt = option([npy("id", "vec")], db="shop")
    schema, seen = run(opt, {"DescribeCollection": [describe_bytes()]})
    assert [f.name for f in schema.fields] == ["id", "vec"]
    assert [r.method for r in seen] == [_wire.DESCRIBE_COLLECTION]
    request = milvus_pb2.DescribeCollectionRequest.FromString(seen[0].request)
    assert (request.collection_name, request.db_name) == ("books", "shop")
    assert seen[0].metadata == (("x-trace", "t1"), ("authorization", "dXNlcjpwdw=="), ("dbname", "shop"))
    assert seen[0].timeout is not None and 0 < seen[0].timeout <= 5.0


def test_flow_unknown_collection() -> None:
    reason = "can't find collection collection not found[database=default][collection=books]"
    with pytest.raises(CollectionNotFoundError, match="'books'"):
        run(option([["/d/a.json"]]), {"DescribeCollection": [describe_bytes(PLAIN, 100, reason)]})


def test_flow_asks_has_partition_only_when_a_partition_is_named() -> None:
    _, seen = run(option([["/d/a.json"]]), {"DescribeCollection": [describe_bytes()]})
    assert len(seen) == 1
    opt = option([["/d/a.json"]], partition="p1")
    _, seen = run(opt, {"DescribeCollection": [describe_bytes()], "HasPartition": [has_bytes(True)]})
    assert [r.method for r in seen] == [_wire.DESCRIBE_COLLECTION, _wire.HAS_PARTITION]
    request = milvus_pb2.HasPartitionRequest.FromString(seen[1].request)
    assert (request.collection_name, request.partition_name) == ("books", "p1")


def test_flow_unknown_partition() -> None:
    opt = option([["/d/a.json"]], partition="zz")
    with pytest.raises(PartitionNotFoundError) as info:
        run(opt, {"DescribeCollection": [describe_bytes()], "HasPartition": [has_bytes(False)]})
    assert info.value.partition_name == "zz" and "'zz'" in str(info.value)


def test_flow_partition_key_collection_with_a_partition_asks_no_more() -> None:
    opt = option([["/d/a.json"]], partition="p1")
    with pytest.raises(SchemaMismatchError, match="partition key"):
        run(opt, {"DescribeCollection": [describe_bytes(PARTITION_KEY)]})


def test_flow_numpy_group_checked_against_the_servers_fields() -> None:
    groups = [["/d/g0/id.npy", "/d/g0/vec.npy"], ["/d/g1/id.npy"]]
    with pytest.raises(SchemaMismatchError, match="group 1 has no file for field 'vec'"):
        run(option(groups), {"DescribeCollection": [describe_bytes()]})


def test_flow_version_verdict_needs_no_rpc() -> None:
    with pytest.raises(UnsupportedByServerError):
        run(option([["/d/a.csv"]]), {}, version="v2.3.5-lite")


@pytest.mark.parametrize("code", [grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED])
def test_flow_without_permission_gives_no_verdict(code: grpc.StatusCode) -> None:
    schema, seen = run(option([npy("id")]), {"DescribeCollection": [FakeRpcError(code)]})
    assert schema is None and len(seen) == 1


def test_flow_permission_denied_on_has_partition_gives_no_verdict() -> None:
    opt = option([["/d/a.json"]], partition="p1")
    answers: dict[str, list[Answer]] = {
        "DescribeCollection": [describe_bytes()],
        "HasPartition": [FakeRpcError(grpc.StatusCode.PERMISSION_DENIED)],
    }
    schema, _ = run(opt, answers)
    assert schema is not None and schema.collection_name == "books"


def test_flow_authentication_failure_is_raised() -> None:
    with pytest.raises(pi.AuthenticationError):
        run(option([["/d/a.json"]]), {"DescribeCollection": [FakeRpcError(grpc.StatusCode.UNAUTHENTICATED)]})


def test_flow_retries_unavailable_like_other_read_only_calls() -> None:
    answers: dict[str, list[Answer]] = {
        "DescribeCollection": [FakeRpcError(grpc.StatusCode.UNAVAILABLE), describe_bytes()]
    }
    schema, seen = run(option([["/d/a.json"]]), answers)
    assert schema is not None and len(seen) == 2


def test_flow_cache_pays_describe_once() -> None:
    cache = SchemaCache()
    opt = option([npy("id", "vec")], partition="p1")
    answers: dict[str, list[Answer]] = {"DescribeCollection": [describe_bytes()], "HasPartition": [has_bytes(True)]}
    run(opt, answers, cache=cache)
    _, seen = run(opt, answers, cache=cache)
    assert seen == []


def test_flow_rechecks_a_refusal_from_the_cache() -> None:
    """The collection was recreated with an auto-id key within the TTL: the cached schema would refuse a group
    without 'id', the fresh one accepts it."""
    cache = SchemaCache()
    run(option([npy("id", "vec")]), {"DescribeCollection": [describe_bytes(PLAIN)]}, cache=cache)
    renamed = CollectionSchema("books", (FieldInfo("id", is_primary=True, auto_id=True), FieldInfo("vec")))
    schema, seen = run(option([npy("vec")]), {"DescribeCollection": [describe_bytes(renamed)]}, cache=cache)
    assert len(seen) == 1 and schema.fields[0].auto_id


def test_a_refusal_from_the_cache_confirmed_by_the_same_fresh_schema_reads_the_files_once() -> None:
    """The cached schema refuses the files; the server still has that schema: the verdict stands after one more
    DescribeCollection, and the file check (a full check reads every byte) is not run again."""
    cache = SchemaCache()
    run(option([npy("id", "vec")]), {"DescribeCollection": [describe_bytes(PLAIN)]}, cache=cache)
    checked: list[CollectionSchema] = []

    def files(schema: CollectionSchema) -> Any:
        checked.append(schema)
        raise SchemaMismatchError("vec.npy: dim 7, the field has 8", collection_name="books", db_name="")
        yield  # a flow

    with pytest.raises(SchemaMismatchError, match="dim 7") as caught:
        run(option([npy("id", "vec")]), {"DescribeCollection": [describe_bytes(PLAIN)]}, cache=cache, files=files)
    assert len(checked) == 1 and "dim 7" in str(caught.value)


def test_a_refusal_from_the_cache_is_checked_again_when_the_server_has_another_schema() -> None:
    cache = SchemaCache()
    run(option([npy("id", "vec")]), {"DescribeCollection": [describe_bytes(PLAIN)]}, cache=cache)
    renamed = CollectionSchema("books", (FieldInfo("id", is_primary=True, auto_id=True), FieldInfo("vec")))
    checked: list[CollectionSchema] = []

    def files(schema: CollectionSchema) -> Any:
        checked.append(schema)
        if schema.fields[0].auto_id is False:
            raise SchemaMismatchError("the cached schema refuses", collection_name="books", db_name="")
        yield from ()

    schema, seen = run(
        option([npy("vec")]), {"DescribeCollection": [describe_bytes(renamed)]}, cache=cache, files=files
    )
    assert len(seen) == 1 and schema.fields[0].auto_id and [s.fields[0].auto_id for s in checked] == [False, True]


def test_every_preflight_error_is_an_input_error() -> None:
    for cls in (
        CollectionNotFoundError,
        DatabaseNotFoundError,
        PartitionNotFoundError,
        SchemaMismatchError,
        UnsupportedByServerError,
    ):
        assert issubclass(cls, PreflightError) and issubclass(cls, InvalidInputError)


# --- dry-run plan -------------------------------------------------------------------------------------------------


def test_plan_lists_every_request_with_secrets_masked() -> None:
    opt = (
        pi.new_bulk_import_option("http://root:Milvus@db.test:19530", "books", [["/d/a.json"], npy("id", "vec")])
        .with_partition("p1")
        .with_option("timeout", "300s")
        .with_option("ezk", "c2VjcmV0a2V5")
        .with_api_key("sk-very-secret")
    )
    plan = build_plan(opt, Identity(db_name="shop"), ["k0", "k1"], target="http://root:Milvus@db.test:19530")
    assert isinstance(plan, ImportPlan)
    shown = plan.to_dict()
    text = json.dumps(shown) + repr(plan)
    assert "Milvus" not in text and "sk-very-secret" not in text and "c2VjcmV0a2V5" not in text
    assert shown["authorization"] == "***"
    assert [r["files"] for r in shown["requests"]] == [["/d/a.json"], npy("id", "vec")]
    assert [r["idempotency_key"] for r in shown["requests"]] == ["k0", "k1"]
    assert shown["requests"][0] == {
        "collection_name": "books",
        "partition_name": "p1",
        "db_name": "shop",
        "files": ["/d/a.json"],
        "options": {"timeout": "300s", "ezk": "***"},
        "idempotency_key": "k0",
    }
    with pytest.raises(AttributeError):
        plan.requests = ()  # type: ignore[misc]


def test_plan_needs_one_key_per_group() -> None:
    with pytest.raises(ValueError, match="2 idempotency keys for 1 file groups"):
        build_plan(option([["/d/a.json"]]), Identity(), ["a", "b"], target=TARGET)


def test_mask_options_masks_secret_looking_keys_only() -> None:
    assert mask_options([("sep", ","), ("my_token", "t"), ("db_password", "p"), ("ezk", "")]) == (
        ("sep", ","),
        ("my_token", "***"),
        ("db_password", "***"),
        ("ezk", ""),
    )
