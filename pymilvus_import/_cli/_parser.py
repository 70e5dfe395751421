"""The ``milvus-import`` command line: arguments, their types and the help texts (no I/O, no RPCs)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import __version__

PROG = "milvus-import"

_EXIT_CODES = """\
exit codes:
  0    success (for wait and submit --wait: every job Completed)
  1    an import failed: a job ended Failed, the server refused the import, or
       the job is unknown to the server (ImportJobNotFoundError: never existed, or
       finished more than ~3 h ago)
  2    bad usage or input (arguments, file groups, options, job ids, cert files),
       also what the preflight finds before any import is sent: an unknown
       collection, database or partition, files that do not fit the schema
  3    connection or authentication problem (unreachable, TLS, credentials)
  4    timeout (--timeout passed first; the jobs keep running on the server)
  130  interrupted (Ctrl+C, SIGINT); 143 terminated (SIGTERM); 129 hung up (SIGHUP):
       submitted jobs keep running on the server
Every exit path prints the job ids already created (in --json: "job_ids", also
inside "error"). A reader that leaves early (e.g. '| head -1') is not an error:
the command goes on quietly, exits with its own result and repeats the job ids on
standard error; with standard output closed ('>&-') everything goes to standard
error.
"""

_ENVIRONMENT = """\
environment:
  MILVUS_URI       default for --uri (read by the library, like MILVUS_TOKEN)
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


class ArgumentsError(Exception):
    """argparse found bad arguments; :func:`main` prints ``parser``'s usage and the message (exit 2)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`ArgumentsError` instead of exiting, so ``--json`` can still print a document."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentsError(self, message)


#: One entry per file group, in command-line order: a GROUP argument (text, comma-joined) or a --group (paths).
GroupArgument = str | tuple[str, ...]


class Token(str):
    """One command-line argument, with its ``position`` in argv. argparse hands the very string objects it was
    given to actions and leaves unmatched ones in its extras, so the position survives parsing: it puts GROUPs,
    --group options and job ids split by other options (``A --wait B``, ``A --group B -- C``) back in
    command-line order."""

    position: int


def tokens(argv: Sequence[str]) -> list[str]:
    result: list[str] = []
    for position, arg in enumerate(argv):
        token = Token(arg)
        token.position = position
        result.append(token)
    return result


def position_of(value: object, default: int) -> int:
    return value.position if isinstance(value, Token) else default


class _AddGroups(argparse.Action):
    """GROUP arguments and --group options append to one list of (position, group), so the groups keep their
    command-line order (:func:`ordered` sorts them once parsing is done)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        entries: list[tuple[int, GroupArgument]] = list(getattr(namespace, self.dest, None) or [])
        given = [values] if isinstance(values, str) else list(values or ())
        if option_string is None:  # positional GROUPs: each is one comma-joined group
            entries.extend((position_of(v, len(entries)), str(v)) for v in given)
        elif given:
            entries.append((position_of(given[0], len(entries)), tuple(str(v) for v in given)))
        setattr(namespace, self.dest, entries)


def parse_groups(groups: Sequence[GroupArgument]) -> list[list[str]]:
    """File groups from GROUP arguments (one file, or the comma-joined files of one group: ``id.npy,vec.npy``) and
    --group options (paths as given). Nothing is stripped: the library rejects paths with surrounding white space."""
    parsed: list[list[str]] = []
    for group in groups:
        if not isinstance(group, str):
            parsed.append(list(group))
            continue
        files = group.split(",")
        if not all(files):
            raise UsageError(
                f"file group {group!r} has an empty path; join the files of one group with commas and no spaces, "
                "e.g. /data/id.npy,/data/vec.npy (for a path that holds a comma, use --group PATH)"
            )
        parsed.append(files)
    return parsed


def parse_key_value(text: str) -> tuple[str, str]:
    """``--option key=value`` (argparse type). The key is taken as given: a key with spaces would reach the server
    as an unknown option and be ignored, so it is refused."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key != key.strip():
        raise argparse.ArgumentTypeError(f"option key {key!r} has leading or trailing white space (in {text!r})")
    return key, value


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


# ------------------------------------------------------------------------------------------------ the parser
def _common_options() -> ArgumentParser:
    """Options every command takes, before or after the command name (defaults are applied after parsing)."""
    common = ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
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


def _storage_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_argument_group(
        "object storage (the bucket Milvus reads; credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "AWS_SESSION_TOKEN, AWS_REGION)"
    )
    group.add_argument(
        "--storage",
        metavar="URL",
        required=required,
        help="s3://BUCKET/PREFIX: Milvus's bucket (minio.bucketName) and where staged files go",
    )
    group.add_argument(
        "--storage-endpoint",
        metavar="URL",
        help="the S3 endpoint, e.g. http://minio:9000 (default: $AWS_ENDPOINT_URL, else AWS)",
    )


def _group_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--group",
        dest="groups",
        action=_AddGroups,
        nargs="+",
        metavar="PATH",
        help="one file group with its paths taken literally (commas and spaces are part of the name), repeatable; "
        "it takes every following argument up to the next option or --; groups keep their command-line order",
    )
    parser.add_argument(
        "groups",
        nargs="*",
        action=_AddGroups,
        metavar="GROUP",
        help="a file, or the comma-joined .npy files of one group (a path holding a comma: use --group)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    formatter = argparse.RawDescriptionHelpFormatter
    parser = ArgumentParser(
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
            "Paths are sent exactly as given (no spaces are trimmed). A path that holds a comma cannot be\n"
            "a GROUP: give its group with --group PATH [PATH ...], which takes paths literally. The groups\n"
            "are submitted in command-line order, GROUP arguments and --group options alike.\n"
            "Prints the job ids; with --wait, follows the jobs to the end."
        ),
        epilog=(
            "examples:\n"
            "  milvus-import submit -c books /data/books.json\n"
            "  milvus-import submit -c books --wait /data/a.parquet /data/npy/id.npy,/data/npy/vec.npy\n"
            "  milvus-import submit -c books -p p2024 -o timeout=300s --json /data/books.json\n"
            "  milvus-import submit -c books --group '/d/2024,q1.json' --group /d/a,b/id.npy /d/a,b/vec.npy\n\n"
            + _EXIT_CODES
        ),
    )
    submit.set_defaults(command_parser=submit)  # for the "no file group" usage error
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
    submit.add_argument(
        "--no-preflight",
        dest="preflight",
        action="store_false",
        help="skip the preflight (by default the collection, partition and NumPy files are checked against the "
        "server's schema first, and nothing is sent when they cannot work)",
    )
    submit.add_argument(
        "--validate",
        choices=("header", "full", "off"),
        default=None,
        help="file-content check with the preflight, for files this machine can read (default: header = headers "
        "and first rows; full = every value; off = none); see also the check command",
    )
    submit.add_argument(
        "--dry-run",
        action="store_true",
        help="run the preflight and print the Import requests that would be sent (secrets masked); send none",
    )
    _wait_options(submit, what="the whole command; default: 180 s to submit, then no limit")
    _storage_options(submit, required=False)
    submit.add_argument(
        "--upload",
        action="store_true",
        help="with --storage: stage the local files into the bucket first and import their keys",
    )
    _group_arguments(submit)

    stage = commands.add_parser(
        "stage",
        parents=[common],
        formatter_class=formatter,
        help="upload local files into Milvus's bucket and print their keys",
        description=(
            "Upload local files into the bucket Milvus reads (--storage s3://BUCKET/PREFIX), at\n"
            "PREFIX/<sha256>/<file name>, and print the keys in the same groups (give them to submit).\n"
            "A file already there with the same content is not sent again. Needs no Milvus server."
        ),
        epilog=(
            "examples:\n"
            "  milvus-import stage --storage s3://a-bucket/staged /data/books.json /data/npy/id.npy,/data/npy/vec.npy\n"
            "  milvus-import stage --storage s3://a-bucket/in --storage-endpoint http://minio:9000 --json rows.json\n\n"
            + _EXIT_CODES
        ),
    )
    stage.set_defaults(command_parser=stage)
    _storage_options(stage, required=True)
    _group_arguments(stage)

    check = commands.add_parser(
        "check",
        parents=[common],
        formatter_class=formatter,
        help="check what is inside files against a collection; send no import",
        description=(
            "Check the files of each GROUP against the collection's schema and the server's version, as the\n"
            "server would (NumPy headers, Parquet footers, the CSV header, the first JSON rows; --full: every\n"
            "value), and print every problem of every file. No import is sent. Files are read from this\n"
            "machine's disk, or with --storage as keys of that bucket (ranged reads, never a whole object);\n"
            "a file that cannot be read gets no verdict. Exit 0 when no problem was found,\n"
            "2 when one was."
        ),
        epilog=(
            "examples:\n"
            "  milvus-import check -c books /data/books.json /data/npy/id.npy,/data/npy/vec.npy\n"
            "  milvus-import check -c books --full --json /data/books.parquet\n"
            "  milvus-import check -c books --storage s3://milvus-bucket data/books.parquet   # keys in the bucket\n\n"
            + _EXIT_CODES
        ),
    )
    check.set_defaults(command_parser=check)
    check.add_argument("-c", "--collection", required=True, help="the collection the files are for")
    check.add_argument("--full", action="store_true", help="read every value (streaming; costs a full read)")
    check.add_argument(
        "-o",
        "--option",
        dest="options",
        type=parse_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="import option the check reads too (sep=';', nullkey=...), repeatable",
    )
    check.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="time limit (default: no limit)")
    _storage_options(check, required=False)
    _group_arguments(check)

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


#: The positional list of each command: where arguments left over after an option (``A --wait B``) belong.
POSITIONALS = {"submit": "groups", "stage": "groups", "check": "groups", "progress": "job_ids", "wait": "job_ids"}
