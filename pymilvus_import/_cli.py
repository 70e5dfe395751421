"""``milvus-import``: submit bulk imports into Milvus and follow them to the end, from a shell.

``python -m pymilvus_import`` runs the same command. Decisions (arguments to requests, errors to exit codes, values
to output) are plain functions here; :func:`main` only wires them to the client, the terminal and the clock.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import getpass
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from . import __version__
from ._client import ImportClient
from ._errors import (
    DeadlineExceededError,
    ImportFailedError,
    ImportJobNotFoundError,
    ImportTimeoutError,
    InvalidInputError,
    MilvusImportError,
    TransportError,
)
from ._flows import job_id_number
from ._models import COMPLETED, FAILED, BulkImportResponse, ImportJobRecord, ImportProgress
from ._options import BulkImportOption, new_bulk_import_option
from ._progress import ProgressDisplay
from ._uri import parse_uri

PROG = "milvus-import"

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

_EXIT_CODES = """\
exit codes:
  0    success (for wait and submit --wait: every job Completed)
  1    an import failed: a job ended Failed, the server refused the import, or
       the job is unknown to the server (ImportJobNotFoundError: never existed, or
       finished more than ~3 h ago)
  2    bad usage or input (arguments, file groups, options, job ids, cert files)
  3    connection or authentication problem (unreachable, TLS, credentials)
  4    timeout (--timeout passed first; the jobs keep running on the server)
  130  interrupted (Ctrl+C); submitted jobs keep running on the server
"""

_ENVIRONMENT = """\
environment:
  MILVUS_URI       default for --uri
  MILVUS_TOKEN     default for --token (when neither --token nor --user is given)
  MILVUS_PASSWORD  password for --user when --password is not given
                   (otherwise you are prompted when stdin is a terminal)
"""

_MAIN_EPILOG = f"""\
examples:
  milvus-import submit --uri http://localhost:19530 -c books --wait /data/books.json
  milvus-import submit -c books /data/a.json /data/b.json /data/npy/id.npy,/data/npy/vec.npy
  milvus-import progress 450000000000000001
  milvus-import wait --timeout 600 450000000000000001 450000000000000002
  milvus-import list -c books --json

{_ENVIRONMENT}
{_EXIT_CODES}
Run 'milvus-import COMMAND --help' for the options of one command.
"""


class UsageError(Exception):
    """Bad usage found by the CLI itself (exit 2), reported like argparse does."""


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


def parse_groups(groups: Sequence[str]) -> list[list[str]]:
    """``GROUP`` arguments to file groups: one file, or the comma-joined files of one group (``id.npy,vec.npy``)."""
    parsed: list[list[str]] = []
    for index, group in enumerate(groups):
        files = [part.strip() for part in group.split(",")]
        if not all(files):
            raise UsageError(
                f"file group {index + 1} {group!r} has an empty path; join the files of one group with commas and "
                "no spaces, e.g. /data/id.npy,/data/vec.npy"
            )
        parsed.append(files)
    return parsed


def parse_key_value(text: str) -> tuple[str, str]:
    """``--option key=value`` (argparse type)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_option(
    collection: str,
    groups: Sequence[str],
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


def secrets_of(credentials: Credentials, uri: str | None, environ: Mapping[str, str]) -> list[str]:
    """Every secret the process knows, as given and as sent on the wire (base64), longest first."""
    raw = [credentials.token, credentials.password, environ.get("MILVUS_TOKEN"), environ.get("MILVUS_PASSWORD")]
    if credentials.user is not None and credentials.password is not None:
        raw.append(f"{credentials.user}:{credentials.password}")
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
        return f"Completed: {len(jobs)} {noun}, {rows} rows imported in {seconds:.1f} s"
    return f"Not finished: {done} of {len(jobs)} {noun} completed after {seconds:.1f} s"


# ------------------------------------------------------------------------------------------------ the parser
def _common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name (defaults are applied after parsing)."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    conn = common.add_argument_group("connection")
    conn.add_argument(
        "--uri", help="Milvus address, e.g. http://localhost:19530 or https://host (default: $MILVUS_URI)"
    )
    conn.add_argument("--token", help="API key or 'user:password' (default: $MILVUS_TOKEN)")
    conn.add_argument("--user", help="user name; the password comes from --password, $MILVUS_PASSWORD or a prompt")
    conn.add_argument("--password", help="password for --user (visible to other local users: prefer the prompt)")
    conn.add_argument("--db", metavar="NAME", help="database (default: the URI's path, else 'default')")
    tls = common.add_argument_group("TLS (used for https:// URIs or when any of these is given)")
    tls.add_argument("--tls", action="store_true", help="use TLS with the system's root certificates")
    tls.add_argument("--ca-cert", metavar="PEM", help="CA certificate file to verify the server with")
    tls.add_argument("--client-cert", metavar="PEM", help="client certificate file (mutual TLS, with --client-key)")
    tls.add_argument("--client-key", metavar="PEM", help="client private key file (mutual TLS)")
    tls.add_argument("--server-name", metavar="NAME", help="name expected in the server's certificate")
    out = common.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON document on stdout (progress on stderr)")
    out.add_argument("--debug", action="store_true", help="log RPCs and show tracebacks on errors (secrets masked)")
    return common


_COMMON_DEFAULTS: dict[str, Any] = {
    "uri": None,
    "token": None,
    "user": None,
    "password": None,
    "db": None,
    "tls": False,
    "ca_cert": None,
    "client_cert": None,
    "client_key": None,
    "server_name": None,
    "json": False,
    "debug": False,
}


def _wait_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help=f"give up after SECONDS ({what}; exit 4); the jobs keep running on the server",
    )
    parser.add_argument(
        "--poll-max",
        type=positive_float,
        default=2.0,
        metavar="SECONDS",
        help="longest pause between two polls (default: 2; polling starts at 0.1 s and backs off)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display, only the final result")


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Bulk-import files into Milvus over gRPC and follow the import jobs to the end.",
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    submit = commands.add_parser(
        "submit",
        parents=[common],
        formatter_class=formatter,
        help="import files into a collection (one job per file group)",
        description=(
            "Import files into a collection: each GROUP becomes one import job. A GROUP is one row-based file\n"
            "(.json, .parquet; .csv on Milvus 2.5+, .jsonl/.ndjson on 2.6+) or the comma-joined .npy files of\n"
            "one column-based import (one file per field, named after the field). Paths are as the server sees\n"
            "them: object keys in Milvus's bucket, or absolute paths for a server with local storage.\n"
            "Prints the job ids; with --wait, follows the jobs to the end."
        ),
        epilog=(
            "examples:\n"
            "  milvus-import submit -c books /data/books.json\n"
            "  milvus-import submit -c books --wait /data/a.parquet /data/npy/id.npy,/data/npy/vec.npy\n"
            "  milvus-import submit -c books -p p2024 -o timeout=300s --json /data/books.json\n\n" + _EXIT_CODES
        ),
    )
    submit.add_argument("-c", "--collection", required=True, help="the collection to import into")
    submit.add_argument("-p", "--partition", help="the partition to import into (default: the collection's default)")
    submit.add_argument(
        "-o",
        "--option",
        dest="options",
        type=parse_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="server import option, repeatable (timeout=300s, backup=true, sep=';', start_ts=..., ...)",
    )
    submit.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="lets Milvus >= 2.6.24 / 3.0.2 recognise a retried submit (older servers ignore it)",
    )
    submit.add_argument("-w", "--wait", action="store_true", help="follow the jobs until they finish")
    _wait_options(submit, what="the whole command; default: 180 s to submit, then no limit")
    submit.add_argument("groups", nargs="+", metavar="GROUP", help="a file, or comma-joined .npy files of one group")

    progress = commands.add_parser(
        "progress",
        parents=[common],
        formatter_class=formatter,
        help="show where import jobs stand",
        description="Show the state of import jobs once (no waiting). Exit 1 when a job Failed or is unknown.",
        epilog=_EXIT_CODES,
    )
    progress.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="time limit (default: 60)")
    progress.add_argument("job_ids", nargs="+", metavar="JOB_ID")

    list_ = commands.add_parser(
        "list",
        parents=[common],
        formatter_class=formatter,
        help="list the import jobs the server knows",
        description=(
            "List import jobs (of one collection with --collection). Milvus 2.4+ reports no job ids here\n"
            "(shown as '-', null in JSON) and forgets finished jobs after ~3 h."
        ),
        epilog=_EXIT_CODES,
    )
    list_.add_argument("-c", "--collection", help="only the jobs of this collection")
    list_.add_argument("--limit", type=positive_int, metavar="N", help="at most N jobs")
    list_.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="time limit (default: 60)")

    wait = commands.add_parser(
        "wait",
        parents=[common],
        formatter_class=formatter,
        help="follow import jobs until they finish",
        description=(
            "Follow import jobs until each is Completed or Failed, with a progress bar on a terminal (tqdm,\n"
            "the 'progress' extra) or plain lines otherwise. Exit 0 when all completed, 1 when one failed."
        ),
        epilog=_EXIT_CODES,
    )
    _wait_options(wait, what="default: wait as long as it takes")
    wait.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    return parser


# ------------------------------------------------------------------------------------------------ running
class _Run:
    """One command's state: arguments, streams, the JSON result being built and the secrets to mask."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO, secrets: list[str]) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.secrets = secrets
        self.result: dict[str, Any] = {}
        self.job_ids: tuple[str, ...] = ()
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
            display = ProgressDisplay(job_ids, self.err if self.args.json else self.out)
        try:
            final = client.wait_for_import(
                job_ids,
                timeout=self.remaining(),
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
    uri = args.uri if args.uri is not None else os.environ.get("MILVUS_URI")
    if not uri or not uri.strip():
        raise UsageError("no Milvus server given: pass --uri http://host:19530 or set MILVUS_URI")
    return ImportClient(
        uri,
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


def _submit(run: _Run, client: ImportClient) -> int:
    args = run.args
    option = build_option(
        args.collection,
        args.groups,
        partition=args.partition,
        options=args.options,
        idempotency_key=args.idempotency_key,
    )
    run.result.update(collection=args.collection, partition=args.partition, database=args.db, job_ids=[])
    response: BulkImportResponse = client.bulk_import(option, timeout=run.rpc_timeout(DEFAULT_SUBMIT_TIMEOUT))
    run.job_ids = response.job_ids
    run.result["job_ids"] = list(response.job_ids)
    noun = "job" if len(response.job_ids) == 1 else "jobs"
    run.say(f"Submitted {len(response.job_ids)} import {noun} into collection {args.collection!r}:")
    if len(response.job_ids) == len(option.files):
        run.say(
            *(f"  {job_id}  {','.join(group)}" for job_id, group in zip(response.job_ids, option.files, strict=True))
        )
    else:
        run.say(*(f"  {job_id}" for job_id in response.job_ids))
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


def _wait(run: _Run, client: ImportClient) -> int:
    job_ids = tuple(str(job_id_number(j)) for j in run.args.job_ids)  # all checked before any RPC
    run.job_ids = job_ids
    run.result["job_ids"] = list(job_ids)
    # A wrong --uri should fail now (exit 3), not after the minute a long wait rides out an unreachable server.
    client.server_version(timeout=min(run.rpc_timeout(), 10.0))
    run.follow(client, job_ids)
    return EXIT_OK


_COMMANDS: dict[str, Callable[[_Run, ImportClient], int]] = {
    "submit": _submit,
    "progress": _progress,
    "list": _list,
    "wait": _wait,
}


class _RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def _interrupted_hint(run: _Run) -> str:
    if run.args.command == "submit" and not run.job_ids:
        return (
            "interrupted while submitting; a job may have been created: check "
            f"'{PROG} list --collection {run.args.collection}'"
        )
    if run.job_ids:
        return f"interrupted; the import jobs keep running on the server: {' '.join(run.job_ids)}"
    return "interrupted"


def _emit_json(run: _Run) -> None:
    run.out.write(redact(json.dumps(run.result, indent=2), run.secrets) + "\n")
    run.out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``milvus-import`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors (argparse exits 2 and prints usage)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    for name, default in _COMMON_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if not hasattr(args, "timeout"):
        args.timeout = None
    out, err = sys.stdout, sys.stderr
    environ = dict(os.environ)
    run = _Run(args, out, err, secrets_of(Credentials(args.token, args.user, args.password), args.uri, environ))
    logger = logging.getLogger("pymilvus_import")
    handler: logging.Handler | None = None
    level = logger.level
    if args.debug:
        handler = logging.StreamHandler(err)
        handler.setFormatter(_RedactingFormatter(run.secrets))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    code = EXIT_OK
    try:
        try:
            credentials = resolve_credentials(
                args.token,
                args.user,
                args.password,
                environ=environ,
                stdin_is_tty=_isatty(sys.stdin),
                prompt=lambda text: getpass.getpass(text, stream=err),
            )
            run.secrets[:] = secrets_of(credentials, args.uri, environ)  # in place: the log formatter holds it
            with _client(args, credentials) as client:
                code = _COMMANDS[args.command](run, client)
        except (MilvusImportError, UsageError, EOFError) as error:
            code = EXIT_USAGE if isinstance(error, EOFError) else exit_code_for(error)
            message = str(error) if not isinstance(error, EOFError) else "no password given (end of input)"
            if isinstance(error, (ImportTimeoutError, DeadlineExceededError)) and run.job_ids:
                message += f"; the jobs keep running on the server: '{PROG} wait {' '.join(run.job_ids)}'"
            elif isinstance(error, DeadlineExceededError) and args.command == "submit":
                message += f"; the server may still create the job: check '{PROG} list --collection {args.collection}'"
            if args.json:
                run.result["error"] = {"type": type(error).__name__, "message": message, "exit_code": code}
            if args.debug:
                err.write(redact("".join(traceback.format_exception(error)), run.secrets))
            run.note(f"error: {message}")
        except BrokenPipeError:
            raise
        except Exception as error:  # a bug or an environment problem: still one line, the details with --debug
            code = EXIT_IMPORT_FAILED
            message = f"unexpected {type(error).__name__}: {error}"
            if args.json:
                run.result["error"] = {"type": type(error).__name__, "message": message, "exit_code": code}
            if args.debug:
                err.write(redact("".join(traceback.format_exception(error)), run.secrets))
            run.note(f"error: {message}" + ("" if args.debug else " (run with --debug for the traceback)"))
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
            run.err.write("\n")
            run.note(_interrupted_hint(run))
            if args.json:
                run.result["error"] = {"type": "KeyboardInterrupt", "message": "interrupted", "exit_code": code}
        if args.json:
            _emit_json(run)
    except BrokenPipeError:  # e.g. `milvus-import list | head -1`: the reader left, nothing more to say
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_IMPORT_FAILED if code == EXIT_OK else code
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(level)
    return code


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False
