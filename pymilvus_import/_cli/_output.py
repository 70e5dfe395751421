"""What ``milvus-import`` shows: tables, summaries, JSON values, the progress display, and secret masking."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

from .._errors import MilvusImportError
from .._models import COMPLETED, FAILED, ImportJobRecord, ImportProgress
from .._plan import ImportPlan
from .._uri import parse_uri


def secrets_of(
    *, token: str | None, user: str | None, password: str | None, uri: str | None, environ: Mapping[str, str]
) -> list[str]:
    """Every secret the process knows, as given and as sent on the wire (base64), longest first.

    ``environ`` is read for masking only: the library, not the CLI, takes ``MILVUS_URI`` and ``MILVUS_TOKEN`` from
    the environment, but whatever it takes may come back in a message, so it is masked here too.
    """
    raw = [token, password, environ.get("MILVUS_TOKEN"), environ.get("MILVUS_PASSWORD")]
    if user is not None and password is not None:
        raw.append(f"{user}:{password}")
    for text in (uri, environ.get("MILVUS_URI")):
        if text:
            with contextlib.suppress(MilvusImportError):
                target = parse_uri(text)
                raw.append(target.password)
                if target.user is not None and target.password is not None:
                    raw.append(f"{target.user}:{target.password}")
    found: set[str] = set()
    for secret in raw:
        if secret and len(secret) >= 3:
            found.add(secret)
            found.add(base64.b64encode(secret.encode()).decode())
    return sorted(found, key=len, reverse=True)


def format_duration(seconds: float) -> str:
    """``0.3s``, ``59.9s``, ``2m 05s``, ``3h 02m 01s``: a duration as people write it (tenths under a minute)."""
    seconds = max(0.0, seconds)
    tenths = round(seconds * 10)
    if tenths < 600:
        return f"{tenths / 10:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def progress_dict(progress: ImportProgress) -> dict[str, Any]:
    return {
        "job_id": progress.job_id,
        "state": progress.state,
        "progress": progress.progress,
        "imported_rows": progress.imported_rows,
        "reason": progress.reason,
        "create_time": progress.create_time.isoformat() if progress.create_time else None,
        "raw_state": progress.raw_state,
        "infos": dict(progress.infos),
    }


def record_dict(record: ImportJobRecord) -> dict[str, Any]:
    return {
        "job_id": record.job_id,
        "collection_name": record.collection_name,
        "state": record.state,
        "progress": record.progress,
        "imported_rows": record.imported_rows,
        "reason": record.reason,
        "raw_state": record.raw_state,
    }


def progress_table(jobs: Sequence[ImportProgress]) -> list[str]:
    """One line per job: id, state, progress, rows, reason."""
    lines = []
    for p in jobs:
        line = f"{p.job_id:<20} {p.state:<10} {p.progress:>3}%  {p.imported_rows:>10} rows"
        if p.reason:
            line += f"  {p.reason}"
        lines.append(line.rstrip())
    return lines


def plan_lines(plan: ImportPlan) -> list[str]:
    """A dry run, for people: where it would go, and each Import request (secrets are already masked)."""
    checked = "checked against the server's schema" if plan.schema_checked else "not checked against a schema"
    auth = "with credentials (***)" if plan.authenticated else "without credentials"
    noun = "request" if len(plan.requests) == 1 else "requests"
    lines = [f"Dry run: {len(plan.requests)} Import {noun} to {plan.target} {auth}, {checked}; nothing was sent:"]
    for index, request in enumerate(plan.requests):
        where = f"{request.db_name or 'default'}.{request.collection_name}"
        if request.partition_name:
            where += f" partition {request.partition_name!r}"
        options = ", ".join(f"{k}={v}" for k, v in request.options)
        lines.append(f"  group {index}: {where}, files {list(request.files)}")
        lines.append(
            f"           idempotency key {request.idempotency_key}" + (f", options {options}" if options else "")
        )
    return lines


def check_lines(report: Any) -> list[str]:
    """A file check's report: one line per file (its verdict), then every problem as a FILE / FIELD / PROBLEM
    table."""
    version = report.server_version or "unknown (only rules that hold on every version)"
    lines = [f"Checked {len(report.verdicts)} file(s){' (full read)' if report.full else ''}; server {version}:"]
    for verdict in report.verdicts:
        status = verdict.status if verdict.status != "problems" else f"{len(verdict.problems)} problem(s)"
        detail = f" ({verdict.detail})" if verdict.detail else ""
        lines.append(f"  {status:<14} {verdict.file}{detail}")
    problems = report.problems
    if problems:
        width_file = min(60, max(len("FILE"), *(len(p.file) for p in problems)))
        width_field = min(30, max(len("FIELD"), *(len(p.field or "-") for p in problems)))
        lines.append("")
        lines.append(f"{'FILE':<{width_file}}  {'FIELD':<{width_field}}  PROBLEM")
        lines += [f"{p.file:<{width_file}}  {p.field or '-':<{width_field}}  {p.message}" for p in problems]
        lines.append(f"{len(problems)} problem(s) found; nothing was imported.")
    else:
        lines.append("No problem found.")
    return lines


def records_table(records: Sequence[ImportJobRecord]) -> list[str]:
    if not records:
        return ["no import jobs"]
    lines = [f"{'JOB ID':<20} {'COLLECTION':<24} {'STATE':<10} {'PROGRESS':>8} {'ROWS':>10}  REASON"]
    for r in records:
        rows = "-" if r.imported_rows is None else str(r.imported_rows)
        line = f"{r.job_id or '-':<20} {r.collection_name or '-':<24} {r.state:<10} {r.progress:>7}% {rows:>10}  "
        lines.append((line + r.reason).rstrip())
    if any(r.job_id is None for r in records):
        lines.append("(- : this server does not report job ids when listing; Milvus 2.4+ answers 0)")
    return lines


def final_summary(jobs: Sequence[ImportProgress], seconds: float) -> str:
    done = sum(p.state == COMPLETED for p in jobs)
    failed = sum(p.state == FAILED for p in jobs)
    rows = sum(p.imported_rows for p in jobs if p.state == COMPLETED)
    noun = "job" if len(jobs) == 1 else "jobs"
    if failed:
        return f"Failed: {failed} of {len(jobs)} {noun} failed ({done} completed, {rows} rows imported)"
    if done == len(jobs):
        return f"Completed: {len(jobs)} {noun}, {rows} rows imported in {format_duration(seconds)}"
    return f"Not finished: {done} of {len(jobs)} {noun} completed after {format_duration(seconds)}"


class ReaderSafeStream:
    """A text stream that goes quiet when its reader leaves (``milvus-import ... | head -1``).

    The first write or flush that meets a closed pipe (EPIPE) points the file descriptor at ``/dev/null`` (so the
    interpreter's last flush cannot fail either) and drops every later write: the command carries on and exits with
    its own result. A reader leaving is not an import failure; ``reader_left`` tells the command to repeat what
    matters (the job ids) on standard error.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.reader_left = False

    def write(self, text: str) -> int:
        if not self.reader_left:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._reader_left()
        return len(text)

    def flush(self) -> None:
        if not self.reader_left:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._reader_left()

    def isatty(self) -> bool:
        try:
            return not self.reader_left and self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, ... for tqdm and logging
        return getattr(self.stream, name)

    def _reader_left(self) -> None:
        self.reader_left = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.stream.fileno())
            finally:
                os.close(devnull)


class NullStream:
    """Where output goes when there is nowhere to write it (standard error closed too)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def usable(stream: TextIO | None) -> bool:
    """False for a standard stream that is gone: ``None`` (the interpreter found its descriptor closed, ``>&-``)
    or a stream whose descriptor was closed since. A stream without a descriptor (a test's capture) is usable."""
    if stream is None:
        return False
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):  # no descriptor (io.UnsupportedOperation), or closed
        return not getattr(stream, "closed", False)
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def fill_closed_descriptors() -> None:
    """Point closed descriptors 0-2 at /dev/null, so no socket or file the process opens later takes their number
    (gRPC's C core writes its log lines to descriptor 2, whatever it is by then)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_RDWR)
                if devnull != fd:
                    os.dup2(devnull, fd)
                    os.close(devnull)


class Gate:
    """Passes writes on until :meth:`close`: once the command's main thread reports an interruption, output of the
    worker thread winding down is dropped, so the report comes last and whole."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._open = True
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            if self._open:
                self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._open:
                self.stream.flush()

    def close(self) -> None:
        with self._lock:
            self._open = False

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno, ...
        return getattr(self.stream, name)


class RedactingStream:
    """Masks ``secrets`` in every write: for output the CLI does not format itself (progress lines and bars, whose
    failure reasons come from the server)."""

    def __init__(self, stream: TextIO, secrets: Sequence[str]) -> None:
        self.stream = stream
        self.secrets = secrets

    def write(self, text: str) -> int:
        self.stream.write(redact(text, self.secrets))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, ...
        return getattr(self.stream, name)


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


# ------------------------------------------------------------------------------------------------ progress display
# Showing import progress on a terminal or in a log.
#
# A tqdm bar per job when tqdm is installed (the optional extra ``progress``) and the stream is a terminal; plain lines
# otherwise: one per change of state, progress changes at most once per ``min_interval`` seconds, and a "still ..."
# heartbeat when nothing has moved for ``heartbeat`` seconds, so a log never goes silent on a job stuck at 80 % while
# its indexes build. Which lines to print is decided by :class:`PlainLines` (no I/O, driven by a clock value);
# :class:`ProgressDisplay` only writes them.


def describe(progress: ImportProgress) -> str:
    """``Importing 40%, 400 rows`` / ``Failed: <reason>``: one job's state for people."""
    text = f"{progress.state} {progress.progress}%"
    if progress.imported_rows or progress.state == COMPLETED:
        text += f", {progress.imported_rows} rows"
    if progress.state == FAILED:
        text += f": {progress.reason or '(the server gave no reason)'}"
    return text


def tqdm_available() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def wants_bar(stream: TextIO) -> bool:
    """A bar only on a real terminal (not ``TERM=dumb``) and with tqdm installed."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM") != "dumb" and tqdm_available()


class PlainLines:
    """Decides the plain progress lines (pure: the caller passes the clock value ``now``)."""

    def __init__(
        self, job_ids: Sequence[str], *, start: float, min_interval: float = 1.0, heartbeat: float = 30.0
    ) -> None:
        self.job_ids = tuple(job_ids)
        self.start = start
        self.min_interval = min_interval
        self.heartbeat = heartbeat
        self._latest: dict[str, ImportProgress] = {}
        self._shown: dict[str, ImportProgress] = {}
        self._shown_at: dict[str, float] = {}
        self._last_line_at = start

    def _line(self, progress: ImportProgress, now: float, *, still: bool = False) -> str:
        self._shown[progress.job_id] = progress
        self._shown_at[progress.job_id] = now
        self._last_line_at = now
        elapsed = format_duration(now - self.start)
        return f"[{elapsed:>7}] job {progress.job_id}: {'still ' if still else ''}{describe(progress)}"

    def update(self, progress: ImportProgress, now: float) -> list[str]:
        """A job changed: show it now if its state changed or it finished, else at most once per interval."""
        self._latest[progress.job_id] = progress
        shown = self._shown.get(progress.job_id)
        if (
            shown is None
            or shown.state != progress.state
            or progress.done
            or now - self._shown_at[progress.job_id] >= self.min_interval
        ):
            return [self._line(progress, now)]
        return []

    def _unshown(self) -> list[ImportProgress]:
        return [p for j in self.job_ids if (p := self._latest.get(j)) is not None and p is not self._shown.get(j)]

    def tick(self, now: float) -> list[str]:
        """Time passed: show held-back changes that are due, or a heartbeat after a long silence."""
        lines = [self._line(p, now) for p in self._unshown() if now - self._shown_at[p.job_id] >= self.min_interval]
        if not lines and now - self._last_line_at >= self.heartbeat:
            self._last_line_at = now
            lines = [
                self._line(p, now, still=True)
                for j in self.job_ids
                if (p := self._latest.get(j)) is not None and not p.done
            ]
        return lines

    def flush(self, now: float) -> list[str]:
        """The end: every change not shown yet."""
        return [self._line(p, now) for p in self._unshown()]


#: The width used when a terminal does not say how wide it is.
DEFAULT_COLUMNS = 80


def terminal_columns(stream: TextIO) -> int:
    """The width of the terminal behind ``stream``; 0 when it reports none (or is no terminal)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


class _Bars:
    """One tqdm bar per job (0-100 %), its state and rows as the postfix."""

    def __init__(self, job_ids: Sequence[str], stream: TextIO) -> None:
        from tqdm import tqdm

        self._bars: dict[str, Any] = {}
        # A terminal that reports no size (a pty left at 0x0) would get bars 0 columns wide, i.e. blank lines:
        # then the classic 80 columns, as shutil.get_terminal_size falls back to.
        sized = terminal_columns(stream) > 0
        for position, job_id in enumerate(job_ids):
            self._bars[job_id] = tqdm(
                total=100,
                desc=f"job {job_id}",
                position=position,
                file=stream,
                leave=True,
                dynamic_ncols=sized,
                ncols=None if sized else DEFAULT_COLUMNS,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}{postfix}]",
            )

    def update(self, progress: ImportProgress) -> None:
        bar = self._bars.get(progress.job_id)
        if bar is None:
            return
        bar.n = progress.progress
        postfix = progress.state
        if progress.imported_rows or progress.state == COMPLETED:
            postfix += f", {progress.imported_rows} rows"
        if progress.state == FAILED:
            bar.colour = "red"
            reason = progress.reason or "(no reason given)"
            postfix += ": " + (reason if len(reason) <= 60 else reason[:59] + "…")  # one terminal line per bar
        elif progress.state == COMPLETED:
            bar.colour = "green"
        bar.set_postfix_str(postfix, refresh=False)
        bar.refresh()

    def tick(self) -> None:
        for bar in self._bars.values():
            bar.refresh()  # keeps the elapsed time moving while a job sits still

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


class ProgressDisplay:
    """Shows the progress of ``job_ids`` on ``stream``; pass :meth:`update` as ``on_progress``. A context manager.

    ``bar`` None picks tqdm bars when :func:`wants_bar` says so, else plain lines. A background ticker keeps the
    bars' clocks moving and prints the held-back plain lines and heartbeats; :meth:`close` stops it.
    """

    def __init__(
        self,
        job_ids: Sequence[str],
        stream: TextIO | None = None,
        *,
        bar: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick: float = 0.5,
        min_interval: float = 1.0,
        heartbeat: float = 30.0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.bar = wants_bar(self.stream) if bar is None else bar
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._bars: _Bars | None = None
        self._plain: PlainLines | None = None
        if self.bar:
            self._bars = _Bars(job_ids, self.stream)
        else:
            self._plain = PlainLines(job_ids, start=clock(), min_interval=min_interval, heartbeat=heartbeat)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._run_ticker, args=(tick,), name="milvus-import-progress")
        self._ticker.daemon = True
        self._ticker.start()

    def _write(self, lines: list[str]) -> None:
        if lines:
            self.stream.write("".join(line + "\n" for line in lines))
            self.stream.flush()

    def update(self, progress: ImportProgress) -> None:
        with self._lock:
            if self._closed:
                return
            if self._bars is not None:
                self._bars.update(progress)
            elif self._plain is not None:
                self._write(self._plain.update(progress, self._clock()))

    def _run_ticker(self, interval: float) -> None:
        while not self._stop.wait(interval):
            with self._lock:
                if self._closed:
                    return
                try:
                    if self._bars is not None:
                        self._bars.tick()
                    elif self._plain is not None:
                        self._write(self._plain.tick(self._clock()))
                except (OSError, ValueError):  # the stream went away (closed pipe): stop showing
                    self._closed = True
                    return

    def close(self) -> None:
        """Stop the ticker, show what was held back, close the bars. Idempotent."""
        self._stop.set()
        if self._ticker.is_alive() and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._bars is not None:
                self._bars.close()
            elif self._plain is not None:
                self._write(self._plain.flush(self._clock()))

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- uploads (issue 16) ------------------------------------------------------------------------------------------

_MIB = 1024 * 1024


def upload_line(done: int, total: int, files_done: int, files_total: int) -> str:
    """One plain progress line for uploads (pure)."""
    percent = 100 * done // total if total else 100
    return f"uploaded {done / _MIB:.1f} of {total / _MIB:.1f} MiB ({percent}%), {files_done} of {files_total} files"


class UploadDisplay:
    """Byte progress of a staging: a tqdm bar on a terminal, else a plain line per 10 % (and at the end). Pass
    :meth:`update` as ``on_progress`` (called from upload threads, one at a time)."""

    def __init__(self, stream: TextIO, *, bar: bool | None = None) -> None:
        self.stream = stream
        self.bar = wants_bar(stream) if bar is None else bar
        self._tqdm: Any = None
        self._shown = -1
        self._closed = False

    def update(self, progress: Any) -> None:
        if self._closed:
            return
        try:
            if self.bar:
                if self._tqdm is None:
                    from tqdm import tqdm

                    self._tqdm = tqdm(
                        total=progress.bytes_total, unit="B", unit_scale=True, desc="upload", file=self.stream
                    )
                self._tqdm.update(progress.bytes_done - self._tqdm.n)
                return
            step = 100 * progress.bytes_done // progress.bytes_total // 10 if progress.bytes_total else 10
            if step > self._shown:
                self._shown = step
                line = upload_line(progress.bytes_done, progress.bytes_total, progress.files_done, progress.files_total)
                self.stream.write(line + "\n")
                self.stream.flush()
        except (OSError, ValueError):  # the stream went away: stop showing, the upload goes on
            self._closed = True

    def close(self) -> None:
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.close()


def staged_lines(staged: Any) -> list[str]:
    """What ``stage`` did, for people: the key groups, as ``submit`` takes them."""
    lines = [
        f"Staged {len(staged.keys)} files into bucket {staged.bucket!r} ({len(staged.uploaded)} uploaded, "
        f"{len(staged.skipped)} already there):"
    ]
    lines.extend(f"  {','.join(group)}" for group in staged.groups)
    return lines
