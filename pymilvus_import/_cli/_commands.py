"""The ``milvus-import`` commands (submit, progress, list, wait), their exit codes, and :func:`main`.

Decisions (arguments to requests, errors to exit codes) are plain functions; :func:`main` only wires them to the
client, the terminal and the clock.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

from .._client import ImportClient
from .._errors import (
    AuthenticationError,
    DeadlineExceededError,
    ImportFailedError,
    ImportJobNotFoundError,
    ImportTimeoutError,
    InvalidInputError,
    MilvusImportError,
    ServerUnavailableError,
    TransportError,
)
from .._flows import job_id_number, seconds
from .._models import FAILED, BulkImportResponse, ImportProgress
from .._options import BulkImportOption, new_bulk_import_option
from ._output import (
    ProgressDisplay,
    ReaderSafeStream,
    RedactingFormatter,
    RedactingStream,
    check_lines,
    final_summary,
    format_duration,
    plan_lines,
    progress_dict,
    progress_table,
    record_dict,
    records_table,
    redact,
    secrets_of,
)
from ._parser import _COMMON_DEFAULTS, PROG, ArgumentsError, GroupArgument, UsageError, build_parser, parse_groups

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
    """The exit code of a failure: 2 bad input, 3 connection/auth, 4 timeout, 1 every other import problem."""
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
        #: The timeout handed to wait_for_import, to show it readably in the library's ImportTimeoutError message.
        self.wait_timeout: float | None = None
        self.started = time.monotonic()

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
    ids = getattr(error, "created_job_ids", None) or ()
    return tuple(str(job_id) for job_id in ids)


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
    timeout = run.rpc_timeout(DEFAULT_SUBMIT_TIMEOUT)
    if args.dry_run:
        plan = client.bulk_import(
            option, timeout=timeout, preflight=args.preflight, dry_run=True, validate=args.validate
        )
        run.result.update(dry_run=plan.to_dict())
        run.say(*plan_lines(plan))
        return EXIT_OK
    try:
        response: BulkImportResponse = client.bulk_import(
            option, timeout=timeout, preflight=args.preflight, validate=args.validate
        )
    except (MilvusImportError, KeyboardInterrupt) as error:
        created = created_job_ids(error)
        if created:  # never lost: printed here, in --json and in the error message
            run.job_ids = created
            run.result["job_ids"] = list(created)
            group_index = getattr(error, "group_index", None)
            done = option.files[:group_index] if isinstance(group_index, int) else ()
            when = "interruption" if isinstance(error, KeyboardInterrupt) else "error"
            run.say(
                f"Submitted {len(created)} of {len(option.files)} import jobs into collection {args.collection!r} "
                f"before the {when}:",
                *_job_lines(created, done),
            )
        raise
    run.submitted = True
    run.job_ids = response.job_ids
    run.result["job_ids"] = list(response.job_ids)
    noun = "job" if len(response.job_ids) == 1 else "jobs"
    run.say(f"Submitted {len(response.job_ids)} import {noun} into collection {args.collection!r}:")
    run.say(*_job_lines(response.job_ids, option.files))
    if args.wait:
        run.follow(client, response.job_ids)
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
    failed = any(p.state == FAILED for p in found)
    return EXIT_IMPORT_FAILED if missing or failed else EXIT_OK


def _list(run: _Run, client: ImportClient) -> int:
    records = client.list_import_jobs(run.args.collection, limit=run.args.limit, timeout=run.rpc_timeout())
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
    report = client.check_files(option, full=args.full, read_local_files=True, timeout=run.remaining())
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


def _interrupted_hint(run: _Run) -> str:
    listing = f"'{PROG} list --collection {run.args.collection}'" if run.args.command == "submit" else ""
    if run.args.command == "submit" and not run.submitted:
        created = (
            f"these import jobs were created and keep running on the server: {' '.join(run.job_ids)}; "
            if run.job_ids
            else "no job id came back; "
        )
        return (
            f"interrupted while submitting; {created}the file group being sent may have been created too: "
            f"check {listing} (Milvus 2.4+ lists jobs without their ids)"
        )
    if run.job_ids:
        return f"interrupted; the import jobs keep running on the server: {' '.join(run.job_ids)}"
    return "interrupted"


def _error_message(run: _Run, error: BaseException) -> str:
    """The one line shown for a package error or bad usage, with what to do next."""
    args = run.args
    if isinstance(error, EOFError):
        return "no password given (end of input)"
    no_uri = isinstance(error, InvalidInputError) and error.field == "uri" and not str(error.value or "").strip()
    if no_uri and not (args.uri or "").strip():  # neither --uri nor MILVUS_URI (the library looked)
        return "no Milvus server given: pass --uri http://host:19530 or set MILVUS_URI"
    message = str(error)
    if isinstance(error, ImportTimeoutError) and run.wait_timeout is not None and args.timeout is not None:
        message = message.replace(f"after {seconds(run.wait_timeout)}", f"after {format_duration(args.timeout)}")
    if isinstance(error, DeadlineExceededError) and args.command == "submit" and not run.submitted:
        message += f"; the server may still create the job: check '{PROG} list --collection {args.collection}'"
    if isinstance(error, (ImportTimeoutError, DeadlineExceededError)) and run.job_ids:
        message += f"; the jobs keep running on the server: '{PROG} wait {' '.join(run.job_ids)}'"
    return message


def _fail(run: _Run, error: BaseException, code: int, message: str) -> None:
    """Record the failure in the JSON document: its type, message, exit code and the job ids known so far."""
    if run.args.json:
        run.result["error"] = {
            "type": type(error).__name__,
            "message": message,
            "exit_code": code,
            "job_ids": list(run.job_ids),
        }


def _emit_json(run: _Run) -> None:
    run.out.write(redact(json.dumps(run.result, indent=2), run.secrets) + "\n")
    run.out.flush()


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


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    for name, default in _COMMON_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if not hasattr(args, "timeout"):
        args.timeout = None
    if args.command == "submit" and not args.groups:
        args.command_parser.error("give at least one file group: a GROUP argument or --group PATH [PATH ...]")
    return args


def _wants_json(argv: Sequence[str]) -> bool:
    options = list(argv)[: list(argv).index("--")] if "--" in argv else list(argv)
    return "--json" in options


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``milvus-import`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # A reader that leaves (`| head -1`) silences the stream, it does not fail the command.
    out = cast(TextIO, ReaderSafeStream(sys.stdout))
    err = cast(TextIO, ReaderSafeStream(sys.stderr))
    environ = dict(os.environ)  # read here for MILVUS_PASSWORD and for masking only; the library reads the rest
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exit_:  # --help, --version
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    except ArgumentsError as error:
        secrets = _argv_secrets(argv, environ)
        err.write(redact(error.parser.format_usage(), secrets))
        err.write(redact(f"{error.parser.prog}: error: {error.message}\n", secrets))
        err.flush()
        if _wants_json(argv):
            document = {"error": {"type": "UsageError", "message": error.message, "exit_code": EXIT_USAGE}}
            out.write(redact(json.dumps(document, indent=2), secrets) + "\n")
            out.flush()
        return EXIT_USAGE
    run = _Run(
        args,
        out,
        err,
        secrets_of(token=args.token, user=args.user, password=args.password, uri=args.uri, environ=environ),
    )
    logger = logging.getLogger("pymilvus_import")
    handler: logging.Handler | None = None
    level = logger.level
    if args.debug:
        handler = logging.StreamHandler(err)
        handler.setFormatter(RedactingFormatter(run.secrets))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    code = EXIT_OK
    try:
        credentials = resolve_credentials(
            args.token,
            args.user,
            args.password,
            environ=environ,
            stdin_is_tty=_isatty(sys.stdin),
            prompt=lambda text: getpass.getpass(text, stream=err),
        )
        run.secrets[:] = secrets_of(
            token=credentials.token,
            user=credentials.user,
            password=credentials.password,
            uri=args.uri,
            environ=environ,
        )  # in place: the log formatter holds it
        with _client(args, credentials) as client:
            code = _COMMANDS[args.command](run, client)
    except (MilvusImportError, UsageError, EOFError) as error:
        code = EXIT_USAGE if isinstance(error, EOFError) else exit_code_for(error)
        message = _error_message(run, error)
        _fail(run, error, code, message)
        if args.debug:
            err.write(redact("".join(traceback.format_exception(error)), run.secrets))
        run.note(f"error: {message}")
    except Exception as error:  # a bug or an environment problem: still one line, the details with --debug
        code = EXIT_IMPORT_FAILED
        message = f"unexpected {type(error).__name__}: {error}"
        _fail(run, error, code, message)
        if args.debug:
            err.write(redact("".join(traceback.format_exception(error)), run.secrets))
        run.note(f"error: {message}" + ("" if args.debug else " (run with --debug for the traceback)"))
    except KeyboardInterrupt as interrupt:
        code = EXIT_INTERRUPTED
        run.err.write("\n")
        hint = _interrupted_hint(run)
        run.note(hint)
        _fail(run, interrupt, code, hint)
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(level)
    if args.json:
        _emit_json(run)
    return code


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False
