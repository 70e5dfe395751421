"""The preflight: the verdicts, the schema cache and ``preflight_flow`` (pure: no I/O; the RPCs are effects).

Before the first Import of a ``bulk_import`` call, ask the server about the collection with the read-only RPCs it
already has, and refuse, with a typed :class:`~._errors.PreflightError` that names the value, what cannot succeed.
No Import is sent then, so no job is created (on Milvus 2.3.5 an unknown collection otherwise takes 12-53 s to come
back from Import, and a NumPy group without a field fails minutes later).

How it runs: ``_import_flow.import_flow`` (what every ``bulk_import`` runs) calls :func:`preflight_flow` with the
*same* session, database, metadata, call options and deadline as the Imports. What the preflight learns is kept in
the client's :class:`SchemaCache` for :data:`SCHEMA_TTL` seconds, so a loop of imports pays one DescribeCollection;
an Import the server refuses drops the collection's entry. ``GetVersion`` is asked only when a verdict needs it (a
CSV or JSON Lines file, ``auto_commit``), so a typical first call costs one extra round trip (DescribeCollection;
HasPartition too when a partition is named). What a server status means is read from ``_errors.MILVUS_STATUS``; what
a version can do from ``_versions``.

Decisions:

- PERMISSION_DENIED or UNIMPLEMENTED on a preflight RPC, a non-zero status we do not recognise, or a reply without
  a schema: the preflight gives no verdict (logged at debug) and the Import goes ahead. The preflight never refuses
  on a guess.
- A verdict against a *cached* schema that would refuse is re-checked against a fresh DescribeCollection first, so a
  collection dropped and recreated within the TTL cannot cause a wrong refusal; a stale pass only lets the server
  judge, as without the preflight.
- Version verdicts come only from documented facts (the tables in ``_versions``): CSV needs Milvus 2.5+, JSON Lines
  (``.jsonl``/``.ndjson``) 2.6+, and ``auto_commit='false'`` needs 3.x (an older server ignores the key and commits
  on its own, the opposite of what was asked). ``auto_commit='true'`` is harmless on older servers and passes. A
  version string that is not a Milvus release gives no version verdict.
- DescribeCollection answering 1100 (invalid parameter) refuses the collection's name: every Milvus line validates
  the name there, and Import never would (on 2.3.5 it fails after ~52 s).
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _wire
from ._calls import CallOptions, Clock, Deadline, Metadata
from ._effects import Flow
from ._errors import (
    CollectionNotFoundError,
    DatabaseNotFoundError,
    InvalidCollectionNameError,
    PartitionNotFoundError,
    PermissionDeniedError,
    SchemaMismatchError,
    TransportError,
    UnsupportedByServerError,
    milvus_status,
    status_name,
)
from ._options import BulkImportOption
from ._session import Session, read_only_call
from ._versions import Version, format_since, is_numpy_group, option_since, parse_version

log = logging.getLogger("pymilvus_import")

#: How long a preflight answer is reused, in seconds: long enough for a loop of imports to pay one DescribeCollection,
#: short enough that a schema change is seen soon (and a refusal is always re-checked against a fresh answer).
SCHEMA_TTL = 10.0

DYNAMIC_FIELD = "$meta"

# --- verdicts (pure) -------------------------------------------------------------------------------------------


def _db(db_name: str) -> str:
    return db_name or "default"


def check_collection_reply(
    reply: _wire.DescribeCollectionReply, *, collection_name: str, db_name: str
) -> _wire.CollectionSchema | None:
    """The schema from a DescribeCollection reply; raises when the server says the collection or database does not
    exist, or refuses the collection's name. Returns None (no verdict) for any other non-zero status, or an OK reply
    without a schema."""
    code, reason = reply.code, reply.reason
    meaning = milvus_status("DescribeCollection", code, reason)
    if meaning is DatabaseNotFoundError:
        raise DatabaseNotFoundError(
            f"database {_db(db_name)!r} does not exist on the server (asked for collection {collection_name!r}; "
            f"server status {code}: {reason}); no import was sent",
            collection_name=collection_name,
            db_name=db_name,
            value=_db(db_name),
            field="db_name",
        )
    if meaning is CollectionNotFoundError:
        raise CollectionNotFoundError(
            f"collection {collection_name!r} does not exist in database {_db(db_name)!r} (server status {code}: "
            f"{reason}); no import was sent",
            collection_name=collection_name,
            db_name=db_name,
            value=collection_name,
            field="collection_name",
        )
    if meaning is InvalidCollectionNameError:
        raise InvalidCollectionNameError(
            f"the server refuses the collection name {collection_name!r} (server status {code}: {reason}); no "
            "collection can have this name (Milvus: a letter or an underscore first, then letters, digits and "
            "underscores, at most 255 by default); no import was sent",
            collection_name=collection_name,
            db_name=db_name,
            value=collection_name,
            field="collection_name",
        )
    if code:
        log.debug("preflight: DescribeCollection %r answered status %d (%s); no verdict", collection_name, code, reason)
        return None
    if reply.schema is None:
        log.debug("preflight: DescribeCollection %r answered no schema; no verdict", collection_name)
        return None
    return reply.schema


def check_partition_name(schema: _wire.CollectionSchema, partition_name: str, *, db_name: str) -> None:
    """A collection with a partition key places rows by that key: the server refuses an explicit partition."""
    key = schema.partition_key
    if partition_name and key is not None:
        raise SchemaMismatchError(
            f"collection {schema.collection_name!r} has the partition key field {key!r}, so rows go to partitions by "
            f"that field; do not name a partition (got {partition_name!r}): drop with_partition(...)",
            collection_name=schema.collection_name,
            db_name=db_name,
            value=partition_name,
            field="partition_name",
            field_name=key,
        )


def partition_not_found(collection_name: str, partition_name: str, db_name: str) -> PartitionNotFoundError:
    return PartitionNotFoundError(
        f"collection {collection_name!r} in database {_db(db_name)!r} has no partition {partition_name!r}; "
        "create it first or import into the default partition; no import was sent",
        collection_name=collection_name,
        db_name=db_name,
        partition_name=partition_name,
    )


def _stem(path: str) -> str:
    base = posixpath.basename(path)
    return base[:-4] if base.lower().endswith(".npy") else base


def extra_npy_file_refused(version: Version | None) -> bool:
    """Whether a server of ``version`` fails a NumPy import with a ``.npy`` file that names no field (2.3 does; 2.4+
    ignores the file). The rule is the file checks' row ``npy-extra-file`` (``_files/rules.py``), read here so the
    preflight and ``check_files`` agree; an unknown version: not refused, as the server may ignore the file."""
    from ._files.rules import RULES  # loaded only for a group with such a file: keeps `import pymilvus_import` cheap

    return RULES["npy-extra-file"].versions.holds(version)


def check_numpy_group(
    schema: _wire.CollectionSchema,
    index: int,
    group: Sequence[str],
    *,
    db_name: str,
    version: Version | None = None,
) -> None:
    """A NumPy group holds one ``<field>.npy`` per field to import. Refuse the auto-id primary key, a missing field
    (one that is neither auto-id, nullable, defaulted, nor filled by a function), and, where the server of
    ``version`` fails on it (:func:`extra_npy_file_refused`), a file for no field (suggesting a close name) and
    ``$meta`` without a dynamic field. Where the server ignores such a file, a missing field's message names it."""
    if not is_numpy_group(group):
        return
    collection = schema.collection_name
    by_name = {f.name: f for f in schema.fields}
    stems = {_stem(p): p for p in group}
    allowed = [
        f.name
        for f in schema.fields
        if not f.is_dynamic and not (f.is_primary and f.auto_id) and not f.is_function_output
    ]
    allowed.extend(schema.struct_array_fields)
    if schema.enable_dynamic_field:
        allowed.append(DYNAMIC_FIELD)

    def mismatch(message: str, path: str | None, field_name: str | None, suggestion: str | None = None) -> None:
        raise SchemaMismatchError(
            message + "; no import was sent",
            collection_name=collection,
            db_name=db_name,
            value=path if path is not None else field_name,
            field="files",
            file=path,
            field_name=field_name,
            suggestion=suggestion,
        )

    ignored: list[str] = []
    for stem, path in stems.items():
        field = by_name.get(stem)
        if field is not None and field.is_primary and field.auto_id:
            mismatch(
                f"file {path!r} in group {index} supplies {stem!r}, the auto-id primary key of collection "
                f"{collection!r}: the server generates it, remove the file",
                path,
                stem,
            )
        if stem == DYNAMIC_FIELD and not schema.enable_dynamic_field:
            if not extra_npy_file_refused(version):  # not a field there either: ignored like any other such file
                ignored.append(f"{path!r} (the dynamic field) is ignored by the server: the collection has none")
                continue
            mismatch(
                f"file {path!r} in group {index} supplies the dynamic field {DYNAMIC_FIELD!r}, but collection "
                f"{collection!r} has no dynamic field (enable_dynamic_field is off)",
                path,
                stem,
            )
        if stem in allowed or field is not None:
            continue
        import difflib  # only for a file that names no field: keeps `import pymilvus_import` cheap

        close = difflib.get_close_matches(stem, allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0] + '.npy'!r}?" if close else ""
        if not extra_npy_file_refused(version):
            ignored.append(f"{path!r} names no field and is ignored by the server{hint}")
            continue
        mismatch(
            f"file {path!r} in group {index} names no field of collection {collection!r} (a .npy file's name is its "
            f"field: {sorted(allowed)}){hint}",
            path,
            stem,
            close[0] if close else None,
        )
    required = [
        f.name
        for f in schema.fields
        if f.name in allowed and not (f.nullable or f.has_default) and f.name != DYNAMIC_FIELD
    ]
    missing = [name for name in required if name not in stems]
    if missing:
        files = ", ".join(f"{name}.npy" for name in missing)
        mismatch(
            f"file group {index} has no file for field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
            f" of collection {collection!r}: add {files} (a NumPy group needs one file per field)"
            + "".join(f"; {note}" for note in ignored),
            None,
            missing[0],
        )


def check_version(option: BulkImportOption, version: str | None, *, db_name: str) -> None:
    """Refuse a row-based format or an option the server's version cannot read (documented facts only)."""
    if version is None:
        return
    parsed = parse_version(version)
    if parsed is None:
        return
    if not option.is_backup:
        for index, group in enumerate(option.files):
            for path in group:
                since = format_since(path)
                if since is not None and parsed < since[0]:
                    need = ".".join(map(str, since[0][:2]))
                    raise UnsupportedByServerError(
                        f"file {path!r} in group {index} is {since[1]}, which Milvus reads from {need} on; the server "
                        f"is {version}: convert it to JSON or Parquet; no import was sent",
                        collection_name=option.collection_name,
                        db_name=db_name,
                        server_version=version,
                        value=path,
                        field="files",
                    )
    for key, value in option.options:
        needed = option_since(key, value)
        if needed is not None and parsed < needed:
            raise UnsupportedByServerError(
                f"option {key}={value.lower()!r} needs Milvus {needed[0]}.x; the server is {version} and would ignore "
                "it and commit the import on its own; drop the option; no import was sent",
                collection_name=option.collection_name,
                db_name=db_name,
                server_version=version,
                value=key,
                field="options",
            )


def check_schema(
    option: BulkImportOption, schema: _wire.CollectionSchema, *, db_name: str, version: str | None = None
) -> None:
    """Every verdict that needs the schema (the partition's existence is asked separately); ``version`` (the
    server's, None when unknown) for the verdicts that depend on it."""
    check_partition_name(schema, option.partition_name, db_name=db_name)
    if not option.is_backup:
        parsed = parse_version(version)
        for index, group in enumerate(option.files):
            check_numpy_group(schema, index, group, db_name=db_name, version=parsed)


# --- the cache ---------------------------------------------------------------------------------------------------


class _Entry:
    __slots__ = ("at", "partitions", "schema")

    def __init__(self, schema: _wire.CollectionSchema, at: float) -> None:
        self.schema = schema
        self.at = at
        self.partitions: set[str] = set()  # partitions the server confirmed


class SchemaCache:
    """What the preflight learned, per (target, database, collection), for ``ttl`` seconds (default
    :data:`SCHEMA_TTL`). Not thread-safe by itself; the sync client's calls may race on it harmlessly (an entry is
    replaced whole, the worst case is one more DescribeCollection)."""

    def __init__(self, ttl: float = SCHEMA_TTL, clock: Clock = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str, str], _Entry] = {}

    @staticmethod
    def _key(target: str, db_name: str, collection_name: str) -> tuple[str, str, str]:
        return (target, _db(db_name), collection_name)

    def get(self, target: str, db_name: str, collection_name: str) -> _Entry | None:
        key = self._key(target, db_name, collection_name)
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.at >= self.ttl:
            del self._entries[key]
            return None
        return entry

    def put(self, target: str, db_name: str, collection_name: str, schema: _wire.CollectionSchema) -> _Entry:
        entry = _Entry(schema, self._clock())
        self._entries[self._key(target, db_name, collection_name)] = entry
        return entry

    def invalidate(
        self, target: str | None = None, db_name: str | None = None, collection_name: str | None = None
    ) -> None:
        """Forget entries matching every given part (all entries when called without arguments)."""
        for key in list(self._entries):
            if (
                (target is None or key[0] == target)
                and (db_name is None or key[1] == _db(db_name))
                and (collection_name is None or key[2] == collection_name)
            ):
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


# --- the flow ----------------------------------------------------------------------------------------------------


def _ask(
    session: Session,
    method: str,
    request: bytes,
    decode: Callable[[bytes], Any],
    deadline: Deadline,
    metadata: Metadata,
    call: CallOptions,
) -> Flow[Any]:
    """A preflight RPC; None when the server will not answer it (PERMISSION_DENIED, UNIMPLEMENTED)."""
    try:
        return decode((yield from read_only_call(session, method, request, deadline, metadata, call)))
    except TransportError as error:
        if isinstance(error, PermissionDeniedError) or status_name(error) == "UNIMPLEMENTED":
            log.debug("preflight: %s on %s answered %s; no verdict", method, session.target, error.code)
            return None
        raise


def _describe(
    session: Session, option: BulkImportOption, db_name: str, deadline: Deadline, metadata: Metadata, call: CallOptions
) -> Flow[_wire.CollectionSchema | None]:
    request = _wire.encode_describe_collection_request(collection_name=option.collection_name, db_name=db_name)
    reply = yield from _ask(
        session,
        _wire.DESCRIBE_COLLECTION,
        request,
        _wire.decode_describe_collection_response,
        deadline,
        metadata,
        call,
    )
    if reply is None:
        return None
    return check_collection_reply(reply, collection_name=option.collection_name, db_name=db_name)


def _has_partition(
    session: Session, option: BulkImportOption, db_name: str, deadline: Deadline, metadata: Metadata, call: CallOptions
) -> Flow[bool | None]:
    request = _wire.encode_has_partition_request(
        collection_name=option.collection_name, partition_name=option.partition_name, db_name=db_name
    )
    reply = yield from _ask(session, _wire.HAS_PARTITION, request, _wire.decode_bool_response, deadline, metadata, call)
    if reply is None:
        return None
    code, reason, exists = reply
    if code:
        log.debug("preflight: HasPartition answered status %d (%s); no verdict", code, reason)
        return None
    return bool(exists)


def preflight_flow(
    session: Session,
    option: BulkImportOption,
    call: CallOptions,
    deadline: Deadline,
    cache: SchemaCache | None = None,
    *,
    db_name: str,
    metadata: Metadata,
    version: str | None = None,
    files: Callable[[_wire.CollectionSchema], Flow[None]] | None = None,
) -> Flow[_wire.CollectionSchema | None]:
    """Check ``option`` against the server before any Import: version verdicts (no RPC), then DescribeCollection
    (cached), then HasPartition when a partition is named and not yet confirmed. Returns the schema checked against,
    or None when the server gave no usable answer. Raises a :class:`~._errors.PreflightError` subclass for a verdict.
    ``db_name`` and ``metadata`` are the import call's (``_import_flow.import_context``): the Imports' own.
    ``files`` (see ``_filecheck``) checks the file contents against the schema first, so a refusal lists every
    problem of every readable file.
    """
    check_version(option, version, db_name=db_name)
    cache = cache if cache is not None else SchemaCache()
    target, collection = session.target, option.collection_name

    entry = cache.get(target, db_name, collection)
    refusal: tuple[SchemaMismatchError, _wire.CollectionSchema] | None = None
    if entry is not None:
        try:
            if files is not None:
                yield from files(entry.schema)
            check_schema(option, entry.schema, db_name=db_name, version=version)
            if not option.partition_name or option.partition_name in entry.partitions:
                return entry.schema
        except SchemaMismatchError as error:
            log.debug("preflight: cached schema of %r refuses; asking the server again", collection)
            cache.invalidate(target, db_name, collection)
            refusal, entry = (error, entry.schema), None

    if entry is None:
        schema = yield from _describe(session, option, db_name, deadline, metadata, call)
        if schema is None:
            return None
        entry = cache.put(target, db_name, collection, schema)
        if refusal is not None and refusal[1] == schema:
            # The server's schema is the one already refused: the verdict stands, and the files (a full check reads
            # every byte) are not read a second time.
            raise refusal[0]
        if files is not None:
            yield from files(schema)
        check_schema(option, schema, db_name=db_name, version=version)

    if option.partition_name and option.partition_name not in entry.partitions:
        exists = yield from _has_partition(session, option, db_name, deadline, metadata, call)
        if exists is False:
            raise partition_not_found(collection, option.partition_name, db_name)
        if exists:
            entry.partitions.add(option.partition_name)
    return entry.schema
