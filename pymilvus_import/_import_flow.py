"""What one ``bulk_import`` does, start to end, with no I/O: the preflight (unless turned off), then one Import per
file group in order, or the plan of a dry run. With a ``storage`` (the bucket Milvus reads), :class:`Staging` adds its
steps, in this order:

    import_flow ──► Staging(...)                   (pure) the option's paths as keys; which local files to stage
                ├─► _preflight.preflight_flow      DescribeCollection (cached), HasPartition, version verdicts,
                │                                  the file checks (local files to stage read from this disk)
                ├─► Staging.flow                   Work(hash), Work(HEAD), Work(upload): nothing sent before the
                │                                  checks pass; then Work(HEAD keys): every other key verified
                ├─► _plan.build_plan               dry run: the requests, secrets masked; no Import
                └─► bulk_import_flow ──► import_once ──► Rpc(Import)   retried only where the server dedupes

Every error (and interruption) after staging began carries ``staged_keys``: the keys this call put in the bucket.

The option reaching here was checked once, at the client's entry (``_client.check_is_option``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from . import _wire
from ._calls import CallOptions, Deadline, Metadata
from ._effects import Flow, Work
from ._errors import (
    AuthenticationError,
    BulkImportError,
    DeadlineExceededError,
    InvalidInputError,
    MilvusImportError,
    ServerUnavailableError,
)
from ._identity import Identity, decide
from ._models import BulkImportData, BulkImportResponse
from ._options import BulkImportOption
from ._preflight import SchemaCache, preflight_flow
from ._retry import retrying
from ._session import Session, server_version
from ._versions import supports_idempotency, version_matters

if TYPE_CHECKING:
    from ._files.source import HashingLocalFile, Source
    from ._plan import ImportPlan
    from ._storage import ObjectStorage, PreparedFiles, StagingProgress

log = logging.getLogger("pymilvus_import")


def fresh_idempotency_keys() -> Iterator[str]:
    while True:
        yield os.urandom(16).hex()


def import_context(identity: Identity, option: BulkImportOption, call: CallOptions) -> tuple[str, Metadata]:
    """The database and metadata every RPC of an import call goes with (the preflight's and the Imports'): the
    caller's ``dbname`` header, else the option's database, else the client's; the option's API key, else the
    client's credentials."""
    return decide(identity.for_option(option), call)


def import_once(
    session: Session, identity: Identity, request: bytes, deadline: Deadline, metadata: Metadata, call: CallOptions
) -> Flow[tuple[str, ...]]:
    """Send one Import; its job ids. Retried only on UNAVAILABLE, and only when the server dedupes by
    idempotency key (a blind retry of a non-idempotent Import could create a duplicate job)."""

    def server_dedupes() -> Flow[bool]:
        try:
            version = yield from server_version(session, identity, call)
        except MilvusImportError:
            return False
        if not supports_idempotency(version):
            log.debug("Import to %s unavailable; not retried (%s ignores idempotency keys)", session.target, version)
            return False
        log.debug("Import to %s unavailable; retrying with the same idempotency key", session.target)
        return True

    data = yield from retrying(session, _wire.IMPORT, request, deadline, metadata, call, may_retry=server_dedupes)
    return _wire.decode_import_response(data, session.target)


def bulk_import_flow(
    session: Session,
    identity: Identity,
    option: BulkImportOption,
    call: CallOptions,
    fresh_keys: Iterator[str] | None = None,
    deadline: Deadline | None = None,
    context: tuple[str, Metadata] | None = None,
) -> Flow[BulkImportResponse]:
    """Send one Import per file group of (checked) ``option`` in order, and collect the job ids.

    A failure at group ``k`` raises with ``created_job_ids`` holding the ids of groups ``0..k-1``; so does an
    interruption (KeyboardInterrupt, a cancelled task), on which ``created_job_ids`` is set as an attribute and
    named in a note. ``context`` is the call's database and metadata when the caller has them
    (:func:`import_context`).
    """
    keys = option.idempotency_keys(fresh_keys or fresh_idempotency_keys())
    db_name, metadata = context or import_context(identity, option, call)
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


def _version_for_verdicts(session: Session, identity: Identity, call: CallOptions) -> Flow[str | None]:
    """The server version for the version verdicts; None (no verdict) when the server will not say. A server that
    is unreachable, refuses the credentials or runs past the deadline fails the call here, as the Import would."""
    try:
        return (yield from server_version(session, identity, call))
    except (AuthenticationError, ServerUnavailableError, DeadlineExceededError):
        raise
    except MilvusImportError as error:
        log.debug("preflight: no server version (%s); no version verdict", error)
        return None


class Staging:
    """The storage side of one ``bulk_import(..., storage=, upload=)``: decided once from the (checked) option,
    before any RPC (pure: :func:`_storage.split_for_upload` normalises ``s3://BUCKET/key`` and ``BUCKET/key`` to
    the key, refuses another bucket and names which local files to stage), then run as steps of the import flow.

    ``option`` is what the preflight checks: the other paths as keys, the local files to stage as they are (their
    file names, which the verdicts read, are kept in their keys). The file checks read those local files through
    :meth:`open_file`, which hashes what it reads, so staging does not read them again for their digests.
    """

    __slots__ = (
        "_hashers",
        "_sizes",
        "done",
        "keys",
        "local",
        "on_progress",
        "option",
        "prepared",
        "storage",
        "verify",
    )

    def __init__(
        self,
        storage: ObjectStorage,
        option: BulkImportOption,
        *,
        upload: bool,
        verify: bool,
        on_progress: Callable[[StagingProgress], object] | None = None,
    ) -> None:
        from . import _storage

        self.storage = storage
        self.verify = verify
        self.on_progress = on_progress
        self.local, self.keys = _storage.split_for_upload(
            storage, option.files, upload=upload, is_local=_storage.is_upload_candidate
        )
        local = set(self.local)
        # Two forms of one key are refused before any RPC (a local file's key is known once it is hashed).
        _storage.check_unique_keys(option.files, {p: "\0" + p if p in local else k for p, k in self._all_keys()})
        shown = {path: path if path in local else self.keys[path] for group in option.files for path in group}
        for path, key in self.keys.items():
            if key in local:
                raise InvalidInputError(
                    f"{path!r} names the key {key!r}, which is also a local file given to upload; pass one of them",
                    value=path,
                    field="files",
                )
        self.option = dataclasses.replace(option, files=tuple(tuple(shown[p] for p in g) for g in option.files))
        #: Keys this call has put in the bucket so far (uploaded or found there), named on every error.
        self.done: list[str] = []
        self.prepared: PreparedFiles | None = None
        self._hashers: dict[str, HashingLocalFile] = {}
        self._sizes: dict[str, int] = {}  # key -> its size, as the file checks' HEAD found it

    def _all_keys(self) -> list[tuple[str, str]]:
        return [(p, self.keys.get(p, p)) for p in (*self.local, *self.keys)]

    def open_file(self, path: str) -> Source:
        """A path of :attr:`option` as the file checks read it: a local file to stage from this disk (hashing what
        is read), a key with ranged reads of the bucket (its size is kept: the key verification then needs no HEAD
        of its own). Whether a key is missing or empty is the key verification's verdict, not the file check's:
        such a key gets no file verdict (:class:`SourceUnreadable`) when the keys are verified."""
        if path in self.local:
            found = self._hashers.get(path)
            if found is None:
                from ._files.source import HashingLocalFile

                found = self._hashers[path] = HashingLocalFile(path)
            return found
        from ._files.source import SourceUnreadable
        from ._storage import open_key

        source = open_key(self.storage, path)
        self._sizes[path] = size = source.size()
        if size == 0 and self.verify:
            raise SourceUnreadable(f"key {path!r} holds 0 bytes: refused by the key verification")
        return source

    def flow(self, *, dry_run: bool) -> Flow[BulkImportOption]:
        """Stage the local files (planned only in a ``dry_run``), then verify every other key (HEAD; with
        ``verify``): :class:`ObjectNotFoundError` / :class:`EmptyObjectError` before any Import. Returns the option
        with the key groups the Imports carry."""
        from . import _storage

        storage, option = self.storage, self.option
        key_of = {key: key for key in self.keys.values()}  # the paths of self.option: keys, local files to stage
        staged = None
        if self.local:
            plan = yield from _storage.plan_staging_flow(storage, self.local, started=self._hashers)
            key_of.update((path, plan.keys[path]) for path in self.local)
            _storage.check_unique_keys(option.files, key_of)  # refused before anything is uploaded
            groups = [[path] for path in self.local]
            done = [] if dry_run else self.done  # a dry run stages nothing, so it names no key staged
            staged = yield from _storage.upload_flow(storage, plan, groups, self.on_progress, done, dry_run=dry_run)
        to_verify = [key_of[p] for g in option.files for p in g if p not in self.local]
        checks: tuple[Any, ...] = ()
        if self.verify and to_verify:
            # A key the file checks read was HEADed then: its verdict from that size (no second request).
            unseen = [k for k in dict.fromkeys(to_verify) if k not in self._sizes]
            asked: tuple[Any, ...] = ()
            local_files: frozenset[str] = frozenset()
            if unseen:
                heads = functools.partial(_storage.head_keys, storage, unseen)
                asked, local_files = yield Work(heads, what="HEAD keys")
            by_key = {c.key: c for c in asked}
            checks = tuple(
                by_key[k] if k in by_key else _storage.key_check(k, self._sizes[k]) for k in dict.fromkeys(to_verify)
            )
            _storage.key_verdicts(storage, checks, is_local_file=local_files.__contains__)
        groups_out = tuple(tuple(key_of[p] for p in g) for g in option.files)
        self.prepared = _storage.PreparedFiles(storage, groups_out, staged, checks)
        return dataclasses.replace(option, files=groups_out)

    @property
    def staged_keys(self) -> tuple[str, ...]:
        """The keys staged by this call: all of them once staging is done, else those already in the bucket."""
        if self.prepared is not None:
            return self.prepared.staged_keys
        return tuple(dict.fromkeys(self.done))

    def note(self, error: BaseException) -> None:
        """``error`` (or an interruption) names the keys staged so far, so no upload is lost to the caller."""
        keys = self.staged_keys
        if not keys or getattr(error, "staged_keys", None):
            return
        error.staged_keys = keys  # type: ignore[attr-defined]
        if not isinstance(error, MilvusImportError) and hasattr(error, "add_note"):
            error.add_note(f"pymilvus-import: keys already staged in bucket {self.storage.bucket!r}: {list(keys)}")

    def result(self, result: BulkImportResponse | ImportPlan) -> BulkImportResponse | ImportPlan:
        """The response says which keys were imported and staged (and what staging did); a dry run's plan also
        shows the storage side: keys, what would be uploaded, what was verified."""
        prepared = self.prepared
        assert prepared is not None
        if isinstance(result, BulkImportResponse):
            data = dataclasses.replace(
                result.data, files=prepared.groups, staged_keys=prepared.staged_keys, staged=prepared.staged
            )
            return dataclasses.replace(result, data=data)
        from ._storage import StorageImportPlan

        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        plan: ImportPlan = StorageImportPlan(**fields, storage=prepared)
        return plan


def import_flow(
    session: Session,
    identity: Identity,
    option: BulkImportOption,
    call: CallOptions,
    cache: SchemaCache,
    *,
    preflight: bool = True,
    dry_run: bool = False,
    files: Callable[[_wire.CollectionSchema], Flow[None]] | None = None,
    staging: Staging | None = None,
) -> Flow[BulkImportResponse | ImportPlan]:
    """What ``bulk_import`` runs: the preflight (unless turned off), then the Imports, or the plan of a dry run.

    One deadline (``call.timeout``) and one database and metadata cover the preflight RPCs and every Import.
    ``files`` (``_filecheck.file_check_flow``) checks the file contents with the preflight, before its schema
    verdicts; it runs only with the preflight. ``staging`` (with a storage) stages and verifies after the
    preflight and before any Import; the preflight then checks ``staging.option``."""
    keys = option.idempotency_keys(fresh_idempotency_keys())  # checked (length) before any RPC, too
    deadline = session.deadline(call.timeout)
    db_name, metadata = import_context(identity, option, call)
    if staging is not None:
        option = staging.option
    schema = None
    if preflight:
        version = (yield from _version_for_verdicts(session, identity, call)) if version_matters(option) else None
        schema = yield from preflight_flow(
            session, option, call, deadline, cache, db_name=db_name, metadata=metadata, version=version, files=files
        )
    try:
        if staging is not None:
            option = yield from staging.flow(dry_run=dry_run)
        if dry_run:
            from ._plan import build_plan  # loaded for a dry run only (see _plan's docstring)

            plan = build_plan(
                option, identity, keys, target=session.target, schema_checked=schema is not None, call=call
            )
            return staging.result(plan) if staging is not None else plan
        try:
            response = yield from bulk_import_flow(
                session, identity, option, call, iter(keys), deadline, (db_name, metadata)
            )
        except BulkImportError:
            # The server refused: whatever the preflight believed about this collection may be stale.
            cache.invalidate(session.target, db_name, option.collection_name)
            raise
        return staging.result(response) if staging is not None else response
    except BaseException as error:  # a package error or an interruption: it names the keys staged
        if staging is not None:
            staging.note(error)
        raise
