"""Following import jobs, with no I/O: progress replies to values, listing, and the adaptive wait schedule."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from . import _wire
from ._core import CallOptions, Deadline, Flow, Identity, Session, Sleep, merge_metadata, read_only_call, status_code
from ._errors import (
    DeadlineExceededError,
    ImportFailed,
    ImportJobNotFound,
    ImportTimeout,
    InvalidInputError,
    MalformedReplyError,
    RateLimitedError,
    ServerError,
    ServerUnavailableError,
)
from ._models import COMPLETED, FAILED, IMPORTING, PENDING, BulkImportResponse, ImportJobRecord, ImportProgress

if TYPE_CHECKING:
    from datetime import datetime

log = logging.getLogger("pymilvus_import")

#: Every ImportState of both server generations, mapped to the four names of the REST API.
STATES: dict[str, str] = {
    "ImportPending": PENDING,
    "ImportStarted": IMPORTING,
    "ImportPersisted": IMPORTING,
    "ImportFlushed": IMPORTING,
    "ImportCompleted": COMPLETED,
    "ImportFailed": FAILED,
    "ImportFailedAndCleaned": FAILED,
}
_NOT_FOUND_MARKERS = ("does not exist", "key not found", "not found")

#: One poll RPC may take at most this long, so a hung server cannot stall a wait that has no timeout.
POLL_RPC_TIMEOUT = 30.0


def job_id_number(job_id: object) -> int:
    """A job id as the int64 the wire carries; accepts ``"123"`` or ``123``."""
    text = str(job_id).strip() if isinstance(job_id, (str, int)) and not isinstance(job_id, bool) else ""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise InvalidInputError(f"job id must be a positive integer (or its string), got {job_id!r}", value=job_id)
    return int(text)


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


def _state_of(state: int) -> tuple[str, str]:
    raw = _wire.IMPORT_STATE_NAMES.get(state)
    if raw is None:
        raise MalformedReplyError(f"the server reported an unknown import state {state}; upgrade pymilvus-import?")
    return STATES[raw], raw


def _progress_value(infos: dict[str, str], state: str) -> int:
    text = infos.pop("progress_percent", None)
    if text is None or text == "":
        return 100 if state == COMPLETED else 0
    try:
        value = int(float(text))
    except (ValueError, OverflowError):
        raise MalformedReplyError(f"the server reported a non-numeric progress {text!r}") from None
    return max(0, min(100, value))


def _check_status(status: _wire.StatusReply, job_id: str | None, what: str, target: str) -> None:
    if not status.present:
        raise MalformedReplyError(f"the server's {what} reply carries no status")
    code = status_code(status)
    if not code:
        return
    reason = status.reason
    if job_id is not None and any(marker in reason for marker in _NOT_FOUND_MARKERS):
        raise ImportJobNotFound(
            f"import job {job_id} is not known to {target} (unknown id, or finished more than ~3 h ago): {reason}",
            job_id=job_id,
        )
    raise ServerError(
        f"{what} on {target} failed with status {code}: {reason}",
        status=code,
        server_message=reason,
        retriable=status.retriable,
    )


def progress_from_reply(job_id: str, reply: _wire.ImportStateReply) -> ImportProgress:
    """Turn a GetImportState reply into :class:`ImportProgress` (status already checked)."""
    state, raw = _state_of(reply.state)
    infos = dict(reply.infos)
    progress = _progress_value(infos, state)
    reason = infos.pop("failed_reason", "")
    return ImportProgress(
        job_id=job_id,
        state=state,
        progress=progress,
        imported_rows=reply.row_count,
        reason=reason,
        create_time=_create_time(reply.create_ts),
        raw_state=raw,
        infos=MappingProxyType(infos),
    )


def record_from_reply(reply: _wire.ImportStateReply) -> ImportJobRecord:
    state, raw = _state_of(reply.state)
    infos = dict(reply.infos)
    return ImportJobRecord(
        job_id=str(reply.id) if reply.id else None,
        collection_name=infos.get("collection", ""),
        state=state,
        progress=_progress_value(infos, state),
        reason=infos.get("failed_reason", ""),
        imported_rows=reply.row_count if reply.row_count or state == COMPLETED else None,
        raw_state=raw,
    )


def _poll_call(call: CallOptions, deadline: Deadline) -> tuple[Deadline, CallOptions]:
    left = deadline.remaining()
    per_rpc = POLL_RPC_TIMEOUT if left is None else max(0.0, min(left, POLL_RPC_TIMEOUT))
    return Deadline(per_rpc), call


def get_progress_flow(
    session: Session, identity: Identity, job_id: object, call: CallOptions, deadline: Deadline | None = None
) -> Flow[ImportProgress]:
    """GetImportState for one job, as :class:`ImportProgress`; unknown or expired ids raise ImportJobNotFound."""
    number = job_id_number(job_id)
    deadline = deadline or Deadline(call.timeout)
    metadata = merge_metadata(call.metadata, identity.authorization, identity.db_name)
    reply = yield from read_only_call(
        session,
        _wire.GET_IMPORT_STATE,
        _wire.encode_get_import_state_request(number),
        _wire.decode_get_import_state_response,
        deadline,
        metadata,
        call,
    )
    _check_status(reply.status, str(number), "GetImportState", session.target)
    return progress_from_reply(str(number), reply)


def list_jobs_flow(
    session: Session, identity: Identity, collection_name: str | None, limit: int | None, call: CallOptions
) -> Flow[list[ImportJobRecord]]:
    """ListImportTasks; ``limit`` is also applied here because Milvus 2.4+ ignores it."""
    if collection_name is not None and (not isinstance(collection_name, str) or not collection_name.strip()):
        raise InvalidInputError(f"collection name must be a non-empty string, got {collection_name!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise InvalidInputError(f"limit must be a positive integer, got {limit!r}", value=limit)
    metadata = merge_metadata(call.metadata, identity.authorization, identity.db_name)
    request = _wire.encode_list_import_tasks_request(
        collection_name=collection_name or "", limit=limit or 0, db_name=identity.db_name or ""
    )
    reply = yield from read_only_call(
        session,
        _wire.LIST_IMPORT_TASKS,
        request,
        _wire.decode_list_import_tasks_response,
        Deadline(call.timeout),
        metadata,
        call,
    )
    _check_status(reply.status, None, "ListImportTasks", session.target)
    records = [record_from_reply(task) for task in reply.tasks]
    return records[:limit] if limit else records


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
        )
    if not ids:
        raise InvalidInputError("no job ids to wait for", value=jobs)
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
        if not (isinstance(initial, (int, float)) and isinstance(maximum, (int, float)) and 0 < initial <= maximum):
            raise InvalidInputError(
                f"poll intervals must satisfy 0 < poll_initial <= poll_max, got {initial!r} and {maximum!r}",
                value=(initial, maximum),
            )
        self.initial = float(initial)
        self.maximum = float(maximum)
        self.interval = self.initial

    def next(self, moved: bool, waited: float = 0.0) -> float:
        """The delay before the next poll, given whether any job moved and how long the wait has run."""
        cap = min(self.maximum, max(self.initial, self.FLOOR_CAP, self.AGE_FRACTION * waited))
        self.interval = self.initial if moved else min(cap, self.interval * 1.5)
        return self.interval


#: How long a wait without a timeout rides out an unreachable server before it reports the problem.
UNAVAILABLE_GRACE = 60.0


def wait_flow(
    session: Session,
    identity: Identity,
    jobs: BulkImportResponse | Iterable[object] | str | int,
    call: CallOptions,
    *,
    poll_initial: float = 0.1,
    poll_max: float = 2.0,
    on_progress: Callable[[ImportProgress], object] | None = None,
    clock: Callable[[], float] | None = None,
) -> Flow[tuple[ImportProgress, ...]]:
    """Poll every job until all are Completed or Failed; ``call.timeout`` bounds the whole wait.

    Raises ImportFailed (with every final state) when a job failed, ImportTimeout (with the last progress) when the
    timeout passes, ImportJobNotFound when a job vanishes, and the transport error when the server stays unreachable
    past the timeout (or ``UNAVAILABLE_GRACE`` without one).
    """
    job_ids = job_ids_of(jobs)
    schedule = PollSchedule(poll_initial, poll_max)
    now = clock or time.monotonic
    started = now()
    deadline = Deadline(call.timeout, now)
    latest: dict[str, ImportProgress] = {}
    unreachable_since: Deadline | None = None
    last_error: Exception | None = None
    while True:
        moved = False
        for job_id in job_ids:
            if job_id in latest and latest[job_id].done:
                continue
            if not deadline.allows(0):
                break  # the wait's own time is up (not the server's fault): reported below as ImportTimeout
            poll_deadline, poll = _poll_call(call, deadline)
            try:
                progress = yield from get_progress_flow(session, identity, job_id, poll, poll_deadline)
            except (ServerUnavailableError, DeadlineExceededError, RateLimitedError, ServerError) as error:
                if isinstance(error, ServerError) and not error.retriable:
                    raise
                # Polling only reads and the job runs on regardless: ride out an unreachable, slow or
                # rate-limiting server within the wait's timeout (or UNAVAILABLE_GRACE without one).
                unreachable_since = unreachable_since or Deadline(None if call.timeout else UNAVAILABLE_GRACE)
                if deadline.allows(0) and not unreachable_since.allows(0):
                    raise
                log.debug("polling job %s: %s; still waiting", job_id, error)
                last_error = error
                break
            except ImportJobNotFound as error:
                last = latest.get(job_id)
                known = f"{last.state} {last.progress}%, {last.imported_rows} rows" if last else "no state seen yet"
                error.message += f" (it vanished while being waited for; last known: {known})"
                raise
            unreachable_since = last_error = None
            previous = latest.get(job_id)
            if previous is None or (previous.state, previous.progress) != (progress.state, progress.progress):
                moved = True
                if on_progress is not None:
                    on_progress(progress)
            latest[job_id] = progress
        if len(latest) == len(job_ids) and all(p.done for p in latest.values()):
            break
        left = deadline.remaining()
        if left is not None and left <= 0:
            known = ", ".join(f"{p.job_id} {p.state} {p.progress}%" for p in latest.values()) or "no state known yet"
            unreachable = f"; the server was unreachable at the end: {last_error}" if last_error else ""
            raise ImportTimeout(
                f"import jobs {list(job_ids)} not finished after {call.timeout}s: {known}{unreachable}",
                progress=[latest[j] for j in job_ids if j in latest],
            ) from last_error
        delay = schedule.next(moved, now() - started)
        yield Sleep(delay if left is None else max(0.0, min(delay, left)))
    final = tuple(latest[j] for j in job_ids)
    failed = [p for p in final if p.state == FAILED]
    if failed:
        raise ImportFailed(
            f"import job {failed[0].job_id} failed: {failed[0].reason or '(the server gave no reason)'}"
            + (f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else ""),
            reason=failed[0].reason,
            progress=final,
        )
    return final
