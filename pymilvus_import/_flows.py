"""The protocol's decisions, with no I/O: what to send, in which order, when to retry, poll or give up.

Each operation is a *flow*: a generator that yields effects (:class:`Rpc`, :class:`Sleep`) and receives their
results (reply bytes, or a ``grpc.RpcError`` thrown in). The sync and asyncio transports only perform the effects;
every decision lives here once, and tests drive a flow with plain values and a fake clock (``Session.clock`` is the
one clock every deadline of a flow reads).

    bulk_import_flow ──► import_once ──► Rpc(Import)            one per file group, in order
    progress_flow ─────► read_only_call ──► Rpc(GetImportState)  retried on UNAVAILABLE with Retry
    list_flow ─────────► read_only_call ──► Rpc(ListImportTasks)
    wait_flow ─────────► progress_flow ... Sleep(PollSchedule)   until every job is Completed or Failed
    server_version ────► read_only_call ──► Rpc(GetVersion)      once per channel
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from . import _wire
from ._calls import MAX_SECONDS, CallOptions, Clock, Deadline, Identity, Metadata, is_positive_number
from ._errors import (
    DeadlineExceededError,
    ImportFailedError,
    ImportJobNotFoundError,
    ImportTimeoutError,
    InvalidInputError,
    MilvusImportError,
    RateLimitedError,
    ServerError,
    ServerUnavailableError,
    from_grpc_error,
)
from ._identity import decide
from ._models import FAILED, BulkImportData, BulkImportResponse, ImportJobRecord, ImportProgress
from ._options import BulkImportOption, check_name
from ._secrets import shown

if TYPE_CHECKING:
    import random

log = logging.getLogger("pymilvus_import")

T = TypeVar("T")


# ------------------------------------------------------------------------------------------------ effects
class Rpc:
    """Effect: call ``method`` with the serialized ``request``; the flow receives the reply bytes.

    (Effects and the other internal values here are plain ``__slots__`` classes: a dataclass costs ~0.4 ms to create
    at import time, which a cold start pays.)"""

    __slots__ = ("call", "metadata", "method", "request", "timeout")

    def __init__(self, method: str, request: bytes, timeout: float | None, metadata: Metadata, call: CallOptions):
        self.method = method
        self.request = request
        self.timeout = timeout
        self.metadata = metadata
        self.call = call

    def __repr__(self) -> str:
        return f"Rpc({self.method.rsplit('/', 1)[-1]}, {len(self.request)} bytes, timeout={self.timeout})"


class Sleep:
    """Effect: wait ``seconds`` before the flow goes on."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Sleep({self.seconds:.3f})"


class Notify:
    """Effect: call the user's ``on_progress`` callback (the transport awaits it when it is a coroutine function
    on the asyncio client)."""

    __slots__ = ("callback", "progress")

    def __init__(self, callback: Callable[[ImportProgress], object], progress: ImportProgress) -> None:
        self.callback = callback
        self.progress = progress


Effect = Rpc | Sleep | Notify
Flow = Generator[Effect, Any, T]


class Runner:
    """Steps a flow for a transport: ``next_effect()`` until it returns None, then read ``result``."""

    __slots__ = ("_arg", "_flow", "_step", "result")

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

    def interrupted(self, error: BaseException) -> None:
        """An effect was interrupted (KeyboardInterrupt, task cancelled): let the flow note what it has done so far
        on ``error`` (e.g. ``created_job_ids``); the transport then re-raises ``error`` itself."""
        try:
            self._flow.throw(error)
        except BaseException as raised:  # the flow re-raises it: that is the expected way out
            if raised is not error:
                raise
        else:  # pragma: no cover - no flow catches an interruption and goes on
            self._flow.close()


# ------------------------------------------------------------------------------------------------ retry, session
@dataclass(frozen=True)
class Retry:
    """Bounded, jittered exponential backoff for read-only RPCs (never for a non-idempotent Import).

    Delay ``n`` is drawn from ``[d/2, d]`` with ``d = min(maximum, initial * multiplier**n)``; at most ``attempts``
    tries in all, and never past the caller's deadline. ``Retry(attempts=1)`` turns retrying off.
    """

    initial: float = 0.1
    maximum: float = 2.0
    multiplier: float = 2.0
    attempts: int = 5

    def __post_init__(self) -> None:
        for name in ("initial", "maximum", "multiplier"):
            value = getattr(self, name)
            if not is_positive_number(value):
                raise InvalidInputError(
                    f"Retry({name}=...) must be a positive number up to {MAX_SECONDS:g}, got {shown(value)}",
                    value=value,
                    field=name,
                )
        if self.multiplier < 1 or self.initial > self.maximum:
            raise InvalidInputError(
                f"Retry needs multiplier >= 1 and initial <= maximum, got {self!r}", value=self, field="retry"
            )
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise InvalidInputError(
                f"Retry(attempts=...) must be an integer >= 1, got {self.attempts!r}",
                value=self.attempts,
                field="attempts",
            )

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        if rng is None:
            import random  # only when a retry actually happens: keeps `import pymilvus_import` cheap

            rng = random.Random()
        delay = self.initial
        for _ in range(self.attempts - 1):
            capped = min(self.maximum, delay)
            yield rng.uniform(capped / 2, capped)
            delay *= self.multiplier


class Session:
    """What one channel knows: where it points (credentials masked), its retry policy for read-only RPCs, the
    server version once learned (asked at most once per channel), and the clock every deadline reads."""

    __slots__ = ("clock", "retry", "server_version", "target")

    def __init__(self, target: str, retry: Retry | None = None, clock: Clock = time.monotonic) -> None:
        self.target = target
        self.retry = retry if retry is not None else Retry()
        self.server_version: str | None = None
        self.clock = clock

    def __repr__(self) -> str:
        return f"Session(target={self.target!r}, server_version={self.server_version!r})"

    def deadline(self, timeout: float | None) -> Deadline:
        return Deadline(timeout, self.clock)


# ------------------------------------------------------------------------------------------------ one RPC
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
    session: Session, method: str, request: bytes, deadline: Deadline, metadata: Metadata, call: CallOptions
) -> Flow[bytes]:
    """One read-only RPC, retried on UNAVAILABLE with the session's backoff, inside the caller's deadline."""
    delays = session.retry.delays()
    while True:
        _check_deadline(session, deadline, method)
        try:
            return (yield Rpc(method, request, deadline.remaining(), metadata, call))  # type: ignore[no-any-return]
        except grpc.RpcError as error:
            delay = next(delays, None)
            if error.code() != grpc.StatusCode.UNAVAILABLE or delay is None or not deadline.allows(delay):
                raise from_grpc_error(error, target=session.target, method=method) from error
            log.debug("%s to %s unavailable; retrying in %.2fs", method, session.target, delay)
            yield Sleep(delay)


def server_version(session: Session, identity: Identity, call: CallOptions) -> Flow[str]:
    """The server's version string (e.g. ``"v2.3.5-lite"``), asked once per session (channel) and cached."""
    if session.server_version is None:
        _db_name, metadata = decide(identity, call)
        data = yield from read_only_call(
            session,
            _wire.GET_VERSION,
            _wire.encode_get_version_request(),
            session.deadline(call.timeout),
            metadata,
            call,
        )
        session.server_version = _wire.decode_get_version_response(data, session.target)
    return session.server_version


_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def supports_idempotency(version: str | None) -> bool:
    """Milvus honours ``idempotency_key`` from 2.6.24 on the 2.6 line and from 3.0.2 on."""
    parsed = parse_version(version or "")
    if parsed is None:
        return False
    return parsed >= (3, 0, 2) or (2, 6, 24) <= parsed < (3, 0, 0)


# ------------------------------------------------------------------------------------------------ import
def fresh_idempotency_keys() -> Iterator[str]:
    while True:
        yield os.urandom(16).hex()


def import_once(
    session: Session, identity: Identity, request: bytes, deadline: Deadline, metadata: Metadata, call: CallOptions
) -> Flow[tuple[str, ...]]:
    """Send one Import; its job ids. Retried only on UNAVAILABLE, and only when the server dedupes by
    idempotency key (a blind retry of a non-idempotent Import could create a duplicate job)."""
    delays = session.retry.delays()
    while True:
        _check_deadline(session, deadline, _wire.IMPORT)
        try:
            data = yield Rpc(_wire.IMPORT, request, deadline.remaining(), metadata, call)
        except grpc.RpcError as error:
            mapped = from_grpc_error(error, target=session.target, method=_wire.IMPORT)
            delay = next(delays, None)
            if error.code() != grpc.StatusCode.UNAVAILABLE or delay is None or not deadline.allows(delay):
                raise mapped from error
            try:
                version = yield from server_version(session, identity, call)
            except MilvusImportError:
                raise mapped from error
            if not supports_idempotency(version):
                log.debug(
                    "Import to %s unavailable; not retried (%s ignores idempotency keys)", session.target, version
                )
                raise mapped from error
            log.debug("Import to %s unavailable; retrying with the same idempotency key", session.target)
            yield Sleep(delay)
            continue
        return _wire.decode_import_response(data, session.target)


def import_context(identity: Identity, option: BulkImportOption, call: CallOptions) -> tuple[str, Metadata]:
    """The database and metadata every RPC of an import call goes with (the preflight's and the Imports'): the
    caller's ``dbname`` header, else the option's database, else the client's; the option's API key, else the
    client's credentials."""
    return decide(identity.for_option(option), call)


def bulk_import_flow(
    session: Session,
    identity: Identity,
    option: BulkImportOption,
    call: CallOptions,
    fresh_keys: Iterator[str] | None = None,
    deadline: Deadline | None = None,
) -> Flow[BulkImportResponse]:
    """Validate ``option``, send one Import per file group in order, and collect the job ids.

    A failure at group ``k`` raises with ``created_job_ids`` holding the ids of groups ``0..k-1``; so does an
    interruption (KeyboardInterrupt, a cancelled task), on which ``created_job_ids`` is set as an attribute and
    named in a note.
    """
    option.check()
    keys = option.idempotency_keys(fresh_keys or fresh_idempotency_keys())
    db_name, metadata = import_context(identity, option, call)
    deadline = deadline or session.deadline(call.timeout)
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
            job_ids.extend((yield from import_once(session, identity, request, deadline, metadata, call)))
        except MilvusImportError as error:
            error._with_progress(job_ids, index, group)
            raise
        except BaseException as interruption:
            if job_ids:
                interruption.created_job_ids = tuple(job_ids)  # type: ignore[attr-defined]
                interruption.group_index = index  # type: ignore[attr-defined]
                interruption.failed_group = tuple(group)  # type: ignore[attr-defined]
                if hasattr(interruption, "add_note"):  # Python 3.11+
                    interruption.add_note(f"pymilvus-import: job ids already created by earlier groups: {job_ids}")
            raise
    return BulkImportResponse(status=0, message="", data=BulkImportData(job_ids[0], tuple(job_ids)))


# ------------------------------------------------------------------------------------------------ progress, list
def job_id_number(job_id: object) -> int:
    """A job id as the int64 the wire carries; accepts ``"123"`` or ``123``."""
    if isinstance(job_id, int) and not isinstance(job_id, bool):
        text = str(int(job_id)) if 0 < job_id < 2**63 else ""  # str() of a 4,300-digit int raises
    else:
        text = str.strip(job_id) if isinstance(job_id, str) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) < 2**63:
        raise InvalidInputError(
            f"job id must be a positive integer (64-bit, or its string), got {shown(job_id)}",
            value=job_id,
            field="job_id",
        )
    return int(text)


def progress_flow(
    session: Session, identity: Identity, job_id: object, call: CallOptions, deadline: Deadline | None = None
) -> Flow[ImportProgress]:
    """GetImportState for one job, as :class:`ImportProgress`; unknown or expired ids raise
    ImportJobNotFoundError."""
    number = job_id_number(job_id)
    _db_name, metadata = decide(identity, call)
    request = _wire.encode_get_import_state_request(number)
    deadline = deadline or session.deadline(call.timeout)
    data = yield from read_only_call(session, _wire.GET_IMPORT_STATE, request, deadline, metadata, call)
    return _wire.decode_get_import_state_response(data, session.target, str(number))


def list_flow(
    session: Session, identity: Identity, collection_name: str | None, limit: int | None, call: CallOptions
) -> Flow[list[ImportJobRecord]]:
    """ListImportTasks; ``limit`` is also applied here because Milvus 2.4+ ignores it."""
    if collection_name is not None:
        check_name(collection_name, "collection name", required=True)  # the option builder's rule, sent the same
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit < 2**63):
        raise InvalidInputError(
            f"limit must be a positive 64-bit integer, got {shown(limit)}", value=limit, field="limit"
        )
    db_name, metadata = decide(identity, call)
    request = _wire.encode_list_import_tasks_request(
        collection_name=collection_name or "", limit=limit or 0, db_name=db_name
    )
    data = yield from read_only_call(
        session, _wire.LIST_IMPORT_TASKS, request, session.deadline(call.timeout), metadata, call
    )
    records = _wire.decode_list_import_tasks_response(data, session.target)
    return records[:limit] if limit else records


# ------------------------------------------------------------------------------------------------ wait
def job_ids_of(jobs: BulkImportResponse | Iterable[object] | str | int) -> tuple[str, ...]:
    """What ``wait_for_import`` accepts: a BulkImportResponse, one job id, or several."""
    if isinstance(jobs, BulkImportResponse):
        ids: Sequence[object] = jobs.data.job_ids
    elif isinstance(jobs, (str, int)):
        ids = [jobs]
    elif isinstance(jobs, Iterable) and not isinstance(jobs, (bytes, bytearray, memoryview)):
        ids = list(jobs)
    else:
        raise InvalidInputError(
            f"expected a BulkImportResponse, a job id or a list of job ids, got {type(jobs).__name__} {jobs!r}",
            value=jobs,
            field="jobs",
        )
    if not ids:
        raise InvalidInputError("no job ids to wait for", value=jobs, field="jobs")
    return tuple(str(job_id_number(i)) for i in ids)


class PollSchedule:
    """When to poll next: start at ``initial``, grow 1.5x, and start fast again whenever a job moves (a changing
    job is likely to finish soon).

    The interval is capped at ``max(0.25 s, 5 % of the time waited so far)`` (and never above ``maximum``): a short
    import is noticed within ~0.25 s of finishing, while a long one is polled about twenty times per its age, not
    every few hundred milliseconds for hours. (Measured on Milvus 2.3.5, where a job sits at "Persisted 90 %" for
    seconds with no visible movement: the plain 1.5x growth noticed completion up to 1.1 s late.)"""

    FLOOR_CAP = 0.25
    AGE_FRACTION = 0.05

    def __init__(self, initial: float, maximum: float) -> None:
        if not (
            all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (initial, maximum))
            and 0 < initial <= maximum <= MAX_SECONDS
        ):
            raise InvalidInputError(
                f"poll intervals must satisfy 0 < poll_initial <= poll_max <= {MAX_SECONDS:g}, got {shown(initial)} "
                f"and {shown(maximum)}",
                value=(initial, maximum),
                field="poll_initial",
            )
        self.initial = float(initial)
        self.maximum = float(maximum)
        self.interval = self.initial

    def next(self, moved: bool, waited: float = 0.0) -> float:
        """The delay before the next poll, given whether any job moved and how long the wait has run."""
        cap = min(self.maximum, max(self.initial, self.FLOOR_CAP, self.AGE_FRACTION * waited))
        self.interval = self.initial if moved else min(cap, self.interval * 1.5)
        return self.interval


#: One poll RPC may take at most this long, so a hung server cannot stall a wait that has no timeout.
POLL_RPC_TIMEOUT = 30.0
#: How long a wait without a timeout rides out an unreachable server before it raises the transport error.
UNAVAILABLE_GRACE = 60.0

ProgressCallback = Callable[[ImportProgress], object]


def seconds(value: float | None) -> str:
    """A duration for a message: ``1.5s``, ``600s`` (not ``1.4666204130007827s``)."""
    return "no time" if value is None else f"{value:.1f}".rstrip("0").rstrip(".") + "s"


def wait_flow(
    session: Session,
    identity: Identity,
    jobs: BulkImportResponse | Iterable[object] | str | int,
    call: CallOptions,
    *,
    poll_initial: float = 0.1,
    poll_max: float = 2.0,
    on_progress: ProgressCallback | None = None,
) -> Flow[tuple[ImportProgress, ...]]:
    """Poll every job until all are Completed or Failed; ``call.timeout`` bounds the whole wait.

    Raises ImportFailedError (with every final state) when a job failed, ImportTimeoutError (with the last progress,
    and the last transport error as ``__cause__``) when the timeout passes, ImportJobNotFoundError when a job
    vanishes, and the transport error itself when the server stays unreachable for ``UNAVAILABLE_GRACE`` seconds of
    a wait without a timeout.
    """
    job_ids = job_ids_of(jobs)
    schedule = PollSchedule(poll_initial, poll_max)
    clock = session.clock
    started = clock()
    deadline = session.deadline(call.timeout)
    latest: dict[str, ImportProgress] = {}
    unreachable_since: float | None = None
    last_error: MilvusImportError | None = None
    while True:
        moved = False
        for job_id in job_ids:
            if job_id in latest and latest[job_id].done:
                continue
            if not deadline.allows(0):
                break  # the wait's own time is up (not the server's fault): reported below as ImportTimeoutError
            try:
                progress = yield from progress_flow(session, identity, job_id, call, deadline.within(POLL_RPC_TIMEOUT))
            except (ServerUnavailableError, DeadlineExceededError, RateLimitedError, ServerError) as error:
                if isinstance(error, ServerError) and not error.retriable:
                    raise
                # Polling only reads and the job runs on regardless: ride out an unreachable, slow or
                # rate-limiting server within the wait's timeout (or UNAVAILABLE_GRACE without one).
                unreachable_since = clock() if unreachable_since is None else unreachable_since
                if call.timeout is None and clock() - unreachable_since >= UNAVAILABLE_GRACE:
                    raise
                log.debug("polling job %s: %s; still waiting", job_id, error)
                last_error = error
                break
            except ImportJobNotFoundError as error:
                last = latest.get(job_id)
                known = f"{last.state} {last.progress}%, {last.imported_rows} rows" if last else "no state seen yet"
                error.message += f" (it vanished while being waited for; last known: {known})"
                raise
            unreachable_since = last_error = None
            previous = latest.get(job_id)
            if previous is None or (previous.state, previous.progress) != (progress.state, progress.progress):
                moved = True
                if on_progress is not None:
                    yield Notify(on_progress, progress)
            latest[job_id] = progress
        if len(latest) == len(job_ids) and all(p.done for p in latest.values()):
            break
        left = deadline.remaining()
        if left is not None and left <= 0:
            known = ", ".join(f"{p.job_id} {p.state} {p.progress}%" for p in latest.values()) or "no state known yet"
            unreachable = f"; the server was unreachable at the end: {last_error}" if last_error else ""
            raise ImportTimeoutError(
                f"import jobs {list(job_ids)} not finished after {seconds(call.timeout)}: {known}{unreachable}",
                progress=[latest[j] for j in job_ids if j in latest],
            ) from last_error
        delay = schedule.next(moved, clock() - started)
        yield Sleep(delay if left is None else max(0.0, min(delay, left)))
    final = tuple(latest[j] for j in job_ids)
    failed = [p for p in final if p.state == FAILED]
    if failed:
        raise ImportFailedError(
            f"import job {failed[0].job_id} failed: {failed[0].reason or '(the server gave no reason)'}"
            + (f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else ""),
            reason=failed[0].reason,
            progress=final,
        )
    return final
