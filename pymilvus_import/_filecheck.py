"""File-content checks in the call flows (issue 17): which files can be read, and what a verdict does.

The verdicts themselves are pure (:mod:`._files.check`); this module decides what to read and when:

- ``bulk_import`` runs the **header check** with its preflight by default (``validate="header"``): for every file
  the client can read, before any Import. ``validate="full"`` reads every value (streaming); ``validate="off"``
  (or ``preflight=False``) skips it.
- **Which files can be read**: sources you give (``sources=``: a mapping path -> Source, or a callable); with a
  ``storage`` (an :class:`~._storage.ObjectStorage`: the bucket Milvus reads), the option's paths are keys of that
  bucket, read with ranged GETs (:func:`~._storage.open_key`; local paths are then not read: Milvus reads the
  bucket, not this disk); otherwise local paths, but only when the server is on this machine (a loopback address
  or a unix socket), because then an import path *is* a local path. ``read_local_files=True`` reads local paths
  for any server (a shared mount), ``False`` never. A file the client cannot read gets no verdict.
- Problems raise one :class:`~._errors.FileMismatchError` with every ``(file, field, message)``; ``check_files``
  returns the report instead.

Reading is a :class:`~._effects.Work` effect: the asyncio client runs it in a worker thread. The server version is
asked (once per channel) only when some file can be read.
"""

from __future__ import annotations

import inspect
import ipaddress
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._calls import CallOptions
from ._effects import Flow, Work
from ._errors import FileMismatchError, InvalidInputError
from ._files.source import Source
from ._identity import Identity
from ._import_flow import _version_for_verdicts, import_context
from ._options import BulkImportOption
from ._secrets import shown
from ._session import Session
from ._versions import parse_version

if TYPE_CHECKING:
    from . import _wire
    from ._files.check import FileReport, Opener
    from ._storage import ObjectStorage

#: What ``validate=`` takes.
VALIDATE_MODES = ("header", "full", "off")

SourcesArg = Mapping[str, Source] | Callable[[str], Source | None] | None

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def is_local_address(address: str | None) -> bool:
    """Whether a dial address (``host:port``, ``[v6]:port``, ``unix:/path``) is on this machine."""
    if not address:
        return False
    if address.startswith("unix:") or address.startswith("unix-abstract:"):
        return True
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 or address.startswith("[") else address
    host = host.strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_validate(validate: object) -> str | None:
    """``validate`` as given to a call (None: the client's default); refuse anything else before any RPC."""
    if validate is None:
        return None
    if validate is False:
        return "off"
    if validate is True:
        return "header"
    if isinstance(validate, str) and validate in VALIDATE_MODES:
        return validate
    raise InvalidInputError(
        f"validate must be one of {', '.join(map(repr, VALIDATE_MODES))} (or True/False), got {shown(validate)}",
        value=validate,
        field="validate",
    )


class FileAccess:
    """How a client reaches file contents: ``sources`` given by the caller, the bucket Milvus reads (``storage``:
    the option's paths are its keys), and whether local paths are read (never with a storage)."""

    __slots__ = ("open_file", "read_local", "sources", "storage")

    def __init__(
        self,
        *,
        read_local: bool,
        sources: SourcesArg = None,
        storage: ObjectStorage | None = None,
        open_file: Callable[[str], Source | None] | None = None,
    ) -> None:
        self.read_local = read_local and storage is None
        self.sources = sources
        self.storage = storage
        #: With a storage in ``bulk_import``: opens the option's paths (``_import_flow.Staging.open_file``: local
        #: files about to be staged from this disk, keys in the bucket); None from it falls through to the rest.
        self.open_file = open_file

    def opener(self) -> Opener:
        from ._files.source import LocalFile

        sources, read_local, storage, open_file = self.sources, self.read_local, self.storage, self.open_file

        def open_source(path: str) -> Source | None:
            if isinstance(sources, Mapping):
                found = sources.get(path)
                if found is not None:
                    return found
            elif callable(sources):
                found = sources(path)
                if found is not None:
                    return found
            if open_file is not None:
                found = open_file(path)
                if found is not None:
                    return found
            if storage is not None:
                from ._storage import open_key

                return open_key(storage, path)
            if read_local and os.path.isfile(path):
                return LocalFile(path)
            return None

        return open_source

    def with_storage(
        self, storage: ObjectStorage | None, open_file: Callable[[str], Source | None] | None = None
    ) -> FileAccess:
        """This access reading the option's paths as keys of ``storage`` (itself when None), through ``open_file``
        when given."""
        if storage is None:
            return self
        return FileAccess(read_local=False, sources=self.sources, storage=storage, open_file=open_file)

    def can_read_any(self, option: BulkImportOption) -> bool:
        if self.sources is not None or self.storage is not None:
            return True
        return self.read_local and any(os.path.isfile(p) for group in option.files for p in group)


def access_for(
    address: str | None,
    read_local_files: bool | None,
    sources: SourcesArg,
    storage: ObjectStorage | None = None,
) -> FileAccess:
    if sources is not None and not (isinstance(sources, Mapping) or callable(sources)):
        raise InvalidInputError(
            f"sources must be a mapping of path -> Source or a callable, got {type(sources).__name__}",
            value=type(sources).__name__,
            field="sources",
        )
    if callable(sources) and not isinstance(sources, Mapping):
        _check_source_function(sources)
    if read_local_files is not None and not isinstance(read_local_files, bool):
        raise InvalidInputError(
            f"read_local_files must be True, False or None, got {shown(read_local_files)}",
            value=read_local_files,
            field="read_local_files",
        )
    local = is_local_address(address) if read_local_files is None else read_local_files
    return FileAccess(read_local=local, sources=sources, storage=storage)


def _check_source_function(sources: Callable[..., object]) -> None:
    """A callable ``sources`` is called as ``sources(path)`` (never awaited): checked up front, like ``on_progress``,
    so a wrong one is an InvalidInputError before any RPC, not a TypeError in the middle of the check."""
    kind = type(sources).__name__
    if inspect.iscoroutinefunction(sources):
        raise InvalidInputError(
            "sources must be a plain function path -> Source or None (it is never awaited), got a coroutine function",
            value=kind,
            field="sources",
        )
    try:
        signature = inspect.signature(sources)
    except Exception:  # no signature to read (some builtins): taken as it is
        return
    try:
        signature.bind("path")
    except TypeError:
        raise InvalidInputError(
            f"sources must be callable as sources(path) -> Source or None; the {kind} given cannot take one argument",
            value=kind,
            field="sources",
        ) from None


def _options_of(option: BulkImportOption) -> dict[str, str]:
    return {key: value for key, value in option.options}


def report_flow(
    session: Session,
    identity: Identity,
    option: BulkImportOption,
    call: CallOptions,
    schema: _wire.CollectionSchema,
    access: FileAccess,
    *,
    full: bool,
) -> Flow[FileReport]:
    """The report on every file of ``option`` (no raise for a problem in a file)."""
    from ._files.check import check_files

    version_text = None
    if access.can_read_any(option):
        version_text = yield from _version_for_verdicts(session, identity, call)
    version = parse_version(version_text or "")
    opener = access.opener()
    groups = [] if option.is_backup else [list(group) for group in option.files]
    options = _options_of(option)

    def run() -> FileReport:
        return check_files(schema, version, groups, opener, options=options, full=full, server_version=version_text)

    report: FileReport = yield Work(run, what="check files")
    return report


def mismatch_error(report: FileReport, option: BulkImportOption, db_name: str) -> FileMismatchError:
    problems = report.problems
    files = sorted({p.file for p in problems})
    lines = [f"  {p.file}: {p.field or '-'}: {p.message}" for p in problems[:20]]
    if len(problems) > 20:
        lines.append(f"  ... and {len(problems) - 20} more (see .problems)")
    version = f" (server {report.server_version})" if report.server_version else " (server version unknown)"
    message = (
        f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {len(files)} file"
        f"{'s' if len(files) != 1 else ''} for collection {option.collection_name!r}{version}; no import was sent:\n"
        + "\n".join(lines)
    )
    return FileMismatchError(
        message,
        collection_name=option.collection_name,
        db_name=db_name,
        problems=problems,
        report=report,
    )


def file_check_flow(
    session: Session,
    identity: Identity,
    option: BulkImportOption,
    call: CallOptions,
    access: FileAccess,
    validate: str,
) -> Callable[[_wire.CollectionSchema], Flow[None]]:
    """What the preflight runs against a schema before its own verdicts: raises :class:`FileMismatchError` when
    a readable file does not fit. Nothing is read (and no version asked) when no file can be read."""

    def check(schema: _wire.CollectionSchema) -> Flow[None]:
        if validate == "off" or option.is_backup or not access.can_read_any(option):
            return
        from ._preflight import check_partition_name

        db_name, _metadata = import_context(identity, option, call)
        # A partition named for a partition-key collection rules the request out whatever the files hold: say so
        # first, as without the file check.
        check_partition_name(schema, option.partition_name, db_name=db_name)
        report = yield from report_flow(session, identity, option, call, schema, access, full=validate == "full")
        if not report.ok:
            raise mismatch_error(report, option, db_name)

    return check


def check_files_flow(
    session: Session,
    identity: Identity,
    option: BulkImportOption,
    call: CallOptions,
    cache: Any,
    access: FileAccess,
    *,
    full: bool,
) -> Flow[FileReport]:
    """``ImportClient.check_files``: the collection's schema (cached like the preflight's), then the report."""
    from ._preflight import _describe

    db_name, metadata = import_context(identity, option, call)
    deadline = session.deadline(call.timeout)
    entry = cache.get(session.target, db_name, option.collection_name)
    schema = entry.schema if entry is not None else None
    if schema is None:
        schema = yield from _describe(session, option, db_name, deadline, metadata, call)
        if schema is None:
            from ._files.check import NOT_READABLE, FileReport, FileVerdict, file_format

            detail = "the server did not describe the collection: no verdict"
            verdicts = tuple(
                FileVerdict(p, i, file_format(p) or "unknown", NOT_READABLE, detail=detail)
                for i, group in enumerate(option.files)
                for p in group
            )
            return FileReport(verdicts, full=full)
        cache.put(session.target, db_name, option.collection_name, schema)
    return (yield from report_flow(session, identity, option, call, schema, access, full=full))
