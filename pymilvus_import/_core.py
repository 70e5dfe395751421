"""The protocol, with no I/O: what to send, how to read the answer, when to retry.

Each operation is a *flow*: a generator that yields effects (:class:`Rpc`, :class:`Sleep`) and receives their
results (reply bytes, or a ``grpc.RpcError`` thrown in). The sync client and the asyncio client only perform the
effects; every decision lives here once, and tests can drive a flow with plain values.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from . import _wire
from ._errors import (
    BulkImportError,
    DeadlineExceededError,
    InvalidInputError,
    MalformedReplyError,
    MilvusImportError,
    ServerError,
    from_grpc_error,
)
from ._models import BulkImportData, BulkImportResponse
from ._options import BulkImportOption
from ._uri import authorization_value

if TYPE_CHECKING:
    import random

log = logging.getLogger("pymilvus_import")

T = TypeVar("T")

Metadata = tuple[tuple[str, "str | bytes"], ...]


class Rpc:
    """Effect: call ``method`` with the serialized ``request``; the flow receives the reply bytes.

    (Effects and the other internal values here are plain ``__slots__`` classes: a dataclass costs ~0.4 ms to create
    at import time, which a cold start pays.)"""

    __slots__ = ("compression", "credentials", "metadata", "method", "request", "timeout", "wait_for_ready")

    def __init__(
        self,
        method: str,
        request: bytes,
        timeout: float | None,
        metadata: Metadata,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> None:
        self.method = method
        self.request = request
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression

    def __repr__(self) -> str:
        return f"Rpc({self.method.rsplit('/', 1)[-1]}, {len(self.request)} bytes, timeout={self.timeout})"


class Sleep:
    """Effect: wait ``seconds`` before the flow goes on."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Sleep({self.seconds:.3f})"


Effect = Rpc | Sleep
Flow = Generator[Effect, Any, T]


class Runner:
    """Steps a flow for a driver: ``next_effect()`` until it returns None, then read ``result``."""

    def __init__(self, flow: Flow[Any]) -> None:
        self._flow = flow
        self._step: Callable[[Any], Effect] = flow.send
        self._arg: Any = None
        self.result: Any = None

    def next_effect(self) -> Effect | None:
        try:
            return self._step(self._arg)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def succeeded(self, value: Any) -> None:
        self._step, self._arg = self._flow.send, value

    def failed(self, error: BaseException) -> None:
        self._step, self._arg = self._flow.throw, error


@dataclass(frozen=True)
class Retry:
    """Bounded, jittered exponential backoff for read-only RPCs (never for a non-idempotent Import).

    Delay ``n`` is drawn from ``[d/2, d]`` with ``d = min(maximum, initial * multiplier**n)``; at most ``attempts``
    tries in all, and never past the caller's deadline.
    """

    initial: float = 0.1
    maximum: float = 2.0
    multiplier: float = 2.0
    attempts: int = 5

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        if rng is None:
            import random  # only when a retry actually happens: keeps `import pymilvus_import` cheap

            rng = random.Random()
        draw = rng.uniform
        delay = self.initial
        for _ in range(self.attempts - 1):
            capped = min(self.maximum, delay)
            yield draw(capped / 2, capped)
            delay *= self.multiplier


class CallOptions:
    """The caller's gRPC call options, passed to every RPC untouched (``timeout`` is the whole call's deadline)."""

    __slots__ = ("compression", "credentials", "metadata", "timeout", "wait_for_ready")

    def __init__(
        self,
        timeout: float | None = None,
        metadata: Metadata = (),
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> None:
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def call_options(
    timeout: float | None = None,
    metadata: Sequence[tuple[str, str | bytes]] | None = None,
    credentials: Any = None,
    wait_for_ready: bool | None = None,
    compression: Any = None,
) -> CallOptions:
    """Check the caller's call options before any RPC. Messages name metadata keys, never metadata values."""
    if timeout is None and metadata is None and credentials is None and wait_for_ready is None and compression is None:
        return _NO_CALL_OPTIONS
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0
    ):
        raise InvalidInputError(
            f"timeout must be a finite positive number of seconds (None for no deadline), got {timeout!r}",
            value=timeout,
        )
    if metadata is not None and (isinstance(metadata, (str, bytes)) or not isinstance(metadata, Iterable)):
        raise InvalidInputError(
            f"metadata must be a sequence of (key, value) tuples, got {type(metadata).__name__} {metadata!r}",
            value=metadata,
            field="metadata",
        )
    pairs: list[tuple[str, str | bytes]] = []
    for entry in metadata or ():
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
            shown = _describe_entry(entry)
            raise InvalidInputError(
                f"metadata entries must be (key, value) tuples with a string key, got {shown}",
                value=shown,
                field="metadata",
            )
        key, value = entry
        if key != key.lower() or not key:
            raise InvalidInputError(
                f"metadata key {key!r} must be non-empty and lower-case (gRPC rule)", value=key, field="metadata"
            )
        want_bytes = key.endswith("-bin")
        if (want_bytes and not isinstance(value, bytes)) or (not want_bytes and not isinstance(value, str)):
            kind = "bytes" if want_bytes else "str"
            raise InvalidInputError(
                f"metadata value for {key!r} must be {kind}, got {type(value).__name__}", value=key, field="metadata"
            )
        pairs.append((key, value))
    return CallOptions(timeout, tuple(pairs), credentials, wait_for_ready, compression)


_SECRET_KEYS = ("authorization", "token", "password", "api-key", "apikey", "x-api-key")


_NO_CALL_OPTIONS = CallOptions()


def _describe_entry(entry: object) -> str:
    """A bad metadata entry for a message: its repr, with the values of secret-looking keys masked."""
    if isinstance(entry, (list, tuple)) and entry and isinstance(entry[0], str) and entry[0].lower() in _SECRET_KEYS:
        masked = [entry[0], *("***" for _ in entry[1:])]
        return repr(tuple(masked) if isinstance(entry, tuple) else masked)
    return repr(entry)


class Session:
    """What one channel knows: where it points (credentials masked), its retry policy for read-only RPCs, and the
    server version once learned (asked at most once per channel)."""

    __slots__ = ("retry", "server_version", "target")

    def __init__(self, target: str, retry: Retry | None = None, server_version: str | None = None) -> None:
        self.target = target
        self.retry = retry if retry is not None else Retry()
        self.server_version = server_version

    def __repr__(self) -> str:
        return f"Session(target={self.target!r}, server_version={self.server_version!r})"


class Identity:
    """Who calls and in which database: the ``authorization`` metadata value (a secret) and the default database."""

    __slots__ = ("authorization", "db_name")

    def __init__(self, authorization: str | None = None, db_name: str | None = None) -> None:
        self.authorization = authorization
        self.db_name = db_name

    def __repr__(self) -> str:
        return f"Identity(authorization={'***' if self.authorization else None}, db_name={self.db_name!r})"


class Deadline:
    """The caller's ``timeout`` as an absolute deadline, shared by every RPC of one call."""

    def __init__(self, timeout: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = None if timeout is None else clock() + timeout

    def remaining(self) -> float | None:
        return None if self._at is None else self._at - self._clock()

    def allows(self, seconds: float) -> bool:
        left = self.remaining()
        return left is None or left > seconds


def merge_metadata(user: Metadata, authorization: str | None, db_name: str | None) -> Metadata:
    """The caller's entries, then ``authorization`` and ``dbname`` unless the caller set those keys (theirs win)."""
    keys = {k for k, _ in user}
    extra: list[tuple[str, str | bytes]] = []
    if authorization and "authorization" not in keys:
        extra.append(("authorization", authorization))
    if db_name and "dbname" not in keys:
        extra.append(("dbname", db_name))
    return user + tuple(extra)


def status_code(status: _wire.StatusReply) -> int:
    """``Status.code``, falling back to the legacy ``error_code`` that Milvus 2.3 still uses."""
    return status.code if status.code else status.error_code


_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def supports_idempotency(version: str | None) -> bool:
    """Milvus honours ``idempotency_key`` from 2.6.24 on the 2.6 line and from 3.0.2 on."""
    parsed = parse_version(version or "")
    if parsed is None:
        return False
    if parsed >= (3, 0, 2):
        return True
    return (2, 6, 24) <= parsed < (3, 0, 0)


def _rpc(method: str, request: bytes, deadline: Deadline, metadata: Metadata, call: CallOptions) -> Rpc:
    return Rpc(method, request, deadline.remaining(), metadata, call.credentials, call.wait_for_ready, call.compression)


def _check_deadline(session: Session, deadline: Deadline, method: str) -> None:
    left = deadline.remaining()
    if left is not None and left <= 0:
        raise DeadlineExceededError(
            f"{method.rsplit('/', 1)[-1]} to {session.target} not sent: the call's timeout ran out",
            code=grpc.StatusCode.DEADLINE_EXCEEDED,
            details="deadline passed before the request was sent",
            target=session.target,
            method=method,
        )


def read_only_call(
    session: Session,
    method: str,
    request: bytes,
    decode: Callable[[bytes], T],
    deadline: Deadline,
    metadata: Metadata,
    call: CallOptions,
) -> Flow[T]:
    """One read-only RPC, retried on UNAVAILABLE with the session's backoff, inside the caller's deadline."""
    delays = session.retry.delays()
    while True:
        _check_deadline(session, deadline, method)
        try:
            data = yield _rpc(method, request, deadline, metadata, call)
        except grpc.RpcError as error:
            delay = next(delays, None)
            if error.code() != grpc.StatusCode.UNAVAILABLE or delay is None or not deadline.allows(delay):
                raise from_grpc_error(error, target=session.target, method=method) from error
            log.debug("%s to %s unavailable; retrying in %.2fs", method, session.target, delay)
            yield Sleep(delay)
            continue
        return decode(data)


def server_version(session: Session, deadline: Deadline, metadata: Metadata, call: CallOptions) -> Flow[str]:
    """The server's version string, asked once per session (channel) and cached."""
    if session.server_version is None:
        reply = yield from read_only_call(
            session,
            _wire.GET_VERSION,
            _wire.encode_get_version_request(),
            _wire.decode_get_version_response,
            deadline,
            metadata,
            call,
        )
        code = status_code(reply.status)
        if code:
            raise ServerError(
                f"GetVersion on {session.target} failed with status {code}: {reply.status.reason}",
                status=code,
                server_message=reply.status.reason,
                retriable=reply.status.retriable,
            )
        session.server_version = reply.version
    return session.server_version


def _import_once(
    session: Session, request: bytes, deadline: Deadline, metadata: Metadata, call: CallOptions
) -> Flow[_wire.ImportReply]:
    """Send one Import. Retried only on UNAVAILABLE, and only when the server dedupes by idempotency key."""
    delays = session.retry.delays()
    while True:
        _check_deadline(session, deadline, _wire.IMPORT)
        try:
            data = yield _rpc(_wire.IMPORT, request, deadline, metadata, call)
        except grpc.RpcError as error:
            mapped = from_grpc_error(error, target=session.target, method=_wire.IMPORT)
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise mapped from error
            delay = next(delays, None)
            if delay is None or not deadline.allows(delay):
                raise mapped from error
            try:
                version = yield from server_version(session, deadline, metadata, call)
            except MilvusImportError:
                raise mapped from error
            if not supports_idempotency(version):
                log.debug(
                    "Import to %s unavailable; not retried (server %s ignores idempotency keys)",
                    session.target,
                    version,
                )
                raise mapped from error
            log.debug("Import to %s unavailable; retrying with the same idempotency key", session.target)
            yield Sleep(delay)
            continue
        return _wire.decode_import_response(data)


def _job_ids(reply: _wire.ImportReply) -> tuple[str, ...]:
    if not reply.status.present:
        raise MalformedReplyError("the server's Import reply carries no status; cannot tell whether it succeeded")
    code = status_code(reply.status)
    if code:
        failed = BulkImportResponse(status=code, message=reply.status.reason, data=BulkImportData("", ()))
        hint = " (retriable)" if reply.status.retriable else ""
        raise BulkImportError(
            f"Import refused by the server with status {code}{hint}: {reply.status.reason}",
            status=code,
            server_message=reply.status.reason,
            retriable=reply.status.retriable,
            response=failed,
        )
    if not reply.tasks:
        raise MalformedReplyError("the server accepted the Import but its reply carries no job id")
    if any(task <= 0 for task in reply.tasks):
        raise MalformedReplyError(f"the server accepted the Import but answered impossible job ids {list(reply.tasks)}")
    return tuple(str(task) for task in reply.tasks)


def fresh_idempotency_keys() -> Iterator[str]:
    while True:
        yield os.urandom(16).hex()


def bulk_import_flow(
    session: Session,
    identity: Identity,
    option: BulkImportOption,
    call: CallOptions,
    fresh_keys: Iterator[str] | None = None,
) -> Flow[BulkImportResponse]:
    """Validate ``option``, send one Import per file group in order, and collect the job ids.

    A failure at group ``k`` raises with ``created_job_ids`` holding the ids of groups ``0..k-1``.
    """
    option.check()
    keys = option.idempotency_keys(fresh_keys or fresh_idempotency_keys())
    db_name = option.db_name or identity.db_name or ""
    auth = authorization_value(token=option.api_key, user=None, password=None) or identity.authorization
    metadata = merge_metadata(call.metadata, auth, db_name)
    deadline = Deadline(call.timeout)
    job_ids: list[str] = []
    for index, (group, key) in enumerate(zip(option.files, keys, strict=True)):
        request = _wire.encode_import_request(
            collection_name=option.collection_name,
            partition_name=option.partition_name,
            files=group,
            options=option.options,
            db_name=db_name,
            idempotency_key=key,
        )
        log.debug("Import group %d (%d files) of %r to %s", index, len(group), option.collection_name, session.target)
        try:
            reply = yield from _import_once(session, request, deadline, metadata, call)
            job_ids.extend(_job_ids(reply))
        except MilvusImportError as error:
            error._with_progress(job_ids, index, group)
            raise
    return BulkImportResponse(status=0, message="", data=BulkImportData(job_ids[0], tuple(job_ids)))
