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
        from ._generated import common_pb2, milvus_pb2

        self.common, self.milvus = common_pb2, milvus_pb2
        return object.__getattribute__(self, name)


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
