"""Every exception pymilvus-import raises, and the one table that maps gRPC status codes onto them.

::

    MilvusImportError                    base of everything below; never raised itself
    ├── InvalidInputError                bad input found before any RPC was sent (also a ValueError)
    ├── BulkImportError                  the server answered Import with a non-zero status
    ├── MalformedReplyError              a reply we cannot understand (no job id, undecodable bytes, ...)
    ├── ImportJobNotFound                the server does not know the job (unknown id, or expired after ~3 h)
    ├── ImportFailed                     a followed job ended in the Failed state
    ├── ImportTimeout                    waiting for jobs ran past its timeout (also a TimeoutError)
    ├── ServerError                      any other non-zero status from a read-only RPC
    └── TransportError                   the RPC itself failed (gRPC status other than OK)
        ├── ServerUnavailableError       UNAVAILABLE: not started, unreachable, restarting, TLS mismatch
        ├── DeadlineExceededError        DEADLINE_EXCEEDED: the caller's timeout ran out (also a TimeoutError)
        ├── AuthenticationError          UNAUTHENTICATED: missing or wrong token / user / password
        ├── PermissionDeniedError        PERMISSION_DENIED: authenticated, but not allowed
        ├── InvalidArgumentError         INVALID_ARGUMENT: the server rejected the request's form
        └── RateLimitedError             RESOURCE_EXHAUSTED: rate limit or quota; safe to retry later

Errors raised by ``bulk_import`` also say what was already created: ``created_job_ids`` holds the job ids of the
file groups that succeeded before the failure, ``failed_group`` the files of the group that failed and
``group_index`` its position. Nothing the server created is ever lost in an exception.

Messages never contain secrets: targets are shown with credentials masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc


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
    """Input that cannot be right, found before any RPC was sent. ``value`` is the offending value."""

    def __init__(self, message: str, *, value: Any = None, field: str | None = None) -> None:
        super().__init__(message)
        self.value = value
        self.field = field


class BulkImportError(MilvusImportError):
    """The server refused an Import request.

    ``status`` and ``message`` are the server's code and reason (Go's ``BulkImportResponse.Status/Message``),
    ``retriable`` is the server's own hint, ``response`` is the :class:`BulkImportResponse` built from the reply for
    callers who prefer checking ``status`` themselves.
    """

    def __init__(self, message: str, *, status: int, server_message: str, retriable: bool, response: Any) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        self.retriable = retriable
        self.response = response


class ServerError(MilvusImportError):
    """A read-only RPC answered with a non-zero status that has no more specific class."""

    def __init__(self, message: str, *, status: int, server_message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        self.retriable = retriable


class MalformedReplyError(MilvusImportError):
    """The server's reply is missing something it must carry, or cannot be decoded."""


class ImportJobNotFound(MilvusImportError):
    """The server does not know this job id (never existed, or expired: Milvus forgets finished jobs after ~3 h)."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class ImportFailed(MilvusImportError):
    """At least one followed job ended in ``Failed``. ``progress`` holds the final state of every job."""

    def __init__(self, message: str, *, reason: str, progress: Sequence[Any]) -> None:
        super().__init__(message)
        self.reason = reason
        self.progress = tuple(progress)


class ImportTimeout(MilvusImportError, TimeoutError):
    """Waiting ran past its timeout. ``progress`` holds the last known state of every job."""

    def __init__(self, message: str, *, progress: Sequence[Any]) -> None:
        super().__init__(message)
        self.progress = tuple(progress)


class TransportError(MilvusImportError):
    """The RPC failed at the gRPC level. The original ``grpc.RpcError`` is the ``__cause__``."""

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


class InvalidArgumentError(TransportError):
    """INVALID_ARGUMENT: the server rejected the form of the request."""


class RateLimitedError(TransportError):
    """RESOURCE_EXHAUSTED: the server's rate limit or quota; nothing was created, retry later."""


_BY_CODE: dict[grpc.StatusCode, type[TransportError]] = {
    grpc.StatusCode.UNAVAILABLE: ServerUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitedError,
}


_TLS_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "Hostname Verification", "TSI_", "SSL", "handshake")


def from_grpc_error(error: grpc.RpcError, *, target: str, method: str) -> TransportError:
    """Map a ``grpc.RpcError`` to the exception class for its status code (``target`` must be masked already)."""
    code = error.code() if hasattr(error, "code") else None
    details = (error.details() if hasattr(error, "details") else None) or ""
    cls = _BY_CODE.get(code, TransportError) if code is not None else TransportError
    code_name = code.name if code is not None else "UNKNOWN"
    short = method.rsplit("/", 1)[-1]
    message = f"{short} to {target} failed with {code_name}: {details or 'no details'}"
    if code == grpc.StatusCode.UNAVAILABLE and any(m in details for m in _TLS_MARKERS):
        message += " (TLS handshake failed: check ca_cert, client_cert/client_key for mutual TLS, and server_name)"
    exc = cls(message, code=code, details=details, target=target, method=method)
    exc.__cause__ = error
    return exc


# --- preflight: what the server's schema says about a request, found before any Import ---
#
# These are InvalidInputError subclasses on purpose: the request names something the server does not have (or
# files that cannot fit the collection), nothing was created, and fixing the input is the only remedy. The one
# difference from the other input errors is *how* they are found: from the server's own answer to a read-only
# preflight RPC (DescribeCollection / HasPartition) or its version, not from the option alone. So ``except
# InvalidInputError`` (or ``ValueError``) still catches every "your request cannot be right" case.
#
#     InvalidInputError
#     └── PreflightError               the server's schema/version rules out the request; no Import was sent
#         ├── CollectionNotFoundError  no such collection in that database
#         │   └── DatabaseNotFoundError    no such database
#         ├── PartitionNotFoundError   no such partition in the collection
#         ├── SchemaMismatchError      files vs fields: missing field, unknown file, auto-id key supplied, ...
#         └── UnsupportedByServerError a file format or option this server version cannot read


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
