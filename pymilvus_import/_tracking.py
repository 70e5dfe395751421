"""Following import jobs, with no I/O: where one job stands, which jobs the server lists, and waiting for jobs to
finish on an adaptive poll schedule.

    progress_flow ──► read_only_call ──► Rpc(GetImportState)
    list_flow ──────► read_only_call ──► Rpc(ListImportTasks)
    wait_flow ──────► progress_flow per unfinished job ... Sleep(PollSchedule.next), Notify(on_progress)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from . import _wire
from ._calls import MAX_SECONDS, CallOptions, Deadline
from ._effects import Flow, Notify, Sleep
from ._errors import (
    DeadlineExceededError,
    ImportFailedError,
    ImportJobNotFoundError,
    ImportTimeoutError,
    InvalidInputError,
    MilvusImportError,
    is_transient,
    seconds_text,
)
from ._identity import Identity, decide
from ._inputs import items_of
from ._models import FAILED, BulkImportResponse, ImportJobRecord, ImportProgress
from ._options import check_name
from ._secrets import shown
from ._session import Session, read_only_call

log = logging.getLogger("pymilvus_import")

ProgressCallback = Callable[[ImportProgress], object]


# ------------------------------------------------------------------------------------------------ job ids
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


def job_ids_of(jobs: BulkImportResponse | Iterable[object] | str | int) -> tuple[str, ...]:
    """What ``wait_for_import`` accepts: a BulkImportResponse, one job id, or several. Each job once, in the order
    first asked (the same id twice is one job: Milvus 2.6.24+ answers a repeated idempotency key with the same id)."""
    if isinstance(jobs, BulkImportResponse):
        ids: Sequence[object] = jobs.data.job_ids
    elif isinstance(jobs, (str, int)):
        ids = [jobs]
    elif isinstance(jobs, Iterable) and not isinstance(jobs, (bytes, bytearray, memoryview)):
        ids = items_of(jobs, "wait_for_import(jobs=...)", "jobs")
    else:
        raise InvalidInputError(
            f"expected a BulkImportResponse, a job id or a list of job ids, got {type(jobs).__name__} {shown(jobs)}",
            value=jobs,
            field="jobs",
        )
    if not ids:
        raise InvalidInputError("no job ids to wait for", value=jobs, field="jobs")
    return tuple(dict.fromkeys(str(job_id_number(i)) for i in ids))


# ------------------------------------------------------------------------------------------------ progress, list
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
    a wait without a timeout. A transient failure (``_errors.is_transient``: the server away, slow, busy, or
    a retriable status) is ridden out; any other error is raised at once.
    """
    job_ids = job_ids_of(jobs)
    schedule = PollSchedule(poll_initial, poll_max)
    clock = session.clock
    started = clock()
    deadline = session.deadline(call.timeout)
    latest: dict[str, ImportProgress] = {}
    unreachable_since: float | None = None
    last_error: MilvusImportError | None = None
    in_flight: MilvusImportError | None = None  # a poll the wait's own deadline cut off
    while True:
        moved = False
        for job_id in job_ids:
            if job_id in latest and latest[job_id].done:
                continue
            if not deadline.allows(0):
                break  # the wait's own time is up (not the server's fault): reported below as ImportTimeoutError
            # A poll given only what is left of the wait (less than its own POLL_RPC_TIMEOUT) and cut off by it is
            # the wait's timeout running out mid-poll, not evidence that the server is away.
            clipped = not deadline.allows(POLL_RPC_TIMEOUT)
            try:
                progress = yield from progress_flow(session, identity, job_id, call, deadline.within(POLL_RPC_TIMEOUT))
            except ImportJobNotFoundError as error:
                last = latest.get(job_id)
                known = f"{last.state} {last.progress}%, {last.imported_rows} rows" if last else "no state seen yet"
                error.message += f" (it vanished while being waited for; last known: {known})"
                raise
            except MilvusImportError as error:
                if not is_transient(error):
                    raise
                if clipped and isinstance(error, DeadlineExceededError) and not deadline.allows(0):
                    in_flight = error
                    break
                # Polling only reads and the job runs on regardless: ride out an unreachable, slow or
                # rate-limiting server within the wait's timeout (or UNAVAILABLE_GRACE without one).
                unreachable_since = clock() if unreachable_since is None else unreachable_since
                if call.timeout is None and clock() - unreachable_since >= UNAVAILABLE_GRACE:
                    raise
                log.debug("polling job %s: %s; still waiting", job_id, error)
                last_error = error
                break
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
            if last_error is not None:
                ending = f"; the server was unreachable at the end: {last_error}"
            elif in_flight is not None:
                ending = "; the last poll was still unanswered when the time ran out"
            else:
                ending = ""
            raise ImportTimeoutError(
                f"import jobs {list(job_ids)} not finished after {seconds_text(call.timeout)}: {known}{ending}",
                progress=[latest[j] for j in job_ids if j in latest],
            ) from (last_error or in_flight)
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
