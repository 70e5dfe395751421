"""What one ``bulk_import`` does, start to end, with no I/O: the preflight (unless turned off), then one Import per
file group in order, or the plan of a dry run.

    import_flow ──► _preflight.preflight_flow      DescribeCollection (cached), HasPartition, version verdicts
                ├─► _plan.build_plan               dry run: the requests, secrets masked; no Import
                └─► bulk_import_flow ──► import_once ──► Rpc(Import)   retried only where the server dedupes

The option reaching here was checked once, at the client's entry (``_client.check_is_option``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from . import _wire
from ._calls import CallOptions, Deadline, Metadata
from ._effects import Flow
from ._errors import (
    AuthenticationError,
    BulkImportError,
    DeadlineExceededError,
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
    from ._plan import ImportPlan

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
) -> Flow[BulkImportResponse | ImportPlan]:
    """What ``bulk_import`` runs: the preflight (unless turned off), then the Imports, or the plan of a dry run.

    One deadline (``call.timeout``) and one database and metadata cover the preflight RPCs and every Import.
    ``files`` (``_filecheck.file_check_flow``) checks the file contents with the preflight, before its schema
    verdicts; it runs only with the preflight."""
    keys = option.idempotency_keys(fresh_idempotency_keys())  # checked (length) before any RPC, too
    deadline = session.deadline(call.timeout)
    db_name, metadata = import_context(identity, option, call)
    schema = None
    if preflight:
        version = (yield from _version_for_verdicts(session, identity, call)) if version_matters(option) else None
        schema = yield from preflight_flow(
            session, option, call, deadline, cache, db_name=db_name, metadata=metadata, version=version, files=files
        )
    if dry_run:
        from ._plan import build_plan  # loaded for a dry run only (see _plan's docstring)

        return build_plan(option, identity, keys, target=session.target, schema_checked=schema is not None, call=call)
    try:
        return (yield from bulk_import_flow(session, identity, option, call, iter(keys), deadline, (db_name, metadata)))
    except BulkImportError:
        # The server refused: whatever the preflight believed about this collection may be stale.
        cache.invalidate(session.target, db_name, option.collection_name)
        raise
