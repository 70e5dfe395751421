"""Every exception pymilvus-import raises, and the one table that maps gRPC status codes onto them.

::

    MilvusImportError                    base of everything below; never raised itself
    ├── InvalidInputError                client side: input that cannot be right, found before any Import (a ValueError)
    │   └── PreflightError               ... found by the preflight, from the server's schema or version
    │       ├── CollectionNotFoundError  no such collection in that database
    │       │   └── DatabaseNotFoundError    no such database
    │       ├── InvalidCollectionNameError   the server refuses the collection's name itself (status 1100)
    │       ├── PartitionNotFoundError   no such partition in the collection
    │       ├── SchemaMismatchError      files vs fields: a missing field, an unknown file, the auto-id key, ...
    │       │   └── FileMismatchError    what is inside the files does not fit (every problem; .problems, .report)
    │       └── UnsupportedByServerError a file format or option this server version cannot read
    ├── ClientClosedError                a call on a client that was closed
    ├── WrongEventLoopError              a grpc.aio channel of yours used from another event loop (a RuntimeError)
    ├── ServerError                      the server answered with a non-zero status (.status, .server_message)
    │   └── BulkImportError              ... to an Import: the group was refused, no job was created (.response)
    ├── MalformedReplyError              a reply we cannot understand (no job id, undecodable bytes, ...)
    ├── ImportJobNotFoundError           the server does not know the job (unknown id, or expired after ~3 h)
    ├── ImportFailedError                a followed job ended in the Failed state
    ├── ImportTimeoutError               waiting for jobs ran past its timeout (also a TimeoutError)
    └── TransportError                   the RPC itself failed with a gRPC status other than OK (.code, .details)
        ├── ServerUnavailableError       UNAVAILABLE: not started, unreachable, restarting, TLS mismatch
        ├── DeadlineExceededError        DEADLINE_EXCEEDED: the caller's timeout ran out (also a TimeoutError)
        ├── AuthenticationError          UNAUTHENTICATED: missing or wrong token / user / password
        ├── PermissionDeniedError        PERMISSION_DENIED: authenticated, but not allowed
        ├── ServerInvalidArgumentError   INVALID_ARGUMENT: the *server* rejected the request's form
        ├── RateLimitedError             RESOURCE_EXHAUSTED: rate limit or quota; safe to retry later
        └── (TransportError itself)      every other status, told apart by ``.code``: CANCELLED (the server or the
                                         connection went away mid-call; a wait rides it out like UNAVAILABLE),
                                         UNIMPLEMENTED (the server has no such RPC: the preflight gives no verdict),
                                         INTERNAL, UNKNOWN, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED,
                                         OUT_OF_RANGE, DATA_LOSS

``InvalidInputError`` is always the client's own verdict, with no Import sent (the option alone, or for a
``PreflightError`` the server's answer to a read-only DescribeCollection/HasPartition/GetVersion);
``ServerInvalidArgumentError`` is the server's gRPC status for a request it received.

A non-zero status from Import is *raised* as ``BulkImportError`` (never returned); its
``response`` is the Go-shaped :class:`BulkImportResponse` for callers who prefer reading ``status``.

Errors raised by ``bulk_import`` also say what was already created: ``created_job_ids`` holds the job ids of the
file groups that succeeded before the failure, ``failed_group`` the files of the group that failed and
``group_index`` its position. Nothing the server created is ever lost in an exception. Every error can be pickled
and copied (a worker process may raise it), with all its attributes.

Two tables at the end of this module say what the server's answers mean, and nothing else decides it:
``GRPC_STATUS`` (a gRPC status -> the class above; the transports map every ``grpc.RpcError`` with it before a flow
sees it) and ``MILVUS_STATUS`` (a Milvus status code in a reply, per RPC where the meaning differs -> the class).

Messages never contain secrets: targets are shown with credentials masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import grpc

from ._secrets import describe

if TYPE_CHECKING:
    from ._models import BulkImportResponse, ImportProgress


def _rebuild(cls: type[MilvusImportError], args: tuple[Any, ...], state: dict[str, Any]) -> MilvusImportError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class MilvusImportError(Exception):
    """Base class of every error raised by pymilvus-import."""

    #: Job ids created by earlier file groups of the same ``bulk_import`` call (empty when none).
    created_job_ids: tuple[str, ...] = ()
    #: The files of the group that failed, when the error comes from ``bulk_import``.
    failed_group: tuple[str, ...] | None = None
    #: The position of that group in ``files``.
    group_index: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # The keyword-only constructors cannot be called with ``args`` alone, which is what pickle and copy do by
        # default; rebuild from the instance's attributes instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def _with_progress(self, created_job_ids: Sequence[str], group_index: int, group: Sequence[str]) -> None:
        self.created_job_ids = tuple(created_job_ids)
        self.group_index = group_index
        self.failed_group = tuple(group)

    def __str__(self) -> str:
        text = self.message
        if self.group_index is not None:
            text += f" [file group {self.group_index}: {list(self.failed_group or ())}]"
        if self.created_job_ids:
            text += f" [job ids already created by earlier groups: {list(self.created_job_ids)}]"
        return text


class InvalidInputError(MilvusImportError, ValueError):
    """Input that cannot be right, found by the client before any RPC was sent.

    ``value`` is the offending value (secrets masked) as plain data: the value itself when it is a string, number,
    bytes, path or a list/tuple of those, else a text naming its type (so every error pickles and prints);
    ``field`` the argument or option it was given as."""

    def __init__(self, message: str, *, value: object = None, field: str | None = None) -> None:
        super().__init__(message)
        self.value = describe(value)
        self.field = field


class ClientClosedError(MilvusImportError):
    """The client was closed (``close()`` or the end of its ``with`` block); open a new one."""


class WrongEventLoopError(MilvusImportError, RuntimeError):
    """A ``grpc.aio`` channel of yours is used from another event loop than the one it was created in."""


class ServerError(MilvusImportError):
    """The server answered with a non-zero status. ``status`` and ``server_message`` are its code and reason,
    ``retriable`` the server's own hint that trying again later may succeed."""

    def __init__(self, message: str, *, status: int, server_message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        self.retriable = retriable


class BulkImportError(ServerError):
    """The server refused an Import request; no job was created for that group.

    ``response`` is the :class:`BulkImportResponse` built from the reply (Go's ``Status``/``Message``)."""

    def __init__(
        self, message: str, *, status: int, server_message: str, retriable: bool, response: BulkImportResponse
    ) -> None:
        super().__init__(message, status=status, server_message=server_message, retriable=retriable)
        self.response = response


class MalformedReplyError(MilvusImportError):
    """The server's reply is missing something it must carry, or cannot be decoded."""


class ImportJobNotFoundError(MilvusImportError):
    """The server does not know this job id (never existed, or expired: Milvus forgets finished jobs after ~3 h)."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class ImportFailedError(MilvusImportError):
    """At least one followed job ended in ``Failed``. ``progress`` holds the final state of every job."""

    def __init__(self, message: str, *, reason: str, progress: Sequence[ImportProgress]) -> None:
        super().__init__(message)
        self.reason = reason
        self.progress = tuple(progress)


class ImportTimeoutError(MilvusImportError, TimeoutError):
    """Waiting ran past its timeout. ``progress`` holds the last known state of every job (the jobs run on)."""

    def __init__(self, message: str, *, progress: Sequence[ImportProgress]) -> None:
        super().__init__(message)
        self.progress = tuple(progress)


class TransportError(MilvusImportError):
    """The RPC failed at the gRPC level. The original ``grpc.RpcError`` is the ``__cause__`` (not kept by pickle)."""

    def __init__(self, message: str, *, code: grpc.StatusCode | None, details: str, target: str, method: str) -> None:
        super().__init__(message)
        self.code = code
        self.details = details
        self.target = target
        self.method = method


class ServerUnavailableError(TransportError):
    """UNAVAILABLE: the server is not reachable (not started, restarting, network or TLS mismatch)."""


class DeadlineExceededError(TransportError, TimeoutError):
    """DEADLINE_EXCEEDED: the caller's ``timeout`` ran out before the server answered."""


class AuthenticationError(TransportError):
    """UNAUTHENTICATED: credentials are missing or wrong."""


class PermissionDeniedError(TransportError):
    """PERMISSION_DENIED: the credentials are valid but lack the privilege."""


class ServerInvalidArgumentError(TransportError):
    """INVALID_ARGUMENT: the server rejected the form of the request (client-side checks raise InvalidInputError)."""


class RateLimitedError(TransportError):
    """RESOURCE_EXHAUSTED: the server's rate limit or quota; nothing was created, retry later."""


class PreflightError(InvalidInputError):
    """The preflight found, from the server's answer, that the request cannot succeed. No Import was sent.

    ``collection_name`` / ``db_name`` say where it looked; ``value``/``field`` (from :class:`InvalidInputError`)
    hold the offending value and what it is.
    """

    def __init__(
        self,
        message: str,
        *,
        collection_name: str,
        db_name: str,
        value: Any = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, value=value, field=field)
        self.collection_name = collection_name
        self.db_name = db_name


class CollectionNotFoundError(PreflightError):
    """The server has no collection of that name in that database."""


class InvalidCollectionNameError(PreflightError):
    """The server refuses the collection's name itself (DescribeCollection answered status 1100, "Invalid
    collection name"): no collection can ever have it, so no Import would succeed. ``value`` is the name."""


class DatabaseNotFoundError(CollectionNotFoundError):
    """The server has no database of that name (so no collection in it either)."""


class PartitionNotFoundError(PreflightError):
    """The collection has no partition of that name. ``partition_name`` is the name asked for."""

    def __init__(self, message: str, *, collection_name: str, db_name: str, partition_name: str) -> None:
        super().__init__(
            message, collection_name=collection_name, db_name=db_name, value=partition_name, field="partition_name"
        )
        self.partition_name = partition_name


class SchemaMismatchError(PreflightError):
    """The request does not fit the collection's schema: a NumPy group's files vs the fields to import, or a
    partition name given for a collection with a partition key. ``file`` is the offending file (or None),
    ``field_name`` the field concerned, ``suggestion`` a close field name for a misspelt file (or None)."""

    def __init__(
        self,
        message: str,
        *,
        collection_name: str,
        db_name: str,
        value: Any = None,
        field: str | None = None,
        file: str | None = None,
        field_name: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message, collection_name=collection_name, db_name=db_name, value=value, field=field)
        self.file = file
        self.field_name = field_name
        self.suggestion = suggestion


class UnsupportedByServerError(PreflightError):
    """The server's version cannot read this file format or option. ``server_version`` is what it reported."""

    def __init__(
        self,
        message: str,
        *,
        collection_name: str,
        db_name: str,
        server_version: str,
        value: Any = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, collection_name=collection_name, db_name=db_name, value=value, field=field)
        self.server_version = server_version


class FileMismatchError(SchemaMismatchError):
    """What is inside the files does not fit the collection (issue 17): **every** problem found, across all groups
    and files, not the first only. No Import was sent.

    ``problems`` is a tuple of ``(file, field, message)`` (``field`` None when the whole file is concerned);
    ``report`` the whole :class:`~pymilvus_import.FileReport` (per-file verdicts, unreadable files included);
    ``file`` and ``field_name`` are those of the first problem."""

    def __init__(
        self,
        message: str,
        *,
        collection_name: str,
        db_name: str,
        problems: Sequence[tuple[str, str | None, str]],
        report: Any = None,
    ) -> None:
        first = problems[0] if problems else (None, None, "")
        super().__init__(
            message,
            collection_name=collection_name,
            db_name=db_name,
            value=first[0],
            field="files",
            file=first[0],
            field_name=first[1],
        )
        self.problems = tuple(problems)
        self.report = report


# ------------------------------------------------------------------------------------------------ the tables
#: Every gRPC status code (by name) -> the class a failed RPC with it becomes. Statuses without a class of their own
#: are a bare :class:`TransportError`, told apart by ``.code`` (see the tree in this module's docstring).
GRPC_STATUS: dict[str, type[TransportError]] = {
    "CANCELLED": TransportError,  # the server or the connection went away mid-call (a wait rides it out)
    "UNKNOWN": TransportError,
    "INVALID_ARGUMENT": ServerInvalidArgumentError,
    "DEADLINE_EXCEEDED": DeadlineExceededError,
    "NOT_FOUND": TransportError,
    "ALREADY_EXISTS": TransportError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "RESOURCE_EXHAUSTED": RateLimitedError,
    "FAILED_PRECONDITION": TransportError,
    "ABORTED": TransportError,
    "OUT_OF_RANGE": TransportError,
    "UNIMPLEMENTED": TransportError,  # no such RPC on this server (milvus-lite's Import): no preflight verdict
    "INTERNAL": TransportError,
    "UNAVAILABLE": ServerUnavailableError,
    "DATA_LOSS": TransportError,
    "UNAUTHENTICATED": AuthenticationError,
}

#: gRPC statuses a read-only poll may ride out (the job runs on regardless): the server is away, slow or busy.
TRANSIENT_GRPC_STATUS = frozenset({"UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})

_TLS_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "Hostname Verification", "TSI_", "SSL", "handshake")


def from_grpc_error(error: grpc.RpcError, *, target: str, method: str) -> TransportError:
    """Map a ``grpc.RpcError`` to the exception class for its status code (``target`` must be masked already).

    The transports call this for every failed RPC, so the flows see package errors only."""
    code = error.code() if hasattr(error, "code") else None
    details = (error.details() if hasattr(error, "details") else None) or ""
    code_name = code.name if code is not None else "UNKNOWN"
    cls = GRPC_STATUS.get(code_name, TransportError) if code is not None else TransportError
    short = method.rsplit("/", 1)[-1]
    message = f"{short} to {target} failed with {code_name}: {details or 'no details'}"
    if code == grpc.StatusCode.UNAVAILABLE and any(m in details for m in _TLS_MARKERS):
        message += " (TLS handshake failed: check ca_cert, client_cert/client_key for mutual TLS, and server_name)"
    exc = cls(message, code=code, details=details, target=target, method=method)
    exc.__cause__ = error
    return exc


def status_name(error: TransportError) -> str | None:
    """The gRPC status of ``error`` by name (``"UNIMPLEMENTED"``), for matching a status without its own class."""
    return error.code.name if error.code is not None else None


def deadline_passed(target: str, method: str) -> DeadlineExceededError:
    """The error for an RPC not sent because the call's deadline had already passed."""
    return DeadlineExceededError(
        f"{method.rsplit('/', 1)[-1]} to {target} not sent: the call's timeout ran out",
        code=grpc.StatusCode.DEADLINE_EXCEEDED,
        details="deadline passed before the request was sent",
        target=target,
        method=method,
    )


def is_transient(error: MilvusImportError) -> bool:
    """Whether a read-only call that failed with ``error`` may succeed if asked again later: a transient gRPC
    status (:data:`TRANSIENT_GRPC_STATUS`), or a server status the server marked ``retriable``."""
    if isinstance(error, (ServerUnavailableError, DeadlineExceededError, RateLimitedError)):
        return True
    if isinstance(error, TransportError):
        return status_name(error) in TRANSIENT_GRPC_STATUS
    return isinstance(error, ServerError) and error.retriable


def seconds_text(value: float | None) -> str:
    """A duration as messages write it: ``1.5s``, ``600s`` (not ``1.4666204130007827s``)."""
    return "no time" if value is None else f"{value:.1f}".rstrip("0").rstrip(".") + "s"


class StatusRule:
    """One row of :data:`MILVUS_STATUS`: for these RPCs (short names), a status whose ``code`` is one of ``codes``
    (empty: any non-zero code) or whose reason contains one of ``markers`` (lower case) means ``meaning``."""

    __slots__ = ("codes", "markers", "meaning", "rpcs")

    def __init__(
        self,
        rpcs: tuple[str, ...],
        meaning: type[MilvusImportError],
        codes: tuple[int, ...] = (),
        markers: tuple[str, ...] = (),
    ) -> None:
        self.rpcs, self.meaning, self.codes, self.markers = rpcs, meaning, codes, markers

    def matches(self, rpc: str, code: int, reason: str) -> bool:
        if rpc not in self.rpcs or not code:
            return False
        if not self.codes and not self.markers:
            return True
        lowered = reason.lower()
        return code in self.codes or any(marker in lowered for marker in self.markers)


# Milvus status codes (``Status.code``; 2.3 servers set only the legacy ``error_code``, read where ``code`` is 0):
# 4 CollectionNotExists (legacy), 100 collection not found, 200 partition not found, 800 database not found,
# 1000 key not found (2.3: an unknown import task), 1100 invalid parameter, 1101 parameter missing, 2100 import
# failed (2.4+: also "import job does not exist"), 2101 import job not found (newer), 65535 unexpected (2.3 wraps
# most refusals in it). Measured on 2.3.5, and the 2.4+ codes from the server's source (facts file, sections 3-4,
# 11; milvus-name-rules.md). The rows are read top to bottom; the first match wins.
_DESCRIBE = ("DescribeCollection",)
MILVUS_STATUS: tuple[StatusRule, ...] = (
    # DescribeCollection (the preflight). On 2.3 an unknown database answers 100 naming the database.
    StatusRule(_DESCRIBE, DatabaseNotFoundError, codes=(800,), markers=("database not found",)),
    StatusRule(
        _DESCRIBE, CollectionNotFoundError, codes=(100, 4), markers=("collection not found", "can't find collection")
    ),
    StatusRule(_DESCRIBE, InvalidCollectionNameError, codes=(1100,)),  # every line validates the name here
    # ListImportTasks for one collection: 2.3.5 answers an unknown collection 100, 2.4+ an unknown database 800.
    StatusRule(("ListImportTasks",), DatabaseNotFoundError, codes=(800,), markers=("database not found",)),
    StatusRule(
        ("ListImportTasks",),
        CollectionNotFoundError,
        codes=(100, 4),
        markers=("collection not found", "can't find collection"),
    ),
    # GetImportState: an unknown or expired job (2.3: 1000 "key not found"; 2.4+: 2100/2101 "... does not exist").
    StatusRule(("GetImportState",), ImportJobNotFoundError, markers=("does not exist", "key not found", "not found")),
    # Import: any refusal (100, 200, 800, 1100, 2100, 65535, ...) means no job was created for that group.
    StatusRule(("Import",), BulkImportError),
)


def milvus_status(rpc: str, code: int, reason: str) -> type[MilvusImportError] | None:
    """What a non-zero Milvus status in the reply to ``rpc`` (its short name) means, by :data:`MILVUS_STATUS`;
    None when no row says (a :class:`ServerError` for the tracking RPCs, no verdict for the preflight)."""
    for rule in MILVUS_STATUS:
        if rule.matches(rpc, code, reason):
            return rule.meaning
    return None


# -- object storage (issue 16): raised by pymilvus_import._storage, which maps the storage library's errors here --
#
#   MilvusImportError
#   ├── StorageError                 staging into the bucket failed (.staged_keys: keys already there, .key, .bucket)
#   │   └── StagingInterruptedError  ... by Ctrl-C (also a KeyboardInterrupt, so `except KeyboardInterrupt` sees it)
#   └── InvalidInputError
#       └── PreflightError
#           ├── ObjectNotFoundError  a file key Milvus would not find in its bucket (.keys, .bucket, .local_files)
#           └── EmptyObjectError     a file key whose object is 0 bytes, which Milvus fails (.keys, .bucket)


class StorageError(MilvusImportError):
    """Staging files into the bucket failed. Nothing partial is left (a failed multipart upload is aborted).

    ``staged_keys`` are the keys already in the bucket from this call (uploaded or found there), so no work is lost;
    ``key`` is the one that failed (or None), ``bucket`` the bucket."""

    def __init__(self, message: str, *, bucket: str, key: str | None = None, staged_keys: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.staged_keys = tuple(staged_keys)

    def __str__(self) -> str:
        text = super().__str__()
        if self.staged_keys:
            text += f" [keys already staged in bucket {self.bucket!r}: {list(self.staged_keys)}]"
        return text


class StagingInterruptedError(StorageError, KeyboardInterrupt):
    """Staging was interrupted (Ctrl-C); uploads in flight were aborted. ``staged_keys`` lists what is there."""


class ObjectNotFoundError(PreflightError):
    """A file key of the request is not in Milvus's bucket, so the job would fail ("The specified key does not
    exist"); no Import was sent. ``keys`` are the missing keys (``value`` the first), ``bucket`` the bucket, and
    ``local_files`` those of them that are files on this machine (upload them: ``stage_files`` or ``upload=True``)."""

    def __init__(
        self,
        message: str,
        *,
        keys: Sequence[str],
        bucket: str,
        local_files: Sequence[str] = (),
        collection_name: str = "",
        db_name: str = "",
    ) -> None:
        super().__init__(
            message, collection_name=collection_name, db_name=db_name, value=keys[0] if keys else None, field="files"
        )
        self.keys = tuple(keys)
        self.bucket = bucket
        self.local_files = tuple(local_files)


class EmptyObjectError(PreflightError):
    """A file key of the request names an object of 0 bytes in Milvus's bucket, so the job would fail (2.3: "the
    file '...' size is zero"; 2.4+: the format's own end-of-file error); no Import was sent. ``keys`` are the empty
    objects' keys (``value`` the first), ``bucket`` the bucket."""

    def __init__(
        self, message: str, *, keys: Sequence[str], bucket: str, collection_name: str = "", db_name: str = ""
    ) -> None:
        super().__init__(
            message, collection_name=collection_name, db_name=db_name, value=keys[0] if keys else None, field="files"
        )
        self.keys = tuple(keys)
        self.bucket = bucket
