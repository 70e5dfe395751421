"""The wall around the generated code: the only module that imports ``pymilvus_import._generated``.

Everything else in the package sees plain values: requests go out as bytes, replies come back as the frozen
dataclasses below. The transport therefore sends and receives raw bytes (no serializers on the channel), and the
same functions serve the sync and the asyncio clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from ._errors import MalformedReplyError
from ._generated import common_pb2, milvus_pb2

_SERVICE = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]


def _path(method: str) -> str:
    return f"/{_SERVICE.full_name}/{_SERVICE.methods_by_name[method].name}"


IMPORT = _path("Import")
GET_IMPORT_STATE = _path("GetImportState")
LIST_IMPORT_TASKS = _path("ListImportTasks")
GET_VERSION = _path("GetVersion")

#: ImportState enum: number -> name, from our own descriptors.
IMPORT_STATE_NAMES: Mapping[int, str] = {v.number: v.name for v in common_pb2.ImportState.DESCRIPTOR.values}


@dataclass(frozen=True)
class StatusReply:
    """``common.Status`` as plain values."""

    code: int = 0
    error_code: int = 0
    reason: str = ""
    retriable: bool = False
    detail: str = ""
    extra_info: Mapping[str, str] = field(default_factory=dict)
    present: bool = True  # False when the reply carried no status message at all


@dataclass(frozen=True)
class ImportReply:
    status: StatusReply
    tasks: tuple[int, ...]


@dataclass(frozen=True)
class ImportStateReply:
    status: StatusReply
    state: int
    row_count: int
    id_list: tuple[int, ...]
    infos: tuple[tuple[str, str], ...]
    id: int
    collection_id: int
    segment_ids: tuple[int, ...]
    create_ts: int


@dataclass(frozen=True)
class ListImportTasksReply:
    status: StatusReply
    tasks: tuple[ImportStateReply, ...]


@dataclass(frozen=True)
class VersionReply:
    status: StatusReply
    version: str


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


def _parse(message_class: type, data: bytes, what: str):  # type: ignore[no-untyped-def]
    message = message_class()
    try:
        message.ParseFromString(data)
    except (DecodeError, TypeError) as exc:
        raise MalformedReplyError(f"the server's {what} reply could not be decoded ({len(data)} bytes): {exc}") from exc
    return message


def _status(message) -> StatusReply:  # type: ignore[no-untyped-def]
    if not message.HasField("status"):
        return StatusReply(present=False)
    s = message.status
    return StatusReply(
        code=s.code,
        error_code=int(s.error_code),
        reason=s.reason,
        retriable=s.retriable,
        detail=s.detail,
        extra_info=dict(s.extra_info),
    )


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
    message = _parse(milvus_pb2.ImportResponse, data, "Import")
    return ImportReply(status=_status(message), tasks=tuple(message.tasks))


def decode_get_import_state_response(data: bytes) -> ImportStateReply:
    return _state(_parse(milvus_pb2.GetImportStateResponse, data, "GetImportState"))


def decode_list_import_tasks_response(data: bytes) -> ListImportTasksReply:
    message = _parse(milvus_pb2.ListImportTasksResponse, data, "ListImportTasks")
    return ListImportTasksReply(status=_status(message), tasks=tuple(_state(t) for t in message.tasks))


def decode_get_version_response(data: bytes) -> VersionReply:
    message = _parse(milvus_pb2.GetVersionResponse, data, "GetVersion")
    return VersionReply(status=_status(message), version=message.version)
