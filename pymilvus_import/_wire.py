"""The wire: requests to bytes, reply bytes straight to the public values (or the error they mean). No I/O.

This is the only module that imports ``pymilvus_import._generated``. The transport sends and receives raw bytes
(no serializers on the channel), so the same functions serve the sync and the asyncio clients. Decoders take the
``target`` (credentials masked) only to name it in error messages.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from ._errors import BulkImportError, ImportJobNotFoundError, MalformedReplyError, ServerError
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


def _load_generated() -> tuple[Any, Any]:
    """The generated modules. Installed, ``generated/`` is the ``pymilvus_import._generated`` package; run from a
    source checkout (where this package shadows the installed one) it is the top-level ``generated/`` beside it,
    registered under the same name."""
    try:
        from ._generated import common_pb2, milvus_pb2
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
        from ._generated import common_pb2, milvus_pb2
    return common_pb2, milvus_pb2


class _Generated:
    """The generated modules, imported on first use: ``import pymilvus_import`` stays cheap, and the first
    request pays for the descriptors once. After that the modules are plain attributes (no lookup cost)."""

    common: Any
    milvus: Any

    def __getattr__(self, name: str) -> Any:
        self.common, self.milvus = _load_generated()
        return object.__getattribute__(self, name)


_pb = _Generated()

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
_NOT_FOUND_MARKERS = ("does not exist", "key not found", "not found")


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


# ------------------------------------------------------------------------------------------------ replies
def _parse(message_class: type, data: bytes, what: str) -> Any:
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
    if job_id is not None and any(marker in reason for marker in _NOT_FOUND_MARKERS):
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
    """The job ids of an accepted Import; a refusal raises :class:`BulkImportError`."""
    message = _parse(_pb.milvus.ImportResponse, data, "Import")
    code, reason, retriable = _status_of(message, "Import")
    if code:
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


def _progress(job_id: str, task: Any) -> ImportProgress:
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


def _record(task: Any) -> ImportJobRecord:
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
    message = _parse(_pb.milvus.GetImportStateResponse, data, "GetImportState")
    _raise_for_status(message, "GetImportState", target, job_id)
    return _progress(job_id, message)


def decode_list_import_tasks_response(data: bytes, target: str) -> list[ImportJobRecord]:
    message = _parse(_pb.milvus.ListImportTasksResponse, data, "ListImportTasks")
    _raise_for_status(message, "ListImportTasks", target)
    return [_record(task) for task in message.tasks]


def decode_get_version_response(data: bytes, target: str) -> str:
    message = _parse(_pb.milvus.GetVersionResponse, data, "GetVersion")
    if message.HasField("status"):  # only the version matters here: a reply without a status is taken as it is
        _raise_for_status(message, "GetVersion", target)
    return str(message.version)
