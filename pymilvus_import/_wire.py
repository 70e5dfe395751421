"""The wire: requests to bytes, reply bytes straight to the public values (or the error they mean). No I/O.

This is the only module that imports ``pymilvus_import._generated``. The transport sends and receives raw bytes
(no serializers on the channel), so the same functions serve the sync and the asyncio clients. Decoders take the
``target`` (credentials masked) only to name it in error messages.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.message import DecodeError, Message

from ._errors import BulkImportError, ImportJobNotFoundError, MalformedReplyError, ServerError, milvus_status
from ._models import (
    COMPLETED,
    FAILED,
    IMPORTING,
    PENDING,
    BulkImportData,
    BulkImportResponse,
    FrozenInfos,
    ImportJobRecord,
    ImportProgress,
)

if TYPE_CHECKING:
    from datetime import datetime


def _generated_package() -> ModuleType:
    """``pymilvus_import._generated``. Installed, that is ``generated/``; run from a source checkout (where this
    package shadows the installed one) it is the top-level ``generated/`` beside it, registered under that name."""
    try:
        return importlib.import_module("._generated", __package__)
    except ModuleNotFoundError as missing:
        source = Path(__file__).resolve().parent.parent / "generated" / "__init__.py"
        if missing.name != f"{__package__}._generated" or not source.is_file():
            raise
    spec = importlib.util.spec_from_file_location(
        f"{__package__}._generated", source, submodule_search_locations=[str(source.parent)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _load_generated(name: str) -> ModuleType:
    return importlib.import_module(f".{name}", _generated_package().__name__)


class _Lazy:
    """A generated module, imported on first attribute use: ``import pymilvus_import`` stays cheap, and the first
    request pays for the descriptors once. Each attribute is then kept on the proxy (a plain attribute lookup)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(_load_generated(self._name), attribute)
        setattr(self, attribute, value)
        return value


if TYPE_CHECKING:
    # mypy reads the generated .pyi: generated/ (the source tree's name of pymilvus_import._generated).
    from generated import common_pb2, milvus_pb2, schema_pb2
else:
    common_pb2, milvus_pb2 = _Lazy("common_pb2"), _Lazy("milvus_pb2")

# The gRPC method paths and the ImportState names, written out so no descriptor is needed at import time;
# tests/test_wire_compat.py checks them against the generated descriptors (and pymilvus's).
_SERVICE = "/milvus.proto.milvus.MilvusService/"
IMPORT = _SERVICE + "Import"
GET_IMPORT_STATE = _SERVICE + "GetImportState"
LIST_IMPORT_TASKS = _SERVICE + "ListImportTasks"
GET_VERSION = _SERVICE + "GetVersion"

#: ImportState enum number -> (the REST API's state name, the server's enum name). Both server generations.
IMPORT_STATES: dict[int, tuple[str, str]] = {
    0: (PENDING, "ImportPending"),
    1: (FAILED, "ImportFailed"),
    2: (IMPORTING, "ImportStarted"),
    5: (IMPORTING, "ImportPersisted"),
    6: (COMPLETED, "ImportCompleted"),
    7: (FAILED, "ImportFailedAndCleaned"),
    8: (IMPORTING, "ImportFlushed"),
}


# ------------------------------------------------------------------------------------------------ requests
def encode_import_request(
    *,
    collection_name: str,
    partition_name: str,
    files: Sequence[str],
    options: Sequence[tuple[str, str]],
    db_name: str,
    idempotency_key: str,
) -> bytes:
    request = milvus_pb2.ImportRequest(
        collection_name=collection_name,
        partition_name=partition_name,
        files=files,
        options=[common_pb2.KeyValuePair(key=k, value=v) for k, v in options],
        db_name=db_name,
        idempotency_key=idempotency_key,
    )
    return bytes(request.SerializeToString())


def encode_get_import_state_request(job_id: int) -> bytes:
    return bytes(milvus_pb2.GetImportStateRequest(task=job_id).SerializeToString())


def encode_list_import_tasks_request(*, collection_name: str, limit: int, db_name: str) -> bytes:
    request = milvus_pb2.ListImportTasksRequest(collection_name=collection_name, limit=limit, db_name=db_name)
    return bytes(request.SerializeToString())


def encode_get_version_request() -> bytes:
    return bytes(milvus_pb2.GetVersionRequest().SerializeToString())


# ------------------------------------------------------------------------------------------------ replies
_Reply = TypeVar("_Reply", bound=Message)


def _parse(message_class: type[_Reply], data: bytes, what: str) -> _Reply:
    message = message_class()
    try:
        message.ParseFromString(data)
    except (DecodeError, TypeError) as exc:
        raise MalformedReplyError(f"the server's {what} reply could not be decoded ({len(data)} bytes): {exc}") from exc
    return message


def _status_of(message: Any, what: str) -> tuple[int, str, bool]:
    """(code, reason, retriable) of a reply's status; ``code`` falls back to the legacy ``error_code`` (2.3)."""
    if not message.HasField("status"):
        raise MalformedReplyError(f"the server's {what} reply carries no status; cannot tell whether it succeeded")
    status = message.status
    return (status.code or int(status.error_code)), status.reason, status.retriable


def _raise_for_status(message: Any, what: str, target: str, job_id: str | None = None) -> None:
    code, reason, retriable = _status_of(message, what)
    if not code:
        return
    if job_id is not None and milvus_status(what, code, reason) is ImportJobNotFoundError:
        raise ImportJobNotFoundError(
            f"import job {job_id} is not known to {target} (unknown id, or finished more than ~3 h ago): {reason}",
            job_id=job_id,
        )
    raise ServerError(
        f"{what} on {target} failed with status {code}: {reason}",
        status=code,
        server_message=reason,
        retriable=retriable,
    )


def decode_import_response(data: bytes, target: str) -> tuple[str, ...]:
    """The job ids of an accepted Import; a refusal raises :class:`BulkImportError` (``_errors.MILVUS_STATUS``)."""
    message = _parse(milvus_pb2.ImportResponse, data, "Import")
    code, reason, retriable = _status_of(message, "Import")
    if code:  # every refusal (MILVUS_STATUS's Import row): no job was created for this group
        response = BulkImportResponse(status=code, message=reason, data=BulkImportData("", ()))
        hint = " (retriable)" if retriable else ""
        raise BulkImportError(
            f"Import refused by {target} with status {code}{hint}: {reason}",
            status=code,
            server_message=reason,
            retriable=retriable,
            response=response,
        )
    tasks = tuple(message.tasks)
    if not tasks:
        raise MalformedReplyError("the server accepted the Import but its reply carries no job id")
    if any(task <= 0 for task in tasks):
        raise MalformedReplyError(f"the server accepted the Import but answered impossible job ids {list(tasks)}")
    return tuple(str(task) for task in tasks)


def _state_of(state: int) -> tuple[str, str]:
    known = IMPORT_STATES.get(state)
    if known is None:
        raise MalformedReplyError(f"the server reported an unknown import state {state}; upgrade pymilvus-import?")
    return known


def _progress_value(infos: dict[str, str], state: str) -> int:
    text = infos.pop("progress_percent", None)
    if text is None or text == "":
        return 100 if state == COMPLETED else 0
    try:
        value = int(float(text))
    except (ValueError, OverflowError):
        raise MalformedReplyError(f"the server reported a non-numeric progress {text!r}") from None
    return max(0, min(100, value))


def _create_time(create_ts: int) -> datetime | None:
    if create_ts <= 0:
        return None
    if create_ts >= 2**40:  # a hybrid timestamp: physical milliseconds in the high bits
        seconds = (create_ts >> 18) / 1000
    elif create_ts >= 10**11:  # milliseconds
        seconds = create_ts / 1000
    else:
        seconds = float(create_ts)
    from datetime import datetime, timezone  # only when a reply carries a time: keeps the import cheap

    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _progress(job_id: str, task: milvus_pb2.GetImportStateResponse) -> ImportProgress:
    state, raw = _state_of(int(task.state))
    infos = {kv.key: kv.value for kv in task.infos}
    progress = _progress_value(infos, state)
    reason = infos.pop("failed_reason", "")
    return ImportProgress(
        job_id=job_id,
        state=state,
        progress=progress,
        imported_rows=task.row_count,
        reason=reason,
        create_time=_create_time(task.create_ts),
        raw_state=raw,
        infos=FrozenInfos(infos),
    )


def _record(task: milvus_pb2.GetImportStateResponse) -> ImportJobRecord:
    state, raw = _state_of(int(task.state))
    infos = {kv.key: kv.value for kv in task.infos}
    return ImportJobRecord(
        job_id=str(task.id) if task.id else None,
        collection_name=infos.get("collection", ""),
        state=state,
        progress=_progress_value(infos, state),
        reason=infos.get("failed_reason", ""),
        imported_rows=task.row_count if task.row_count or state == COMPLETED else None,
        raw_state=raw,
    )


def decode_get_import_state_response(data: bytes, target: str, job_id: str) -> ImportProgress:
    """Where job ``job_id`` stands (the id asked for: Milvus 2.4+ answers 0); an unknown id raises
    :class:`ImportJobNotFoundError`."""
    message = _parse(milvus_pb2.GetImportStateResponse, data, "GetImportState")
    _raise_for_status(message, "GetImportState", target, job_id)
    return _progress(job_id, message)


def decode_list_import_tasks_response(data: bytes, target: str) -> list[ImportJobRecord]:
    message = _parse(milvus_pb2.ListImportTasksResponse, data, "ListImportTasks")
    _raise_for_status(message, "ListImportTasks", target)
    return [_record(task) for task in message.tasks]


def decode_get_version_response(data: bytes, target: str) -> str:
    message = _parse(milvus_pb2.GetVersionResponse, data, "GetVersion")
    if message.HasField("status"):  # only the version matters here: a reply without a status is taken as it is
        _raise_for_status(message, "GetVersion", target)
    return str(message.version)


# --- preflight: schema and partitions ---
# What the preflight asks before an Import (DescribeCollection, HasPartition), decoded into plain
# values. tests/test_wire_compat.py checks the paths and the DataType names against the descriptors and pymilvus's.

DESCRIBE_COLLECTION = _SERVICE + "DescribeCollection"
HAS_PARTITION = _SERVICE + "HasPartition"

#: schema.DataType enum: number -> name (a number not listed decodes as "DataType(<number>)"). The file checks
#: (``_files``) compare a field's type with what a file holds.
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
        "element_type",
        "has_default",
        "is_dynamic",
        "is_function_output",
        "is_partition_key",
        "is_primary",
        "name",
        "nullable",
        "type_params",
    )

    def __init__(
        self,
        name: str,
        data_type: str = "None",
        *,
        is_primary: bool = False,
        auto_id: bool = False,
        is_partition_key: bool = False,
        is_dynamic: bool = False,
        nullable: bool = False,
        has_default: bool = False,
        is_function_output: bool = False,
        element_type: str = "None",
        type_params: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        #: The field's DataType by name ("Int64", "FloatVector"; "None" when not known, as in tests of the
        #: preflight, which reads no type); the file checks compare it with what a file holds.
        self.data_type = data_type
        self.is_primary = is_primary
        self.auto_id = auto_id
        self.is_partition_key = is_partition_key
        self.is_dynamic = is_dynamic
        self.nullable = nullable
        self.has_default = has_default
        self.is_function_output = is_function_output
        #: An Array field's element type name ("None" for other fields).
        self.element_type = element_type
        #: The field's type parameters as the server lists them (``dim``, ``max_length``, ``max_capacity``).
        self.type_params: dict[str, str] = dict(type_params or {})

    def _int_param(self, key: str) -> int | None:
        try:
            return int(self.type_params[key])
        except (KeyError, ValueError):
            return None

    @property
    def dim(self) -> int | None:
        """A vector field's dimension (None when the server gave none)."""
        return self._int_param("dim")

    @property
    def max_length(self) -> int | None:
        """A VarChar field's (or VarChar array element's) maximum length in UTF-8 bytes."""
        return self._int_param("max_length")

    @property
    def max_capacity(self) -> int | None:
        """An Array field's maximum number of elements."""
        return self._int_param("max_capacity")

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
        params = "".join(f", {k}={v}" for k, v in sorted(self.type_params.items()))
        element = f"<{self.element_type}>" if self.data_type == "Array" else ""
        return f"FieldInfo({self.name!r}, {self.data_type}{element}{params}{''.join(', ' + f for f in flags)})"

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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CollectionSchema):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    @property
    def partition_key(self) -> str | None:
        """The name of the partition-key field, or None."""
        return next((f.name for f in self.fields if f.is_partition_key), None)


class DescribeCollectionReply:
    """A DescribeCollection answer: its status (``code`` 0 is success) and the schema (None when it carries none)."""

    __slots__ = ("code", "reason", "schema")

    def __init__(self, code: int, reason: str, schema: CollectionSchema | None) -> None:
        self.code = code
        self.reason = reason
        self.schema = schema


def _status_or_ok(message: Any) -> tuple[int, str]:
    """(code, reason) of a preflight reply; a reply without a status counts as OK (its content decides)."""
    if not message.HasField("status"):
        return 0, ""
    code, reason, _retriable = _status_of(message, "")
    return code, reason


def encode_describe_collection_request(*, collection_name: str, db_name: str) -> bytes:
    request = milvus_pb2.DescribeCollectionRequest(collection_name=collection_name, db_name=db_name)
    return bytes(request.SerializeToString())


def encode_has_partition_request(*, collection_name: str, partition_name: str, db_name: str) -> bytes:
    request = milvus_pb2.HasPartitionRequest(
        collection_name=collection_name, partition_name=partition_name, db_name=db_name
    )
    return bytes(request.SerializeToString())


def _type_name(number: int) -> str:
    name: str = DATA_TYPE_NAMES.get(number, f"DataType({number})")
    return name


def _field_info(field: schema_pb2.FieldSchema) -> FieldInfo:
    return FieldInfo(
        field.name,
        _type_name(int(field.data_type)),
        is_primary=field.is_primary_key,
        auto_id=field.autoID,
        is_partition_key=field.is_partition_key,
        is_dynamic=field.is_dynamic,
        nullable=field.nullable,
        has_default=field.HasField("default_value"),
        is_function_output=field.is_function_output,
        element_type=_type_name(int(field.element_type)),
        type_params={kv.key: kv.value for kv in field.type_params},
    )


def decode_describe_collection_response(data: bytes) -> DescribeCollectionReply:
    message = _parse(milvus_pb2.DescribeCollectionResponse, data, "DescribeCollection")
    schema = None
    if message.HasField("schema"):
        s = message.schema
        schema = CollectionSchema(
            collection_name=message.collection_name or s.name,
            fields=tuple(_field_info(f) for f in s.fields),
            enable_dynamic_field=s.enable_dynamic_field,
            struct_array_fields=tuple(f.name for f in s.struct_array_fields),
        )
    return DescribeCollectionReply(*_status_or_ok(message), schema)


def decode_bool_response(data: bytes) -> tuple[int, str, bool]:
    """(code, reason, value) of a HasPartition answer."""
    message = _parse(milvus_pb2.BoolResponse, data, "HasPartition")
    return (*_status_or_ok(message), bool(message.value))
