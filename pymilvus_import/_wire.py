"""The wall around the generated code: the only module that imports ``pymilvus_import._generated``.

Everything else in the package sees plain values: requests go out as bytes, replies come back as the frozen
dataclasses below. The transport therefore sends and receives raw bytes (no serializers on the channel), and the
same functions serve the sync and the asyncio clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from ._errors import MalformedReplyError


class _Generated:
    """The generated modules, imported on first use: ``import pymilvus_import`` stays cheap, and the first
    request pays for the descriptors once. After that the modules are plain attributes (no lookup cost)."""

    common: Any
    milvus: Any

    def __getattr__(self, name: str) -> Any:
        try:
            from ._generated import common_pb2, milvus_pb2
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}._generated" or not _load_source_tree_generated():
                raise
            from ._generated import common_pb2, milvus_pb2

        self.common, self.milvus = common_pb2, milvus_pb2
        return object.__getattribute__(self, name)


def _load_source_tree_generated() -> bool:
    """Run from a source checkout (``python -m pymilvus_import`` in the repository root), this package shadows the
    installed one, and ``generated/`` is only mapped to ``pymilvus_import._generated`` at install time. Load the
    top-level ``generated/`` beside the package under that name instead. False when there is no such directory."""
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "generated"
    init = folder / "__init__.py"
    if not (init.is_file() and (folder / "_pool.py").is_file()):
        return False
    name = f"{__package__}._generated"
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return True


_pb = _Generated()

# The gRPC method paths and the ImportState names, written out so no descriptor is needed at import time;
# tests/test_wire_compat.py checks them against the generated descriptors (and pymilvus's).
_SERVICE = "/milvus.proto.milvus.MilvusService/"
IMPORT = _SERVICE + "Import"
GET_IMPORT_STATE = _SERVICE + "GetImportState"
LIST_IMPORT_TASKS = _SERVICE + "ListImportTasks"
GET_VERSION = _SERVICE + "GetVersion"

#: ImportState enum: number -> name.
IMPORT_STATE_NAMES: Mapping[int, str] = {
    0: "ImportPending",
    1: "ImportFailed",
    2: "ImportStarted",
    5: "ImportPersisted",
    6: "ImportCompleted",
    7: "ImportFailedAndCleaned",
    8: "ImportFlushed",
}


# The reply records are plain __slots__ classes, not dataclasses: a dataclass costs ~0.4 ms to create at import time,
# and these are internal values read attribute by attribute.


class StatusReply:
    """``common.Status`` as plain values (``present`` is False when the reply carried no status at all)."""

    __slots__ = ("code", "detail", "error_code", "extra_info", "present", "reason", "retriable")

    def __init__(
        self,
        code: int = 0,
        error_code: int = 0,
        reason: str = "",
        retriable: bool = False,
        detail: str = "",
        extra_info: Mapping[str, str] | None = None,
        present: bool = True,
    ) -> None:
        self.code = code
        self.error_code = error_code
        self.reason = reason
        self.retriable = retriable
        self.detail = detail
        self.extra_info: Mapping[str, str] = extra_info if extra_info is not None else {}
        self.present = present

    def __repr__(self) -> str:
        return f"StatusReply(code={self.code}, error_code={self.error_code}, reason={self.reason!r})"


class ImportReply:
    __slots__ = ("status", "tasks")

    def __init__(self, status: StatusReply, tasks: tuple[int, ...]) -> None:
        self.status = status
        self.tasks = tasks


class ImportStateReply:
    __slots__ = ("collection_id", "create_ts", "id", "id_list", "infos", "row_count", "segment_ids", "state", "status")

    def __init__(
        self,
        status: StatusReply,
        state: int,
        row_count: int,
        id_list: tuple[int, ...],
        infos: tuple[tuple[str, str], ...],
        id: int,
        collection_id: int,
        segment_ids: tuple[int, ...],
        create_ts: int,
    ) -> None:
        self.status = status
        self.state = state
        self.row_count = row_count
        self.id_list = id_list
        self.infos = infos
        self.id = id
        self.collection_id = collection_id
        self.segment_ids = segment_ids
        self.create_ts = create_ts


class ListImportTasksReply:
    __slots__ = ("status", "tasks")

    def __init__(self, status: StatusReply, tasks: tuple[ImportStateReply, ...]) -> None:
        self.status = status
        self.tasks = tasks


class VersionReply:
    __slots__ = ("status", "version")

    def __init__(self, status: StatusReply, version: str) -> None:
        self.status = status
        self.version = version


def encode_import_request(
    *,
    collection_name: str,
    partition_name: str,
    files: Sequence[str],
    options: Sequence[tuple[str, str]],
    db_name: str,
    idempotency_key: str,
) -> bytes:
    request = _pb.milvus.ImportRequest(
        collection_name=collection_name,
        partition_name=partition_name,
        files=files,
        options=[_pb.common.KeyValuePair(key=k, value=v) for k, v in options],
        db_name=db_name,
        idempotency_key=idempotency_key,
    )
    return bytes(request.SerializeToString())


def encode_get_import_state_request(job_id: int) -> bytes:
    return bytes(_pb.milvus.GetImportStateRequest(task=job_id).SerializeToString())


def encode_list_import_tasks_request(*, collection_name: str, limit: int, db_name: str) -> bytes:
    request = _pb.milvus.ListImportTasksRequest(collection_name=collection_name, limit=limit, db_name=db_name)
    return bytes(request.SerializeToString())


def encode_get_version_request() -> bytes:
    return bytes(_pb.milvus.GetVersionRequest().SerializeToString())


def _parse(message_class: type, data: bytes, what: str):  # type: ignore[no-untyped-def]
    message = message_class()
    try:
        message.ParseFromString(data)
    except (DecodeError, TypeError) as exc:
        raise MalformedReplyError(f"the server's {what} reply could not be decoded ({len(data)} bytes): {exc}") from exc
    return message


def _status(message) -> StatusReply:  # type: ignore[no-untyped-def]
    if not message.HasField("status"):
        return _MISSING
    s = message.status
    if not (s.code or s.error_code or s.reason or s.retriable or s.detail or s.extra_info):
        return _OK
    return StatusReply(
        code=s.code,
        error_code=int(s.error_code),
        reason=s.reason,
        retriable=s.retriable,
        detail=s.detail,
        extra_info=dict(s.extra_info),
    )


_OK = StatusReply()
_MISSING = StatusReply(present=False)


def _state(message) -> ImportStateReply:  # type: ignore[no-untyped-def]
    return ImportStateReply(
        status=_status(message),
        state=int(message.state),
        row_count=message.row_count,
        id_list=tuple(message.id_list),
        infos=tuple((kv.key, kv.value) for kv in message.infos),
        id=message.id,
        collection_id=message.collection_id,
        segment_ids=tuple(message.segment_ids),
        create_ts=message.create_ts,
    )


def decode_import_response(data: bytes) -> ImportReply:
    message = _parse(_pb.milvus.ImportResponse, data, "Import")
    return ImportReply(status=_status(message), tasks=tuple(message.tasks))


def decode_get_import_state_response(data: bytes) -> ImportStateReply:
    return _state(_parse(_pb.milvus.GetImportStateResponse, data, "GetImportState"))


def decode_list_import_tasks_response(data: bytes) -> ListImportTasksReply:
    message = _parse(_pb.milvus.ListImportTasksResponse, data, "ListImportTasks")
    return ListImportTasksReply(status=_status(message), tasks=tuple(_state(t) for t in message.tasks))


def decode_get_version_response(data: bytes) -> VersionReply:
    message = _parse(_pb.milvus.GetVersionResponse, data, "GetVersion")
    return VersionReply(status=_status(message), version=message.version)


# --- preflight: schema and partitions ---
# What the preflight asks before an Import (DescribeCollection, ShowPartitions, HasPartition), decoded into plain
# values. tests/test_wire_compat.py checks the paths and the DataType names against the descriptors and pymilvus's.

DESCRIBE_COLLECTION = _SERVICE + "DescribeCollection"
SHOW_PARTITIONS = _SERVICE + "ShowPartitions"
HAS_PARTITION = _SERVICE + "HasPartition"

#: schema.DataType enum: number -> name (a number not listed decodes as "DataType(<number>)").
DATA_TYPE_NAMES: Mapping[int, str] = {
    0: "None",
    1: "Bool",
    2: "Int8",
    3: "Int16",
    4: "Int32",
    5: "Int64",
    10: "Float",
    11: "Double",
    20: "String",
    21: "VarChar",
    22: "Array",
    23: "JSON",
    24: "Geometry",
    25: "Text",
    26: "Timestamptz",
    100: "BinaryVector",
    101: "FloatVector",
    102: "Float16Vector",
    103: "BFloat16Vector",
    104: "SparseFloatVector",
    105: "Int8Vector",
}


class FieldInfo:
    """One field of a collection's schema, as the preflight reads it."""

    __slots__ = (
        "auto_id",
        "data_type",
        "has_default",
        "is_dynamic",
        "is_function_output",
        "is_partition_key",
        "is_primary",
        "name",
        "nullable",
    )

    def __init__(
        self,
        name: str,
        data_type: str,
        *,
        is_primary: bool = False,
        auto_id: bool = False,
        is_partition_key: bool = False,
        is_dynamic: bool = False,
        nullable: bool = False,
        has_default: bool = False,
        is_function_output: bool = False,
    ) -> None:
        self.name = name
        self.data_type = data_type
        self.is_primary = is_primary
        self.auto_id = auto_id
        self.is_partition_key = is_partition_key
        self.is_dynamic = is_dynamic
        self.nullable = nullable
        self.has_default = has_default
        self.is_function_output = is_function_output

    def __repr__(self) -> str:
        flags = [
            flag
            for flag, on in (
                ("primary", self.is_primary),
                ("auto_id", self.auto_id),
                ("partition_key", self.is_partition_key),
                ("dynamic", self.is_dynamic),
                ("nullable", self.nullable),
                ("default", self.has_default),
                ("function_output", self.is_function_output),
            )
            if on
        ]
        return f"FieldInfo({self.name!r}, {self.data_type}{''.join(', ' + f for f in flags)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldInfo):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


class CollectionSchema:
    """A collection's schema as the preflight reads it: its fields (in server order, the hidden ``$meta`` field
    included when the server lists it), whether it has a dynamic field, and any struct-array field names (3.x)."""

    __slots__ = ("collection_name", "enable_dynamic_field", "fields", "struct_array_fields")

    def __init__(
        self,
        collection_name: str,
        fields: tuple[FieldInfo, ...],
        enable_dynamic_field: bool = False,
        struct_array_fields: tuple[str, ...] = (),
    ) -> None:
        self.collection_name = collection_name
        self.fields = fields
        self.enable_dynamic_field = enable_dynamic_field
        self.struct_array_fields = struct_array_fields

    def __repr__(self) -> str:
        return (
            f"CollectionSchema({self.collection_name!r}, fields={list(self.fields)!r}, "
            f"enable_dynamic_field={self.enable_dynamic_field})"
        )

    @property
    def partition_key(self) -> str | None:
        """The name of the partition-key field, or None."""
        return next((f.name for f in self.fields if f.is_partition_key), None)


class DescribeCollectionReply:
    __slots__ = ("collection_id", "schema", "status")

    def __init__(self, status: StatusReply, schema: CollectionSchema | None, collection_id: int) -> None:
        self.status = status
        self.schema = schema  # None when the reply carries no schema (an error reply)
        self.collection_id = collection_id


class PartitionsReply:
    __slots__ = ("partition_names", "status")

    def __init__(self, status: StatusReply, partition_names: tuple[str, ...]) -> None:
        self.status = status
        self.partition_names = partition_names


class BoolReply:
    __slots__ = ("status", "value")

    def __init__(self, status: StatusReply, value: bool) -> None:
        self.status = status
        self.value = value


def encode_describe_collection_request(*, collection_name: str, db_name: str) -> bytes:
    request = _pb.milvus.DescribeCollectionRequest(collection_name=collection_name, db_name=db_name)
    return bytes(request.SerializeToString())


def encode_show_partitions_request(*, collection_name: str, db_name: str, partition_names: Sequence[str] = ()) -> bytes:
    request = _pb.milvus.ShowPartitionsRequest(
        collection_name=collection_name, db_name=db_name, partition_names=partition_names
    )
    return bytes(request.SerializeToString())


def encode_has_partition_request(*, collection_name: str, partition_name: str, db_name: str) -> bytes:
    request = _pb.milvus.HasPartitionRequest(
        collection_name=collection_name, partition_name=partition_name, db_name=db_name
    )
    return bytes(request.SerializeToString())


def _field_info(field) -> FieldInfo:  # type: ignore[no-untyped-def]
    number = int(field.data_type)
    return FieldInfo(
        field.name,
        DATA_TYPE_NAMES.get(number, f"DataType({number})"),
        is_primary=field.is_primary_key,
        auto_id=field.autoID,
        is_partition_key=field.is_partition_key,
        is_dynamic=field.is_dynamic,
        nullable=field.nullable,
        has_default=field.HasField("default_value"),
        is_function_output=field.is_function_output,
    )


def decode_describe_collection_response(data: bytes) -> DescribeCollectionReply:
    message = _parse(_pb.milvus.DescribeCollectionResponse, data, "DescribeCollection")
    schema = None
    if message.HasField("schema"):
        s = message.schema
        schema = CollectionSchema(
            collection_name=message.collection_name or s.name,
            fields=tuple(_field_info(f) for f in s.fields),
            enable_dynamic_field=s.enable_dynamic_field,
            struct_array_fields=tuple(f.name for f in s.struct_array_fields),
        )
    return DescribeCollectionReply(status=_status(message), schema=schema, collection_id=message.collectionID)


def decode_show_partitions_response(data: bytes) -> PartitionsReply:
    message = _parse(_pb.milvus.ShowPartitionsResponse, data, "ShowPartitions")
    return PartitionsReply(status=_status(message), partition_names=tuple(message.partition_names))


def decode_bool_response(data: bytes) -> BoolReply:
    message = _parse(_pb.milvus.BoolResponse, data, "HasPartition")
    return BoolReply(status=_status(message), value=message.value)
