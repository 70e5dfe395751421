"""Our trimmed ``milvus.proto.*`` definitions are wire-compatible with pymilvus's full ones (no server needed).

pymilvus's generated code is the reference: same full names, field numbers, types, labels and referenced types,
same enum numbers, same gRPC method paths, and real messages cross between the two in both directions.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from pymilvus.grpc_gen import common_pb2 as ref_common_pb2
from pymilvus.grpc_gen import milvus_pb2 as ref_milvus_pb2

from pymilvus_import._generated import _pool, common_pb2, milvus_pb2, schema_pb2
from tools import milvus_pb2_grpc

OUR_FILES = (common_pb2.DESCRIPTOR, schema_pb2.DESCRIPTOR, milvus_pb2.DESCRIPTOR)
REF_POOL = ref_milvus_pb2.DESCRIPTOR.pool

#: Fields we define that pymilvus's (older) proto does not have yet, by (message full name, field name).
#: idempotency_key = 9 exists only in milvus-proto for Milvus >= 2.6.24 / 3.0.2; pymilvus 2.5/3.0.2 predate it.
NEWER_THAN_PYMILVUS = {("milvus.proto.milvus.ImportRequest", "idempotency_key"): 9}


def _walk(descriptors: Iterator[Descriptor] | list[Descriptor]) -> Iterator[Descriptor]:
    for desc in descriptors:
        yield desc
        yield from _walk(list(desc.nested_types))


def our_messages() -> list[Descriptor]:
    return [d for f in OUR_FILES for d in _walk(list(f.message_types_by_name.values()))]


def our_enums() -> list[EnumDescriptor]:
    top = [e for f in OUR_FILES for e in f.enum_types_by_name.values()]
    nested = [e for d in our_messages() for e in d.enum_types]
    return top + nested


def _ref_message(full_name: str) -> Descriptor:
    return REF_POOL.FindMessageTypeByName(full_name)


def _is_map_entry(desc: Descriptor) -> bool:
    return bool(desc.GetOptions().map_entry)


# --- descriptor shape ----------------------------------------------------------------------------------------------


def test_we_define_what_the_wire_contract_needs() -> None:
    names = {d.full_name for d in our_messages()}
    assert {
        "milvus.proto.common.Status",
        "milvus.proto.common.Status.ExtraInfoEntry",
        "milvus.proto.common.KeyValuePair",
        "milvus.proto.milvus.ImportRequest",
        "milvus.proto.milvus.ImportResponse",
        "milvus.proto.milvus.GetImportStateRequest",
        "milvus.proto.milvus.GetImportStateResponse",
        "milvus.proto.milvus.ListImportTasksRequest",
        "milvus.proto.milvus.ListImportTasksResponse",
        "milvus.proto.milvus.GetVersionRequest",
        "milvus.proto.milvus.GetVersionResponse",
    } <= names


@pytest.mark.parametrize("ours", our_messages(), ids=lambda d: d.full_name)
def test_message_fields_match_pymilvus(ours: Descriptor) -> None:
    ref = _ref_message(ours.full_name)
    assert _is_map_entry(ours) == _is_map_entry(ref)
    for field in ours.fields:
        ref_field = ref.fields_by_name.get(field.name)
        if ref_field is None:
            # Only the explicitly listed newer fields may be missing, and their number must be free in pymilvus.
            assert NEWER_THAN_PYMILVUS.get((ours.full_name, field.name)) == field.number, (
                f"{ours.full_name}.{field.name} missing from pymilvus"
            )
            assert field.number not in ref.fields_by_number
            continue
        where = f"{ours.full_name}.{field.name}"
        assert field.number == ref_field.number, where
        assert field.type == ref_field.type, where
        assert field.is_repeated == ref_field.is_repeated, where
        assert field.has_presence == ref_field.has_presence, where
        if field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
            assert field.message_type.full_name == ref_field.message_type.full_name, where
        else:
            assert field.message_type is None and ref_field.message_type is None, where
        if field.type == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type.full_name == ref_field.enum_type.full_name, where


def test_newer_than_pymilvus_is_only_idempotency_key() -> None:
    """The one allowed difference, stated explicitly: pymilvus's ImportRequest has no field 9 (yet)."""
    missing = {
        (d.full_name, f.name): f.number
        for d in our_messages()
        for f in d.fields
        if f.name not in _ref_message(d.full_name).fields_by_name
    }
    assert set(missing) <= set(NEWER_THAN_PYMILVUS)
    key = milvus_pb2.ImportRequest.DESCRIPTOR.fields_by_name["idempotency_key"]
    assert (key.number, key.type, key.is_repeated) == (9, FieldDescriptor.TYPE_STRING, False)
    if missing:  # pymilvus without the field: it must not use number 9 for anything else
        assert 9 not in ref_milvus_pb2.ImportRequest.DESCRIPTOR.fields_by_number


@pytest.mark.parametrize("ours", our_enums(), ids=lambda e: e.full_name)
def test_enum_values_match_pymilvus(ours: EnumDescriptor) -> None:
    ref = REF_POOL.FindEnumTypeByName(ours.full_name)
    for value in ours.values:
        assert value.name in ref.values_by_name, f"{ours.full_name}.{value.name}"
        assert ref.values_by_name[value.name].number == value.number, f"{ours.full_name}.{value.name}"


def test_method_paths_match_pymilvus() -> None:
    ours = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
    ref = ref_milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
    assert ours.full_name == ref.full_name == "milvus.proto.milvus.MilvusService"
    expected = {
        "Import": "/milvus.proto.milvus.MilvusService/Import",
        "GetImportState": "/milvus.proto.milvus.MilvusService/GetImportState",
        "ListImportTasks": "/milvus.proto.milvus.MilvusService/ListImportTasks",
        "GetVersion": "/milvus.proto.milvus.MilvusService/GetVersion",
    }
    assert set(expected) <= set(ours.methods_by_name)
    for method in ours.methods:
        ref_method = ref.methods_by_name[method.name]
        assert f"/{ours.full_name}/{method.name}" == f"/{ref.full_name}/{ref_method.name}"
        assert method.input_type.full_name == ref_method.input_type.full_name
        assert method.output_type.full_name == ref_method.output_type.full_name
        assert not method.client_streaming and not method.server_streaming
    for name, path in expected.items():
        assert f"/{ours.full_name}/{ours.methods_by_name[name].name}" == path


def test_generated_stub_uses_the_same_paths() -> None:
    """The generated stub hard-codes its paths; they must equal the service descriptor's (and pymilvus's)."""
    seen: dict[str, str] = {}

    class RecordingChannel:
        def unary_unary(self, path: str, **_: object) -> str:
            seen[path.rsplit("/", 1)[1]] = path
            return path

    milvus_pb2_grpc.MilvusServiceStub(RecordingChannel())
    ref = ref_milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
    assert seen == {name: f"/{ref.full_name}/{name}" for name in seen}
    assert set(seen) == set(milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"].methods_by_name)


# --- real messages across the two definitions -----------------------------------------------------------------------

_SCALARS = {
    FieldDescriptor.TYPE_STRING: lambda f, i: f"{f.name}-{i}-ü",
    FieldDescriptor.TYPE_BYTES: lambda f, i: bytes([0, 255, i]) + f.name.encode(),
    FieldDescriptor.TYPE_BOOL: lambda f, i: True,
    FieldDescriptor.TYPE_INT64: lambda f, i: [2**62 + f.number, -(f.number + 1), 7][i % 3],
    FieldDescriptor.TYPE_INT32: lambda f, i: [2**30 + f.number, -(f.number + 1), 7][i % 3],
    FieldDescriptor.TYPE_UINT64: lambda f, i: 2**63 + f.number + i,
    FieldDescriptor.TYPE_UINT32: lambda f, i: 2**31 + f.number + i,
    FieldDescriptor.TYPE_DOUBLE: lambda f, i: 0.5 + f.number + i,
    FieldDescriptor.TYPE_FLOAT: lambda f, i: 0.25 + f.number + i,
}


def _scalar(field: FieldDescriptor, i: int) -> object:
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = [v.number for v in field.enum_type.values]
        return values[(len(values) - 1 - i) % len(values)] if len(values) > 1 else values[0]
    return _SCALARS[field.type](field, i)


def populate(msg: Message, depth: int = 0) -> Message:
    """Set every field of ``msg`` (two elements for repeated/map fields, nested messages filled too)."""
    for field in msg.DESCRIPTOR.fields:
        if field.message_type is not None and _is_map_entry(field.message_type):
            key_field, value_field = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            container = getattr(msg, field.name)
            for i in range(2):
                key = _scalar(key_field, i)
                if value_field.message_type is not None:
                    populate(container[key], depth + 1)
                else:
                    container[key] = _scalar(value_field, i)
        elif field.message_type is not None:
            if field.is_repeated:
                for _ in range(2):
                    populate(getattr(msg, field.name).add(), depth + 1)
            elif depth < 3:
                populate(getattr(msg, field.name), depth + 1)
        elif field.is_repeated:
            getattr(msg, field.name).extend(_scalar(field, i) for i in range(3))
        else:
            setattr(msg, field.name, _scalar(field, 0))
    return msg


def _as_dict(msg: Message) -> dict[str, object]:
    return json_format.MessageToDict(msg, preserving_proto_field_name=True, use_integers_for_enums=True)


def _restrict(value: object, desc: Descriptor) -> object:
    """A MessageToDict value cut down to the fields ``desc`` defines (recursively)."""
    if not isinstance(value, dict):
        return value
    if _is_map_entry(desc):
        return value
    out = {}
    for key, item in value.items():
        field = desc.fields_by_name.get(key)
        if field is None:
            continue
        if field.message_type is not None and not _is_map_entry(field.message_type):
            item = (
                [_restrict(x, field.message_type) for x in item]
                if field.is_repeated
                else _restrict(item, field.message_type)
            )
        out[key] = item
    return out


def _classes(full_name: str) -> tuple[type[Message], type[Message]]:
    ours = message_factory.GetMessageClass(_pool.POOL.FindMessageTypeByName(full_name))
    ref = message_factory.GetMessageClass(_ref_message(full_name))
    return ours, ref


TOP_LEVEL = [d.full_name for f in OUR_FILES for d in f.message_types_by_name.values()]


@pytest.mark.parametrize("full_name", TOP_LEVEL)
def test_round_trip_through_pymilvus(full_name: str) -> None:
    ours_cls, ref_cls = _classes(full_name)
    ours = populate(ours_cls())
    data = ours.SerializeToString(deterministic=True)
    ref = ref_cls.FromString(data)
    newer = {
        name for (msg, name) in NEWER_THAN_PYMILVUS if msg == full_name and name not in ref.DESCRIPTOR.fields_by_name
    }
    expected = {k: v for k, v in _as_dict(ours).items() if k not in newer}
    assert _as_dict(ref) == expected
    assert ref.SerializeToString(deterministic=True) == data  # unknown fields are kept and re-emitted
    back = ours_cls.FromString(ref.SerializeToString(deterministic=True))
    assert back == ours

    # And the other direction: pymilvus's message with every field it knows (possibly more than ours) parses into
    # ours with the same values for our fields, and passes through ours without loss.
    ref_full = populate(ref_cls())
    ref_bytes = ref_full.SerializeToString(deterministic=True)
    via_ours = ours_cls.FromString(ref_bytes)
    assert _as_dict(via_ours) == _restrict(_as_dict(ref_full), ours_cls.DESCRIPTOR)
    assert ref_cls.FromString(via_ours.SerializeToString()) == ref_full


def test_named_messages_are_fully_populated_and_cross() -> None:
    """The five messages the library sends or reads, populated by hand with realistic values."""
    status = common_pb2.Status(
        error_code=common_pb2.UnexpectedError,
        reason="boom",
        code=65535,
        retriable=True,
        detail="details",
        extra_info={"is_input_error": "true", "k": "v"},
    )
    kv = [common_pb2.KeyValuePair(key="files", value="/a.json"), common_pb2.KeyValuePair(key="progress_percent")]
    state = milvus_pb2.GetImportStateResponse(
        status=status,
        state=common_pb2.ImportCompleted,
        row_count=1000,
        id_list=[1, 2**62],
        infos=kv,
        id=470796577918418998,
        collection_id=470796577918418957,
        segment_ids=[470796577918419002, 3],
        create_ts=1795946426,
    )
    messages: list[Message] = [
        milvus_pb2.ImportRequest(
            collection_name="c",
            partition_name="p",
            channel_names=["ch1", "ch2"],
            row_based=True,
            files=["/data/a/id.npy", "/data/a/vec.npy"],
            options=[common_pb2.KeyValuePair(key="timeout", value="300s")],
            db_name="db",
            clustering_info=b"\x00\x01",
        ),
        milvus_pb2.ImportResponse(status=status, tasks=[1, 2, -3, 2**63 - 1]),
        state,
        milvus_pb2.ListImportTasksResponse(status=status, tasks=[state, milvus_pb2.GetImportStateResponse(id=2)]),
        milvus_pb2.GetVersionResponse(status=status, version="v2.3.5-lite"),
    ]
    for ours in messages:
        ref_cls = message_factory.GetMessageClass(_ref_message(ours.DESCRIPTOR.full_name))
        data = ours.SerializeToString(deterministic=True)
        ref = ref_cls.FromString(data)
        assert _as_dict(ref) == _as_dict(ours)
        assert ref.SerializeToString(deterministic=True) == data
        assert type(ours).FromString(ref.SerializeToString()) == ours
    assert messages[0].DESCRIPTOR.full_name == "milvus.proto.milvus.ImportRequest"


def test_idempotency_key_survives_pymilvus_as_unknown_field() -> None:
    ours = milvus_pb2.ImportRequest(collection_name="c", files=["/x.json"], idempotency_key="job-1")
    data = ours.SerializeToString()
    ref = ref_milvus_pb2.ImportRequest.FromString(data)
    assert (ref.collection_name, list(ref.files)) == ("c", ["/x.json"])
    if "idempotency_key" in ref.DESCRIPTOR.fields_by_name:  # a future pymilvus knows it
        assert ref.idempotency_key == "job-1"
    else:
        unknown = [(u.field_number, u.wire_type, u.data) for u in UnknownFieldSet(ref)]
        assert unknown == [(9, 2, b"job-1")]  # wire type 2: length-delimited
    assert ref.SerializeToString() == data
    assert milvus_pb2.ImportRequest.FromString(ref.SerializeToString()).idempotency_key == "job-1"


def test_status_enum_import_state_names_from_pymilvus() -> None:
    for value in common_pb2.ImportState.DESCRIPTOR.values:
        assert ref_common_pb2.ImportState.Value(value.name) == value.number


# --- descriptor pools -------------------------------------------------------------------------------------------


def test_our_descriptors_live_in_a_private_pool() -> None:
    default = descriptor_pool.Default()
    assert milvus_pb2.DESCRIPTOR.pool is _pool.POOL
    assert common_pb2.DESCRIPTOR.pool is _pool.POOL
    assert _pool.POOL is not default
    found = default.FindMessageTypeByName("milvus.proto.milvus.ImportRequest")  # pymilvus is imported here
    assert found is ref_milvus_pb2.ImportRequest.DESCRIPTOR
    assert found is not milvus_pb2.ImportRequest.DESCRIPTOR
    assert _pool.POOL.FindMessageTypeByName("milvus.proto.milvus.ImportRequest") is milvus_pb2.ImportRequest.DESCRIPTOR


def test_default_pool_has_no_milvus_symbols_without_pymilvus() -> None:
    code = textwrap.dedent(
        """
        import sys
        from google.protobuf import descriptor_pool
        import pymilvus_import
        from pymilvus_import._generated import common_pb2, milvus_pb2
        from tools import milvus_pb2_grpc
        milvus_pb2.ImportRequest(collection_name="c").SerializeToString()
        assert not [m for m in sys.modules if m == "pymilvus" or m.startswith("pymilvus.")], "pymilvus got imported"
        default = descriptor_pool.Default()
        for name in ("milvus.proto.milvus.ImportRequest", "milvus.proto.common.Status"):
            try:
                default.FindMessageTypeByName(name)
            except KeyError:
                pass
            else:
                raise SystemExit(name + " is in the default pool")
        for name in ("milvus.proto", "common.proto"):
            try:
                default.FindFileByName(name)
            except KeyError:
                pass
            else:
                raise SystemExit(name + " is in the default pool")
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "ok"


def test_wire_constants_match_the_descriptors() -> None:
    """_wire writes the method paths and ImportState names out (no descriptor needed at import time)."""
    from pymilvus_import import _wire
    from pymilvus_import._generated import common_pb2, milvus_pb2

    service = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
    paths = {f"/{service.full_name}/{m.name}" for m in service.methods}
    # ShowPartitions is still defined in protos/ (the test server answers it) but no longer sent by the library
    paths.discard(f"/{service.full_name}/ShowPartitions")
    assert {
        _wire.IMPORT,
        _wire.GET_IMPORT_STATE,
        _wire.LIST_IMPORT_TASKS,
        _wire.GET_VERSION,
        _wire.DESCRIBE_COLLECTION,
        _wire.HAS_PARTITION,
    } == paths
    names = {number: raw for number, (_state, raw) in _wire.IMPORT_STATES.items()}
    assert names == {v.number: v.name for v in common_pb2.ImportState.DESCRIPTOR.values}
