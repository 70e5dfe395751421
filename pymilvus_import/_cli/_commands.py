"""The ``milvus-import`` commands (submit, stage, progress, list, wait), their exit codes, and :func:`main`.

Decisions (arguments to requests, errors to exit codes) are plain functions; :func:`main` only wires them to the
client, the terminal and the clock.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TextIO, cast

from .._client import ImportClient
from .._errors import (
    AuthenticationError,
    ClientClosedError,
    CollectionNotFoundError,
    DatabaseNotFoundError,
    DeadlineExceededError,
    ImportFailedError,
    ImportJobNotFoundError,
    ImportTimeoutError,
    InvalidInputError,
    MilvusImportError,
    ServerError,
    ServerUnavailableError,
    TransportError,
    milvus_status,
    seconds_text,
)
from .._models import FAILED, BulkImportResponse, ImportProgress
from .._options import BulkImportOption, new_bulk_import_option
from .._preflight import check_collection_reply
from .._tracking import job_id_number
from .._uri import parse_uri
from .._wire import DescribeCollectionReply
from ._output import (
    Gate,
    NullStream,
    ProgressDisplay,
    ReaderSafeStream,
    RedactingFormatter,
    RedactingStream,
    UploadDisplay,
    check_lines,
    fill_closed_descriptors,
    final_summary,
    format_duration,
    plan_lines,
    progress_dict,
    progress_table,
    record_dict,
    records_table,
    redact,
    secrets_of,
    staged_lines,
    usable,
)
from ._parser import (
    _COMMON_DEFAULTS,
    POSITIONALS,
    PROG,
    ArgumentsError,
    GroupArgument,
    UsageError,
    build_parser,
    parse_groups,
    position_of,
    tokens,
)

EXIT_OK = 0
EXIT_IMPORT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130

#: Bounds one Import / GetImportState / ListImportTasks call when no --timeout is given (a hung server must not
#: hang the shell). The whole-command --timeout replaces it.
DEFAULT_RPC_TIMEOUT = 60.0
#: Submitting gets longer: Milvus 2.3 retries internally for ~50 s before it reports an unknown collection.
DEFAULT_SUBMIT_TIMEOUT = 180.0

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ pure decisions
def exit_code_for(error: BaseException) -> int:
    """The exit code of a failure: 2 bad input, 3 connection/auth, 4 timeout, 130 interrupted (a staging stopped
    by Ctrl-C), 1 every other import problem."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, (UsageError, InvalidInputError)):
        return EXIT_USAGE
    if isinstance(error, (ImportTimeoutError, DeadlineExceededError)):
        return EXIT_TIMEOUT
    if isinstance(error, TransportError):
        return EXIT_CONNECTION
    return EXIT_IMPORT_FAILED


def build_option(
    collection: str,
    groups: Sequence[GroupArgument],
    *,
    partition: str | None = None,
    options: Iterable[tuple[str, str]] = (),
    idempotency_key: str | None = None,
) -> BulkImportOption:
    """The import request the ``submit`` arguments describe (validated by the library before any RPC)."""
    option = new_bulk_import_option("", collection, parse_groups(groups))
    if partition:
        option = option.with_partition(partition)
    for key, value in options:
        option = option.with_option(key, value)
    if idempotency_key is not None:
        option = option.with_idempotency_key(idempotency_key)
    return option


@dataclass(frozen=True)
class Credentials:
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)


def resolve_credentials(
    token: str | None,
    user: str | None,
    password: str | None,
    *,
    environ: Mapping[str, str],
    stdin_is_tty: bool,
    prompt: Callable[[str], str],
) -> Credentials:
    """--token / --user / --password, ``MILVUS_PASSWORD``, or a prompt when stdin is a terminal."""
    if password is not None and user is None:
        raise UsageError("--password needs --user")
    if token is not None and user is not None:
        raise UsageError("--token and --user are alternatives: pass one of them")
    if user is not None and password is None:
        password = environ.get("MILVUS_PASSWORD")
        if password is None:
            if not stdin_is_tty:
                raise UsageError(
                    f"--user {user} needs a password: pass --password, set MILVUS_PASSWORD, or run in a terminal "
                    "to be prompted"
                )
            password = prompt(f"Password for Milvus user {user}: ")
    return Credentials(token=token, user=user, password=password)


# ------------------------------------------------------------------------------------------------ running
class _Run:
    """One command's state: arguments, streams, the JSON result being built and the secrets to mask."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO, secrets: list[str]) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.secrets = secrets
        self.result: dict[str, Any] = {}
        #: The job ids this command knows: created by submit (also partly, before an error), or given.
        self.job_ids: tuple[str, ...] = ()
        #: submit: True once every group was submitted (an interruption before that may leave a job unnamed).
        self.submitted = False
        #: Keys staged into the bucket by this command (stage, submit --upload), shown on every exit path.
        self.staged_keys: tuple[str, ...] = ()
        #: Set by the main thread on a signal: uploads in flight abort (the staging runs in the worker thread).
        self.cancel = threading.Event()
        #: The timeout handed to wait_for_import, to show it readably in the library's ImportTimeoutError message.
        self.wait_timeout: float | None = None
        self.started = time.monotonic()
        #: The open client (closed by the main thread to stop the command on a signal).
        self.client: ImportClient | None = None
        #: How the worker ended after a signal closed its client (None: it had not ended in time).
        self.wind_down: BaseException | None = None
        #: A command that ends non-zero without an exception (progress) says why here: (error type, message).
        self.outcome: tuple[str, str] | None = None
        #: Set by the main thread when a signal stops the command (and which signal).
        self.interrupted = False
        self.interrupted_by: int = signal.SIGINT

    def gate_close(self) -> None:
        """From now on the main thread reports: later output of the worker thread is dropped."""
        for stream in (self.out, self.err):
            if isinstance(stream, Gate):
                stream.close()

    def say(self, *lines: str) -> None:
        """Human output on stdout (nothing in --json mode, where stdout is one JSON document)."""
        if not self.args.json:
            for line in lines:
                self.out.write(redact(line, self.secrets) + "\n")
            self.out.flush()

    def note(self, line: str) -> None:
        self.err.write(f"{PROG}: {redact(line, self.secrets)}\n")
        self.err.flush()

    def remaining(self) -> float | None:
        limit: float | None = self.args.timeout
        if limit is None:
            return None
        return max(0.001, limit - (time.monotonic() - self.started))

    def rpc_timeout(self, default: float = DEFAULT_RPC_TIMEOUT) -> float:
        left = self.remaining()
        return default if left is None else left

    def follow(self, client: ImportClient, job_ids: Sequence[str]) -> tuple[ImportProgress, ...]:
        """Wait for the jobs with a progress display (stderr in --json mode); print and return the final states."""
        display = None
        if not self.args.quiet:
            stream = RedactingStream(self.err if self.args.json else self.out, self.secrets)
            display = ProgressDisplay(job_ids, cast(TextIO, stream))
        self.wait_timeout = self.remaining()
        try:
            final = client.wait_for_import(
                job_ids,
                timeout=self.wait_timeout,
                poll_initial=min(0.1, self.args.poll_max),
                poll_max=self.args.poll_max,
                on_progress=display.update if display is not None else None,
            )
        except (ImportFailedError, ImportTimeoutError) as error:
            if display is not None:
                display.close()
            jobs = tuple(p for p in error.progress if isinstance(p, ImportProgress))
            self.result["jobs"] = [progress_dict(p) for p in jobs]
            self.say(*progress_table(jobs), final_summary(jobs, time.monotonic() - self.started))
            raise
        finally:
            if display is not None:
                display.close()
        self.result["jobs"] = [progress_dict(p) for p in final]
        self.say(*progress_table(final), final_summary(final, time.monotonic() - self.started))
        return final


def _client(args: argparse.Namespace, credentials: Credentials) -> ImportClient:
    # No URI, no token: the library falls back to MILVUS_URI / MILVUS_TOKEN itself.
    return ImportClient(
        args.uri or None,
        token=credentials.token,
        user=credentials.user,
        password=credentials.password,
        db_name=args.db,
        secure=True if args.tls else None,
        ca_cert=args.ca_cert,
        client_cert=args.client_cert,
        client_key=args.client_key,
        server_name=args.server_name,
    )


def _job_lines(job_ids: Sequence[str], groups: Sequence[Sequence[str]]) -> list[str]:
    """``  <job id>  <files>`` when each group made one job (2.4+), else the ids alone."""
    if len(job_ids) == len(groups):
        return [f"  {job_id}  {','.join(group)}" for job_id, group in zip(job_ids, groups, strict=True)]
    return [f"  {job_id}" for job_id in job_ids]


def created_job_ids(error: BaseException) -> tuple[str, ...]:
    """The job ids a failed or interrupted ``bulk_import`` had created (the library sets ``created_job_ids`` on its
    errors and on a KeyboardInterrupt it lets through)."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:  # an interruption while reporting an error: both count
        seen.append(current)
        ids = getattr(current, "created_job_ids", None) or ()
        if ids:
            return tuple(str(job_id) for job_id in ids)
        current = current.__cause__ or current.__context__
    return ()


def _submit(run: _Run, client: ImportClient) -> int:
    args = run.args
    option = build_option(
        args.collection,
        args.groups or (),
        partition=args.partition,
        options=args.options,
        idempotency_key=args.idempotency_key,
    )
    run.result.update(collection=args.collection, partition=args.partition, database=args.db, job_ids=[])
    storage = _storage_arg(args)
    if args.upload and storage is None:
        raise UsageError("--upload needs --storage s3://BUCKET/PREFIX (the bucket Milvus reads)")
    timeout = run.rpc_timeout(DEFAULT_SUBMIT_TIMEOUT)
    if args.dry_run:
        plan = client.bulk_import(
            option,
            timeout=timeout,
            preflight=args.preflight,
            dry_run=True,
            storage=storage,
            upload=args.upload,
            validate=args.validate,
        )
        run.result.update(dry_run=plan.to_dict())
        run.say(*plan_lines(plan))
        storage_side = plan.to_dict().get("storage")
        if storage_side is not None and storage_side["staged"] is not None:
            run.say(f"  would upload: {storage_side['staged']['uploaded']}")
            run.say(f"  already in the bucket: {storage_side['staged']['skipped']}")
        if storage_side is not None:
            run.say(*(f"  key {v['key']}: {v['outcome']} {v['reason']}".rstrip() for v in storage_side["verified"]))
        return EXIT_OK
    # With --upload the library stages the local files (after the preflight and its file checks: a bad file is
    # never uploaded) and verifies the other keys, all in this one call; the display shows the bytes going out.
    display = _upload_display(run) if storage is not None and args.upload else None
    try:
        response: BulkImportResponse = client.bulk_import(
            option,
            timeout=timeout,
            preflight=args.preflight,
            storage=storage,
            upload=args.upload,
            validate=args.validate,
            on_upload_progress=display.update if display is not None else None,
        )
    except (MilvusImportError, KeyboardInterrupt) as error:
        staged_keys = tuple(getattr(error, "staged_keys", ()) or ())
        if staged_keys:  # never lost: printed on every exit path
            run.staged_keys = staged_keys
            run.result["staged_keys"] = list(staged_keys)
        created = created_job_ids(error)
        if created:  # never lost: printed here, in --json and in the error message
            run.job_ids = created
            run.result["job_ids"] = list(created)
            group_index = getattr(error, "group_index", None)
            done = option.files[:group_index] if isinstance(group_index, int) else ()
            when = "interruption" if isinstance(error, KeyboardInterrupt) or run.interrupted else "error"
            run.say(
                f"Submitted {len(created)} of {len(option.files)} import jobs into collection {args.collection!r} "
                f"before the {when}: {' '.join(created)}",
                *_job_lines(created, done),
            )
        raise
    finally:
        if display is not None:
            display.close()
    if response.staged is not None:
        run.staged_keys = response.staged_keys
        run.result["staged"] = response.staged.to_dict()
        run.say(*staged_lines(response.staged))
    run.submitted = True
    run.job_ids = response.job_ids
    run.result["job_ids"] = list(response.job_ids)
    if response.files:  # with --storage: the key groups the Imports carried (staged files as their keys)
        run.result["files"] = [list(g) for g in response.files]
    noun = "job" if len(response.job_ids) == 1 else "jobs"
    # The ids on the first line too: `| head -1` shows them.
    ids = " ".join(response.job_ids)
    run.say(f"Submitted {len(response.job_ids)} import {noun} into collection {args.collection!r}: {ids}")
    run.say(*_job_lines(response.job_ids, option.files))
    if args.wait:
        run.follow(client, response.job_ids)
    return EXIT_OK


def _storage_arg(args: argparse.Namespace) -> Any:
    if getattr(args, "storage", None) is None:
        if getattr(args, "storage_endpoint", None) is not None:
            raise UsageError("--storage-endpoint needs --storage s3://BUCKET/PREFIX")
        return None
    from .._storage import ObjectStorage

    return ObjectStorage(args.storage, endpoint=args.storage_endpoint)


def _upload_display(run: _Run) -> UploadDisplay | None:
    """The byte progress display of an upload (None with -q); the storage secrets of the environment are masked in
    everything the command prints."""
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        value = os.environ.get(name)
        if value and value not in run.secrets:
            run.secrets.append(value)
    if getattr(run.args, "quiet", False):
        return None
    return UploadDisplay(cast(TextIO, RedactingStream(run.err if run.args.json else run.out, run.secrets)))


def _staged(run: _Run, storage: Any, groups: Sequence[Sequence[str]]) -> Any:
    """Stage ``groups`` with a byte progress display; the keys staged are kept on ``run`` for every exit path.
    ``run.cancel`` (a signal, seen by the main thread) aborts the uploads in flight."""
    from .._storage import _stage

    display = _upload_display(run)
    try:
        staged = _stage(storage, groups, display.update if display is not None else None, run.cancel)
    except MilvusImportError as error:
        run.staged_keys = tuple(getattr(error, "staged_keys", ()))
        run.result["staged_keys"] = list(run.staged_keys)
        raise
    finally:
        if display is not None:
            display.close()
    run.staged_keys = tuple(dict.fromkeys(staged.keys))
    run.result["staged"] = staged.to_dict()
    return staged


def _stage_command(run: _Run) -> int:
    storage = _storage_arg(run.args)
    staged = _staged(run, storage, parse_groups(run.args.groups or ()))
    run.say(*staged_lines(staged))
    return EXIT_OK


def _progress(run: _Run, client: ImportClient) -> int:
    job_ids = [str(job_id_number(j)) for j in run.args.job_ids]  # all checked before any RPC
    run.job_ids = tuple(job_ids)
    found: list[ImportProgress] = []
    missing: list[str] = []
    run.result.update(jobs=[], not_found=missing)
    for job_id in job_ids:
        try:
            progress = client.get_import_progress(job_id, timeout=run.rpc_timeout())
        except ImportJobNotFoundError as error:
            missing.append(job_id)
            run.note(f"error: {error}")
            continue
        found.append(progress)
        run.result["jobs"].append(progress_dict(progress))
    run.say(*progress_table(found))
    failed = [p.job_id for p in found if p.state == FAILED]
    if missing:
        run.outcome = ("ImportJobNotFoundError", f"import jobs not known to the server: {' '.join(missing)}")
    elif failed:
        run.outcome = ("ImportFailedError", f"import jobs failed: {' '.join(failed)}")
    return EXIT_IMPORT_FAILED if missing or failed else EXIT_OK


def _database(args: argparse.Namespace) -> str:
    """The database the command works in, as the library picks it: --db, else the URI's path, else default."""
    if args.db:
        return str(args.db)
    uri = args.uri or os.environ.get("MILVUS_URI") or ""
    with contextlib.suppress(MilvusImportError):
        return parse_uri(uri).db_name or "default"
    return "default"


def not_found_verdict(error: ServerError, collection: str | None, db_name: str) -> CollectionNotFoundError | None:
    """The preflight's verdict for a server status that says "no such collection / database" (Milvus 2.3.5 answers
    ListImportTasks for an unknown collection with status 100 "collection not found"; 2.4+ an unknown database
    with 800), so every command reports it as ``submit`` does: CollectionNotFoundError / DatabaseNotFoundError,
    exit 2. None for any other status (``_errors.MILVUS_STATUS``'s ListImportTasks rows say which)."""
    if milvus_status("ListImportTasks", error.status, error.server_message) not in (
        CollectionNotFoundError,
        DatabaseNotFoundError,
    ):
        return None
    reply = DescribeCollectionReply(error.status, error.server_message, None)
    try:
        check_collection_reply(reply, collection_name=collection or "", db_name=db_name)
    except CollectionNotFoundError as verdict:
        if collection is None:  # no collection named: the database is what is missing
            return DatabaseNotFoundError(
                f"database {db_name!r} does not exist on the server (server status {error.status}: "
                f"{error.server_message})",
                collection_name="",
                db_name=db_name,
                value=db_name,
                field="db_name",
            )
        return verdict
    return None


def _list(run: _Run, client: ImportClient) -> int:
    try:
        records = client.list_import_jobs(run.args.collection, limit=run.args.limit, timeout=run.rpc_timeout())
    except ServerError as error:
        verdict = not_found_verdict(error, run.args.collection, _database(run.args))
        if verdict is None:
            raise
        raise verdict from error
    run.result["jobs"] = [record_dict(r) for r in records]
    run.say(*records_table(records))
    return EXIT_OK


#: A version probe failing with one of these means the server cannot be used at all: stop now (exit 3/4).
_PROBE_FATAL = (ServerUnavailableError, AuthenticationError, DeadlineExceededError)


def _wait(run: _Run, client: ImportClient) -> int:
    job_ids = tuple(str(job_id_number(j)) for j in run.args.job_ids)  # all checked before any RPC
    run.job_ids = job_ids
    run.result["job_ids"] = list(job_ids)
    # A wrong --uri should fail now (exit 3), not after the minute a long wait rides out an unreachable server.
    # Any other answer (UNIMPLEMENTED from a server or proxy without GetVersion, a status) proves the server is
    # there; the polls themselves will say whether it can report the jobs.
    try:
        client.server_version(timeout=min(run.rpc_timeout(), 10.0))
    except _PROBE_FATAL:
        raise
    except MilvusImportError as error:
        log.debug("version probe failed, following the jobs anyway: %s", error)
    run.follow(client, job_ids)
    return EXIT_OK


def _check(run: _Run, client: ImportClient) -> int:
    args = run.args
    option = build_option(args.collection, args.groups or (), options=args.options)
    # With --storage the files are keys of that bucket (ranged reads); otherwise local paths.
    storage = _storage_arg(args)
    report = client.check_files(option, full=args.full, read_local_files=True, storage=storage, timeout=run.remaining())
    run.result.update(
        collection=args.collection,
        ok=report.ok,
        server_version=report.server_version,
        full=report.full,
        problems=[{"file": p.file, "field": p.field, "message": p.message} for p in report.problems],
        files=[v.to_dict() for v in report.verdicts],
    )
    run.say(*check_lines(report))
    return EXIT_OK if report.ok else EXIT_USAGE


_COMMANDS: dict[str, Callable[[_Run, ImportClient], int]] = {
    "check": _check,
    "submit": _submit,
    "progress": _progress,
    "list": _list,
    "wait": _wait,
}


def _interrupted_hint(run: _Run, how: str = "interrupted") -> str:
    if run.args.command == "stage" or (run.staged_keys and not run.submitted and not run.job_ids):
        staged = f"; keys already staged: {' '.join(run.staged_keys)}" if run.staged_keys else ""
        return f"{how} while staging; uploads in flight were aborted, no import was sent{staged}"
    listing = f"'{PROG} list --collection {run.args.collection}'" if run.args.command == "submit" else ""
    if run.args.command == "submit" and not run.submitted:
        created = (
            f"these import jobs were created and keep running on the server: {' '.join(run.job_ids)}; "
            if run.job_ids
            else "no job id came back; "
        )
        stopped = run.wind_down
        nothing_in_flight = isinstance(stopped, (ClientClosedError, InvalidInputError)) or (
            isinstance(stopped, TransportError) and not stopped.method.endswith("/Import")
        )
        if nothing_in_flight:  # the signal stopped a preflight RPC or came between two calls
            if run.job_ids:
                return f"{how} while submitting; {created}no other import was on its way"
            return f"{how} while submitting; no import was sent"
        return (
            f"{how} while submitting; {created}the file group being sent may have been created too: "
            f"check {listing} (Milvus 2.4+ lists jobs without their ids)"
        )
    if run.job_ids:
        return f"{how}; the import jobs keep running on the server: {' '.join(run.job_ids)}"
    return how


# Library words -> the command line's: an error names the flag to change, not the Python call behind it.
_CALLS_AS_FLAGS = (
    (re.compile(r"drop with_partition\(\.\.\.\)"), "drop --partition"),
    (re.compile(r"call with_partition\(\.\.\.\)"), "pass --partition NAME"),
    (re.compile(r"with_partition\(\.\.\.\)"), "--partition"),
    (re.compile(r"with_option\('backup', 'true'\)"), "-o backup=true"),
    (re.compile(r"with_option\(\.\.\.\)"), "-o KEY=VALUE"),
    (re.compile(r"with_api_key\(\.\.\.\)"), "--token"),
    (re.compile(r"with_idempotency_key\(\.\.\.\)"), "--idempotency-key"),
    (re.compile(r"with_database\(\.\.\.\)"), "--db"),
    (re.compile(r"new_bulk_import_option\(\.\.\.\)"), "GROUP arguments"),
    (re.compile(r"\bpreflight=False\b"), "--no-preflight"),
    (re.compile(r"\btoken=\.\.\."), "--token"),
)
_NAMES_AS_FLAGS = {
    "ca_cert": "--ca-cert",
    "client_cert": "--client-cert",
    "client_key": "--client-key",
    "server_name": "--server-name",
    "db_name": "--db",
}
_NAMES = re.compile(r"\b(" + "|".join(_NAMES_AS_FLAGS) + r")\b")
_QUOTED = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def cli_words(message: str) -> str:
    """``message`` with the library's call and parameter names replaced by the CLI flags that set them; quoted
    values (what the user gave) are left alone."""
    for pattern, flag in _CALLS_AS_FLAGS:
        message = pattern.sub(flag, message)
    parts = _QUOTED.split(message)
    for index in range(0, len(parts), 2):  # the even parts are outside quotes
        parts[index] = _NAMES.sub(lambda match: _NAMES_AS_FLAGS[match.group(1)], parts[index])
    return "".join(parts)


def _tls_target(message: str, uri: str | None) -> str:
    """With --tls, an ``http://`` (or scheme-less) URI is dialled with TLS: show it as the https target it is."""
    if not uri:
        return message
    scheme, sep, rest = uri.partition("://")
    if sep and scheme.lower() == "http":
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        shown = host if host.rsplit(":", 1)[-1].isdigit() and not host.endswith("]") else f"{host}:19530"
        return message.replace(f"{scheme}://{host}", f"https://{shown}")
    return message


def _error_message(run: _Run, error: BaseException) -> str:
    """The one line shown for a package error or bad usage, with what to do next."""
    args = run.args
    if isinstance(error, EOFError):
        return "no password given (end of input)"
    no_uri = isinstance(error, InvalidInputError) and error.field == "uri" and not str(error.value or "").strip()
    if no_uri and not (args.uri or "").strip():  # neither --uri nor MILVUS_URI (the library looked)
        return "no Milvus server given: pass --uri http://host:19530 or set MILVUS_URI"
    message = cli_words(str(error))
    if args.tls:
        message = _tls_target(message, args.uri or os.environ.get("MILVUS_URI"))
    if isinstance(error, ImportTimeoutError) and run.wait_timeout is not None and args.timeout is not None:
        message = message.replace(f"after {seconds_text(run.wait_timeout)}", f"after {format_duration(args.timeout)}")
    if isinstance(error, DeadlineExceededError) and args.command == "submit" and not run.submitted:
        # Only an Import that left may have created a job; a call never sent (or a preflight RPC) created none.
        if error.method.endswith("/Import") and "not sent" not in str(error):
            message += f"; the server may still create the job: check '{PROG} list --collection {args.collection}'"
        else:
            message += "; no import was sent"
    staged = tuple(getattr(error, "staged_keys", ()) or run.staged_keys)
    if staged and "keys already staged" not in message:
        message += f" [keys already staged: {list(staged)}]"
    if isinstance(error, (ImportTimeoutError, DeadlineExceededError)) and run.job_ids:
        message += f"; the jobs keep running on the server: '{PROG} wait {' '.join(run.job_ids)}'"
    return message


def _error_document(error: BaseException, code: int, message: str, job_ids: Sequence[str]) -> dict[str, Any]:
    return {"type": type(error).__name__, "message": message, "exit_code": code, "job_ids": list(job_ids)}


def _argv_secrets(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """Secrets in arguments argparse could not make sense of (masked in its usage errors too)."""
    given: dict[str, str] = {}
    for index, arg in enumerate(argv):
        for name in ("--token", "--password", "--uri"):
            if arg == name and index + 1 < len(argv):
                given[name] = argv[index + 1]
            elif arg.startswith(name + "="):
                given[name] = arg.partition("=")[2]
    return secrets_of(
        token=given.get("--token"), user=None, password=given.get("--password"), uri=given.get("--uri"), environ=environ
    )


def _plain(value: Any) -> Any:
    """Parsed values as plain ``str`` (not :class:`Token`), in the containers argparse made."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """argv to the namespace. Arguments argparse leaves over because an option split them from their list
    (``A --wait B``, ``A --group B -- C``, ``progress 1 --timeout 5 2``) join it in command-line order."""
    args, extras = parser.parse_known_args(tokens(argv))
    separator = argv.index("--") if "--" in argv else len(argv)
    dest = POSITIONALS.get(getattr(args, "command", ""), "")
    unknown: list[str] = []
    leftover: list[tuple[int, str]] = []
    for extra in extras:
        at = position_of(extra, len(argv))
        if at == separator:
            continue
        if dest and (at > separator or not extra.startswith("-") or extra == "-"):
            leftover.append((at, str(extra)))
        else:
            unknown.append(str(extra))
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command in ("submit", "stage", "check"):
        entries = sorted([*(args.groups or []), *leftover], key=lambda entry: entry[0])
        args.groups = [group for _, group in entries]
    elif dest:
        entries = sorted([*((position_of(j, -1), j) for j in args.job_ids), *leftover], key=lambda e: e[0])
        args.job_ids = [job_id for _, job_id in entries]
    for name, value in vars(args).items():
        setattr(args, name, _plain(value))
    for name, default in _COMMON_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if not hasattr(args, "timeout"):
        args.timeout = None
    if args.command in ("submit", "stage", "check") and not args.groups:
        args.command_parser.error("give at least one file group: a GROUP argument or --group PATH [PATH ...]")
    return args


def _wants_json(argv: Sequence[str]) -> bool:
    options = list(argv)[: list(argv).index("--")] if "--" in argv else list(argv)
    return "--json" in options


# ------------------------------------------------------------------------------------------------ signals
class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP stopped the command (``signum``); exit code 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _Signals:
    """SIGINT, SIGTERM and SIGHUP while a command runs (installed only in the main thread; restored after).

    Before the command's worker starts (parsing, the password prompt) a signal raises :class:`Interrupted` at
    once: nothing exists yet. While it runs, a signal is only recorded (``received``): the main thread then stops
    the worker, which winds down through the library's own error paths, so no job id is lost to an exception
    raised at a random point inside a call. The handler never raises twice."""

    def __init__(self, *, restore: bool = True) -> None:
        self.restore = restore
        self.received: list[int] = []
        self.recording = False
        self._raised = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if not self.recording and not self._raised:
            self._raised = True
            raise Interrupted(signum)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except (OSError, ValueError):  # pragma: no cover - not settable here
                    continue
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.restore:
            # The process ends now and everything is reported: a late signal is ignored (Python's shutdown would
            # reset our handler to the default, killing the process with 128 + signum after a successful report).
            self.recording = True
            for sig in self._previous:
                with contextlib.suppress(OSError, ValueError):
                    signal.signal(sig, signal.SIG_IGN)
            return
        for sig, previous in self._previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, previous)


#: How long the main thread waits, after a signal, for the worker to wind down (its RPCs are cancelled at once;
#: a poll pause or a retry backoff can take up to a few seconds).
WIND_DOWN = 5.0


def _run_worker(run: _Run, credentials: Credentials, outcome: dict[str, Any]) -> None:
    try:
        if run.args.command == "stage":  # no Milvus involved
            outcome["code"] = _stage_command(run)
            return
        with _client(run.args, credentials) as client:
            run.client = client
            if run.interrupted:  # the signal came while the client was being opened
                raise Interrupted(run.interrupted_by)
            outcome["code"] = _COMMANDS[run.args.command](run, client)
    except BaseException as error:  # everything is reported by the main thread
        outcome["error"] = error


def _execute(run: _Run, credentials: Credentials, signals: _Signals) -> tuple[int | None, BaseException | None]:
    """Run the command in a worker thread; the main thread waits for it or for a signal, and on a signal closes the
    client (cancelling the RPC in flight) and lets the worker wind down. Returns (code, error)."""
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=_run_worker, args=(run, credentials, outcome), name="milvus-import-command")
    worker.daemon = True
    signals.recording = True
    worker.start()
    while worker.is_alive() and not signals.received:
        worker.join(0.05)
    if worker.is_alive() or (signals.received and "error" not in outcome and "code" not in outcome):
        signum = signals.received[0]
        run.interrupted = True
        run.interrupted_by = signum
        run.cancel.set()  # a staging in the worker aborts its uploads
        client = run.client
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        deadline = time.monotonic() + WIND_DOWN
        count = len(signals.received)
        while worker.is_alive() and time.monotonic() < deadline and len(signals.received) == count:
            worker.join(0.05)  # a second signal stops the waiting
        run.gate_close()
        run.wind_down = outcome.get("error")
        created = created_job_ids(outcome["error"]) if "error" in outcome else ()
        if created and not run.submitted:
            run.job_ids = tuple(dict.fromkeys((*run.job_ids, *created)))
            run.result["job_ids"] = list(run.job_ids)
        staged = getattr(outcome.get("error"), "staged_keys", ())
        if staged:
            run.staged_keys = tuple(dict.fromkeys((*run.staged_keys, *staged)))
        return None, Interrupted(signum)
    run.gate_close()
    if "error" in outcome:
        return None, outcome["error"]
    return int(outcome.get("code", EXIT_OK)), None


# ------------------------------------------------------------------------------------------------ main
def _code_for(error: BaseException) -> int:
    if isinstance(error, Interrupted):
        return 128 + error.signum
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, EOFError):
        return EXIT_USAGE
    if isinstance(error, (MilvusImportError, UsageError)):
        return exit_code_for(error)
    return EXIT_IMPORT_FAILED


def _open_streams() -> tuple[ReaderSafeStream, ReaderSafeStream, bool]:
    """(stdout, stderr, stdout_gone). A closed stdout (``>&-``) sends everything to stderr; a closed stderr drops
    what would go there."""
    fill_closed_descriptors()
    err = ReaderSafeStream(sys.stderr if usable(sys.stderr) else cast(TextIO, NullStream()))
    if usable(sys.stdout):
        return ReaderSafeStream(sys.stdout), err, False
    return err, err, True


# The JSON document is written on one line: `| head -1` and line-based tools get all of it.
def _report(run: _Run, out: ReaderSafeStream, err: ReaderSafeStream, code: int, error: BaseException | None) -> None:
    """The end of every command: the error line, the job ids where stdout could not take them, the JSON."""
    args = run.args
    created = created_job_ids(error) if error is not None else ()
    if created and not run.job_ids:
        run.job_ids = created
    if error is not None:
        if isinstance(error, KeyboardInterrupt):
            how = {signal.SIGTERM: "terminated", getattr(signal, "SIGHUP", -1): "hung up"}.get(
                getattr(error, "signum", signal.SIGINT), "interrupted"
            )
            message = _interrupted_hint(run, how)
            err.write("\n")
        elif isinstance(error, (MilvusImportError, UsageError, EOFError)):
            message = _error_message(run, error)
        else:  # a bug or an environment problem: still one line, the details with --debug
            message = f"unexpected {type(error).__name__}: {error}"
        if args.debug and not isinstance(error, KeyboardInterrupt):
            err.write(redact("".join(traceback.format_exception(error)), run.secrets))
        unexpected = not isinstance(error, (KeyboardInterrupt, MilvusImportError, UsageError, EOFError))
        hint = " (run with --debug for the traceback)" if unexpected and not args.debug else ""
        line = message if isinstance(error, KeyboardInterrupt) else f"error: {message}"
        err.write(f"{PROG}: {redact(line, run.secrets)}{hint}\n")
        err.flush()
        if args.json:
            run.result["error"] = _error_document(error, code, message, run.job_ids)
            if run.staged_keys:
                run.result["error"]["staged_keys"] = list(run.staged_keys)
    if run.staged_keys:
        run.result["staged_keys"] = list(run.staged_keys)
    if error is None and code != EXIT_OK and args.json and run.outcome is not None:
        kind, message = run.outcome
        run.result["error"] = {"type": kind, "message": message, "exit_code": code, "job_ids": list(run.job_ids)}
    run.result["job_ids"] = list(run.job_ids)
    if args.json:
        text = redact(json.dumps(run.result), run.secrets) + "\n"
        out.write(text)
        out.flush()
        if out.reader_left and out is not err:
            err.write(text)  # the reader left before the document: it goes where it can be read
            err.flush()
    elif out.reader_left and out is not err and run.job_ids and args.command == "submit":
        err.write(f"{PROG}: standard output was closed early; the job ids: {' '.join(run.job_ids)}\n")
        err.flush()


def _early_document(out: ReaderSafeStream, document: dict[str, Any], secrets: Sequence[str]) -> None:
    out.write(redact(json.dumps(document), secrets) + "\n")
    out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``milvus-import`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    process = argv is None  # the console script / python -m: this process ends when main returns
    argv = list(sys.argv[1:] if argv is None else argv)
    # A reader that leaves (`| head -1`) silences the stream, it does not fail the command.
    out, err, _stdout_gone = _open_streams()
    environ = dict(os.environ)  # read here for MILVUS_PASSWORD and for masking only; the library reads the rest
    as_json = _wants_json(argv)
    with _Signals(restore=not process) as signals:
        try:
            return _main(argv, out, err, environ, signals)
        except KeyboardInterrupt as interrupt:  # before the command started (parsing, the password prompt)
            code = 128 + interrupt.signum if isinstance(interrupt, Interrupted) else EXIT_INTERRUPTED
            err.write(f"\n{PROG}: interrupted before anything was sent\n")
            err.flush()
            if as_json:
                error = _error_document(interrupt, code, "interrupted before anything was sent", ())
                _early_document(out, {"job_ids": [], "error": error}, _argv_secrets(argv, environ))
            return code


def _main(
    argv: list[str], out: ReaderSafeStream, err: ReaderSafeStream, environ: Mapping[str, str], signals: _Signals
) -> int:
    parser = build_parser()
    as_json = _wants_json(argv)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            args = _parse(parser, argv)
    except SystemExit as exit_:  # --help, --version: what argparse printed, as JSON too under --json
        text = printed.getvalue()
        if as_json:
            kind = "version" if "--version" in argv and not text.startswith("usage:") else "help"
            _early_document(out, {"job_ids": [], kind: text.rstrip("\n")}, _argv_secrets(argv, environ))
        else:
            out.write(text)
            out.flush()
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    except ArgumentsError as error:
        secrets = _argv_secrets(argv, environ)
        err.write(redact(error.parser.format_usage(), secrets))
        err.write(redact(f"{error.parser.prog}: error: {error.message}\n", secrets))
        err.flush()
        if as_json:
            usage = UsageError(error.message)
            document = {"job_ids": [], "error": _error_document(usage, EXIT_USAGE, error.message, ())}
            _early_document(out, document, secrets)
        return EXIT_USAGE
    run = _Run(
        args,
        cast(TextIO, Gate(cast(TextIO, out))),
        cast(TextIO, Gate(cast(TextIO, err))),
        secrets_of(token=args.token, user=args.user, password=args.password, uri=args.uri, environ=environ),
    )
    logger = logging.getLogger("pymilvus_import")
    handler: logging.Handler | None = None
    level = logger.level
    if args.debug:
        handler = logging.StreamHandler(run.err)
        handler.setFormatter(RedactingFormatter(run.secrets))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    code: int | None = EXIT_OK
    failure: BaseException | None = None
    try:
        try:
            credentials = resolve_credentials(
                args.token,
                args.user,
                args.password,
                environ=environ,
                stdin_is_tty=_isatty(sys.stdin),
                prompt=lambda text: getpass.getpass(text, stream=cast(TextIO, err)),
            )
            run.secrets[:] = secrets_of(
                token=credentials.token,
                user=credentials.user,
                password=credentials.password,
                uri=args.uri,
                environ=environ,
            )  # in place: the log formatter holds it
            code, failure = _execute(run, credentials, signals)
        except BaseException as error:  # every way out is reported below
            failure = error
        finally:
            signals.recording = True  # from here on a signal changes nothing: the report is being written
    except KeyboardInterrupt as late:  # the first signal came while the block above was winding down
        failure = late
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(level)
    run.gate_close()
    if failure is not None:
        code = _code_for(failure)
    assert code is not None
    _report(run, out, err, code, failure)
    return code


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False
