"""Fuzzing with hypothesis: for arbitrary input, the option builder/validator, the URI parser and the reply parsers
raise nothing but ``pymilvus_import`` errors (``MilvusImportError`` subclasses).

Explicit examples pin the inputs that once broke these properties (an infinite progress, non-iterable job ids).
"""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pymilvus_import as pi
from pymilvus_import import _wire
from pymilvus_import._calls import CallOptions
from pymilvus_import._generated import common_pb2, milvus_pb2
from pymilvus_import._tracking import job_ids_of
from pymilvus_import._uri import parse_uri

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)

# Arbitrary Python values, nested a little: what a confused caller may pass anywhere.
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=10)
ANY = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


def _call(fn: Any, *args: Any) -> Any:
    """Run ``fn``; a pymilvus_import error is an accepted outcome, anything else fails the property."""
    try:
        return fn(*args)
    except pi.MilvusImportError as error:
        assert str(error)  # a message the user can read
        return None


# ----------------------------------------------------------------------------------------------- option builder
EXTENSIONS = [".json", ".jsonl", ".ndjson", ".parquet", ".csv", ".npy", ".NPY", ".txt", "", ".json.gz"]
PATHS = st.builds(
    lambda d, name, ext: f"{d}{name}{ext}",
    st.sampled_from(["", "/data/", "s3://b/", "dir/", " /x/", "a/b/"]),
    st.text(string.ascii_letters + string.digits + "_- ./", max_size=8),
    st.sampled_from(EXTENSIONS),
)
FILES = st.lists(st.lists(PATHS, min_size=0, max_size=3), min_size=0, max_size=3) | st.lists(PATHS, max_size=3) | ANY
URIS = st.sampled_from(["", "http://localhost:19530", "https://h", "unix:/s.sock", "h:1", "ftp://x"]) | st.text(
    max_size=30
)
OPTION_KEYS = st.sampled_from(
    [
        *("timeout", "backup", "l0_import", "skip_disk_quota_check", "sep", "nullkey", "start_ts", "end_ts"),
        *("startTs", "endTs", "storage_version", "auto_commit", "ezk", "bucket", ""),
    ]
)
OPTION_VALUES = st.sampled_from(
    ["true", "false", "TRUE", "300s", "1.5h", "2h45m", "0", ",", "\t", "\0", '"', "", "-1", "12", str(2**64), "x"]
) | st.text(max_size=6)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("partition"), st.text(max_size=6) | ANY),
        st.tuples(st.just("option"), OPTION_KEYS | ANY, OPTION_VALUES | ANY),
        st.tuples(st.just("database"), st.text(max_size=6) | ANY),
        st.tuples(st.just("api_key"), st.text(max_size=6) | ANY),
        st.tuples(st.just("idempotency_key"), st.text(max_size=300) | ANY),
    ),
    max_size=6,
)


def _apply(option: pi.BulkImportOption, op: tuple[Any, ...]) -> pi.BulkImportOption:
    name, *args = op
    before = repr(option)
    updated = getattr(option, f"with_{name}")(*args)
    assert repr(option) == before, "with_* must not change the original option"
    assert isinstance(updated, pi.BulkImportOption)
    return updated  # type: ignore[no-any-return]


@FUZZ
@given(uri=URIS | ANY, collection=st.text(max_size=8) | ANY, files=FILES, ops=OPS)
@example(uri="", collection="c", files=[["/a.json"]], ops=[("option", "backup", "true")])
@example(uri="", collection="c", files=[["/a.json"]], ops=[("option", "start_ts", "9"), ("option", "end_ts", "1")])
@example(uri="", collection="c", files=[["/a.json"], ["/b.json"]], ops=[("idempotency_key", "k" * 255)])
@example(uri="", collection="c", files=[["/a.npy", "/b/a.npy"]], ops=[])
@example(uri="", collection="c", files=[["/a.json"]], ops=[("option", "skip_disk_quota_check", "true")])
def test_option_builder_and_validator_raise_only_documented_errors(
    uri: Any, collection: Any, files: Any, ops: list[tuple[Any, ...]]
) -> None:
    try:
        option = pi.new_bulk_import_option(uri, collection, files)
        for op in ops:
            option = _apply(option, op)
        option.validate()
        keys = option.idempotency_keys(f"fresh-{i}" for i in range(1000))
    except pi.MilvusImportError as error:
        assert isinstance(error, pi.InvalidInputError), "bad input is reported as InvalidInputError"
        assert isinstance(error, ValueError)
        assert str(error)
        return
    # What was accepted is usable: one key per group, each sent as printable ASCII within the server's limit.
    assert len(keys) == len(option.files) >= 1
    assert all(k and len(k) <= 256 and k.isascii() and k.isprintable() for k in keys)
    assert len(set(keys)) == len(keys)


@FEW
@given(timeout=ANY, metadata=ANY | st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8) | st.binary())))
def test_call_options_raise_only_documented_errors(timeout: Any, metadata: Any) -> None:
    _call(CallOptions, timeout, metadata)


@FEW
@given(jobs=st.integers() | st.text(max_size=25) | st.lists(st.integers() | st.text(max_size=25) | ANY, max_size=4))
def test_job_ids_raise_only_documented_errors(jobs: Any) -> None:
    ids = _call(job_ids_of, jobs)
    if ids is not None:
        assert all(0 < int(i) < 2**63 for i in ids)


# regression (found by this suite): job_ids_of (now in _tracking) called list(jobs) on anything that is not a
# str/int/BulkImportResponse: None or a float escape as TypeError, and bytes are read as a list of small ints (b'45'
# -> jobs 52, 53)
@pytest.mark.parametrize("jobs", [None, 3.5, b"450000000000000001"], ids=["None", "float", "bytes"])
def test_wait_for_import_rejects_what_is_not_job_ids(jobs: Any) -> None:
    with pi.ImportClient("http://127.0.0.1:9") as client, pytest.raises(pi.InvalidInputError):
        client.wait_for_import(jobs, timeout=1)


# ----------------------------------------------------------------------------------------------- URI parser
URI_PARTS = st.builds(
    lambda scheme, userinfo, host, port, path: f"{scheme}{userinfo}{host}{port}{path}",
    st.sampled_from(["", "http://", "https://", "tcp://", "grpc://", "grpcs://", "unix:", "HTTP://", "x://", "//"]),
    st.sampled_from(["", "root:Milvus@", "u:p%40ss@", "u:@", ":p@", "u@", "a:b:c@"])
    | st.text(max_size=8).map(lambda t: t + "@"),
    st.sampled_from(["localhost", "127.0.0.1", "[::1]", "::1", "[fe80::1%eth0]", "", "h h", "[::1", "é.com"])
    | st.text(max_size=10),
    st.sampled_from(["", ":19530", ":0", ":65535", ":65536", ":-1", ":x", ":"])
    | st.integers(-5, 70_000).map(lambda p: f":{p}"),
    st.sampled_from(["", "/", "/db", "/db/x", "?a=1", "#f", "/%zz", "/my%20db"]) | st.text(max_size=6),
)


@FUZZ
@given(uri=URI_PARTS | st.text(max_size=60) | ANY)
@example(uri="http://[::1")
@example(uri="http://h:99999999999999999999")
@example(uri="\x00")
@example(uri="http://\u210c:1")  # NFKC-normalises to "H"
def test_parse_uri_raises_only_documented_errors(uri: Any) -> None:
    target = _call(parse_uri, uri)
    if target is None:
        return
    assert target.address
    assert isinstance(target.secure, bool)
    assert target.password is None or "password=***" in repr(target) or not target.password


# ----------------------------------------------------------------------------------------------- reply parsers
INFO_KEYS = st.sampled_from(["progress_percent", "failed_reason", "collection", "files", "partition", "x", ""])
INFO_VALUES = (
    st.text(max_size=12)
    | st.integers().map(str)
    | st.floats().map(str)
    | st.sampled_from(["", "50", "100", "-3", "250", "80.5", "nan", "inf", "-Infinity", "1e400", "1e3", " 7 ", "٣"])
)


@st.composite
def status_messages(draw: st.DrawFn) -> common_pb2.Status:
    return common_pb2.Status(
        error_code=draw(st.integers(0, 70_000)),
        reason=draw(st.text(max_size=20)),
        code=draw(INT32),
        retriable=draw(st.booleans()),
        detail=draw(st.text(max_size=5)),
        extra_info=draw(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2)),
    )


@st.composite
def state_messages(draw: st.DrawFn) -> milvus_pb2.GetImportStateResponse:
    message = milvus_pb2.GetImportStateResponse(
        state=draw(st.integers(-3, 10) | INT32),
        row_count=draw(INT64),
        id_list=draw(st.lists(INT64, max_size=3)),
        infos=[common_pb2.KeyValuePair(key=k, value=v) for k, v in draw(st.lists(st.tuples(INFO_KEYS, INFO_VALUES)))],
        id=draw(INT64),
        collection_id=draw(INT64),
        segment_ids=draw(st.lists(INT64, max_size=3)),
        create_ts=draw(INT64 | st.sampled_from([0, 1, 10**11, 2**40, 449_000_000_000_000_000])),
    )
    if draw(st.booleans()):
        message.status.CopyFrom(draw(status_messages()))
    return message


@st.composite
def import_messages(draw: st.DrawFn) -> milvus_pb2.ImportResponse:
    message = milvus_pb2.ImportResponse(tasks=draw(st.lists(INT64, max_size=4)))
    if draw(st.booleans()):
        message.status.CopyFrom(draw(status_messages()))
    return message


@st.composite
def list_messages(draw: st.DrawFn) -> milvus_pb2.ListImportTasksResponse:
    message = milvus_pb2.ListImportTasksResponse(tasks=draw(st.lists(state_messages(), max_size=3)))
    if draw(st.booleans()):
        message.status.CopyFrom(draw(status_messages()))
    return message


@st.composite
def mutated(draw: st.DrawFn, messages: st.SearchStrategy[Any]) -> bytes:
    """A serialized message, often damaged: truncated, bytes flipped, garbage appended; or just random bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=120))
    data = bytearray(draw(messages).SerializeToString())
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["truncate", "flip", "append", "keep"]))
        if action == "truncate" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif action == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif action == "append":
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def _check_progress(progress: Any, job_id: str) -> None:
    if progress is not None:
        assert 0 <= progress.progress <= 100
        assert progress.state in ("Pending", "Importing", "Completed", "Failed")
        assert progress.job_id == job_id
        hash(progress)  # a result value stays hashable whatever the server sent


@FUZZ
@given(data=mutated(import_messages()))
@example(data=b"")
@example(data=b"\xff\xff\xff\xff")
@example(data=b"\x12\x01\x00")  # tasks: 0
def test_import_reply_parser(data: bytes) -> None:
    ids = _call(_wire.decode_import_response, data, "t")
    if ids is not None:
        assert len(ids) >= 1


@FUZZ
@given(data=mutated(state_messages()))
@example(data=b"")
@example(data=b"\x10\x63")  # state 99
def test_state_reply_parser(data: bytes) -> None:
    _check_progress(_call(_wire.decode_get_import_state_response, data, "t", "42"), "42")


@FUZZ
@given(data=mutated(list_messages()))
def test_list_reply_parser(data: bytes) -> None:
    records = _call(_wire.decode_list_import_tasks_response, data, "t")
    for record in records or ():
        assert 0 <= record.progress <= 100


@FEW
@given(data=st.binary(max_size=80))
def test_version_reply_parser(data: bytes) -> None:
    _call(_wire.decode_get_version_response, data, "t")


STATUS_VALUES = st.builds(
    common_pb2.Status,
    code=INT32,
    error_code=st.integers(0, 70_000),
    reason=st.text(max_size=10),
    retriable=st.booleans(),
)
STATE_VALUES = st.builds(
    milvus_pb2.GetImportStateResponse,
    status=STATUS_VALUES | st.none(),
    state=INT32,
    row_count=INT64,
    id_list=st.lists(INT64, max_size=1),
    infos=st.lists(st.builds(common_pb2.KeyValuePair, key=INFO_KEYS, value=INFO_VALUES), max_size=4),
    id=INT64,
    collection_id=INT64,
    create_ts=INT64,
)


@FUZZ
@given(reply=STATE_VALUES, job_id=st.text(max_size=5))
@example(reply=milvus_pb2.GetImportStateResponse(status=common_pb2.Status(), state=6, create_ts=2**63 - 1), job_id="1")
@example(reply=milvus_pb2.GetImportStateResponse(status=common_pb2.Status(), state=6, create_ts=-(2**63)), job_id="1")
def test_progress_and_record_from_arbitrary_values(reply: Any, job_id: str) -> None:
    data = reply.SerializeToString()
    _check_progress(_call(_wire.decode_get_import_state_response, data, "t", job_id), job_id)
    listing = milvus_pb2.ListImportTasksResponse(status=common_pb2.Status(), tasks=[reply]).SerializeToString()
    for record in _call(_wire.decode_list_import_tasks_response, listing, "t") or ():
        assert 0 <= record.progress <= 100


@FUZZ
@given(status=STATUS_VALUES | st.none(), tasks=st.lists(INT64, max_size=4))
def test_job_ids_from_arbitrary_values(status: Any, tasks: list[int]) -> None:
    reply = milvus_pb2.ImportResponse(status=status, tasks=tasks).SerializeToString()
    ids = _call(_wire.decode_import_response, reply, "t")
    assert ids is None or (ids and all(int(i) > 0 for i in ids))


# regression (found by this suite): _wire._progress_value did int(float(text)) and caught only ValueError; an
# infinite progress_percent ('inf', '1e400') escapes as OverflowError
@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "1e400"])
def test_infinite_progress_is_a_malformed_reply(text: str) -> None:
    reply = milvus_pb2.GetImportStateResponse(
        status=common_pb2.Status(),
        state=common_pb2.ImportStarted,
        infos=[common_pb2.KeyValuePair(key="progress_percent", value=text)],
    )
    with pytest.raises(pi.MalformedReplyError):
        _wire.decode_get_import_state_response(reply.SerializeToString(), "t", "1")
    listing = milvus_pb2.ListImportTasksResponse(status=common_pb2.Status(), tasks=[reply])
    with pytest.raises(pi.MalformedReplyError):
        _wire.decode_list_import_tasks_response(listing.SerializeToString(), "t")
