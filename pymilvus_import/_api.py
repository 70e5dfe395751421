"""The module-level API: ``bulk_import(option)`` and friends, each over a client cached per URI.

A loop of module-level calls therefore does not redial: the first call for a URI opens one ``ImportClient`` (one
channel, one cached server version), later calls reuse it, and the clients are closed at interpreter exit. The
cache key is the URI as given together with ``MILVUS_URI`` and ``MILVUS_TOKEN``, so changing the environment gives
a fresh client rather than stale credentials.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, overload

import grpc

from ._calls import CallOptions
from ._client import ImportClient, Jobs, MetadataArg, check_is_option
from ._errors import InvalidInputError
from ._models import BulkImportResponse, ImportJobRecord, ImportProgress
from ._options import BulkImportOption
from ._tracking import ProgressCallback

if TYPE_CHECKING:
    from ._plan import ImportPlan
    from ._storage import ObjectStorage, StagingProgress

_lock = threading.Lock()
_clients: dict[tuple[str | None, str | None, str | None], ImportClient] = {}


def shared_client(uri_or_client: str | ImportClient | None) -> ImportClient:
    """The client for a URI (or ``MILVUS_URI``) from the cache, opened on first use; or the client given."""
    if isinstance(uri_or_client, ImportClient):
        return uri_or_client
    if uri_or_client is not None and not isinstance(uri_or_client, str):
        raise InvalidInputError(
            f"expected a Milvus URI or an ImportClient, got {type(uri_or_client).__name__}",
            value=type(uri_or_client).__name__,
            field="uri",
        )
    key = (uri_or_client or None, os.environ.get("MILVUS_URI"), os.environ.get("MILVUS_TOKEN"))
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = ImportClient(uri_or_client or None)
    return client


@atexit.register
def _close_shared() -> None:
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


@overload
def bulk_import(
    option: BulkImportOption,
    *,
    timeout: float | None = ...,
    metadata: MetadataArg = ...,
    credentials: grpc.CallCredentials | None = ...,
    wait_for_ready: bool | None = ...,
    compression: grpc.Compression | None = ...,
    preflight: bool | None = ...,
    dry_run: Literal[False] = ...,
    storage: ObjectStorage | None = ...,
    upload: bool = ...,
    validate: str | bool | None = ...,
    on_upload_progress: Callable[[StagingProgress], object] | None = ...,
) -> BulkImportResponse: ...


@overload
def bulk_import(
    option: BulkImportOption,
    *,
    timeout: float | None = ...,
    metadata: MetadataArg = ...,
    credentials: grpc.CallCredentials | None = ...,
    wait_for_ready: bool | None = ...,
    compression: grpc.Compression | None = ...,
    preflight: bool | None = ...,
    dry_run: Literal[True],
    storage: ObjectStorage | None = ...,
    upload: bool = ...,
    validate: str | bool | None = ...,
    on_upload_progress: Callable[[StagingProgress], object] | None = ...,
) -> ImportPlan: ...


def bulk_import(
    option: BulkImportOption,
    *,
    timeout: float | None = None,
    metadata: MetadataArg = None,
    credentials: grpc.CallCredentials | None = None,
    wait_for_ready: bool | None = None,
    compression: grpc.Compression | None = None,
    preflight: bool | None = None,
    dry_run: bool = False,
    storage: ObjectStorage | None = None,
    upload: bool = False,
    validate: str | bool | None = None,
    on_upload_progress: Callable[[StagingProgress], object] | None = None,
) -> BulkImportResponse | ImportPlan:
    """Import prepared files into a collection, like the Go SDK's ``BulkImport(ctx, option, callOpts...)``.

    Connects to ``option.uri`` (or ``MILVUS_URI``) over a client cached per URI, so a loop of calls does not redial.
    Each file group becomes one Import RPC (one job on Milvus 2.4+), sent in order.

    Call options reach every RPC untouched: ``timeout`` is the deadline of the whole call (each RPC gets what
    remains), ``metadata`` is sent as given plus ``authorization``/``dbname`` headers unless you set those keys
    yourself (yours win), ``credentials`` replace the client's credentials, ``wait_for_ready``/``compression`` go to
    gRPC as they are.

    Before the first Import, the *preflight* asks the server about the collection (DescribeCollection, and
    HasPartition when a partition is named; cached per client for 10 s) and raises a :class:`PreflightError`
    naming the collection, partition, file or field that cannot work, with no Import sent; ``preflight=False``
    skips it. ``dry_run=True`` runs the preflight and returns the :class:`ImportPlan` (the requests that would be
    sent, secrets masked) without sending any Import.

    ``storage`` (an :class:`ObjectStorage`: the bucket Milvus reads) makes the preflight verify every file key there
    first (HEAD, in parallel): a missing key raises :class:`ObjectNotFoundError` with no Import sent; a key the
    storage credentials cannot read gives no verdict. ``s3://BUCKET/key`` and ``BUCKET/key`` become ``key``.
    ``upload=True`` stages the option's local files into the bucket (after the preflight and its file checks, so a
    bad file is never uploaded) and imports their keys; ``on_upload_progress`` gets a :class:`StagingProgress` as
    bytes go out (from the upload threads). Errors raised after staging began carry ``staged_keys``.

    Returns a :class:`BulkImportResponse` (status 0). Raises :class:`InvalidInputError` before any RPC for input that
    cannot be right, :class:`BulkImportError` when the server refuses a group, a :class:`TransportError` subclass
    when an RPC fails; each carries ``created_job_ids`` of the groups that succeeded before it.
    """
    option = check_is_option(option)  # the one check, here: the URI to connect to is the option's
    call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
    return shared_client(option.uri or None)._run_bulk_import(
        option, call, preflight, dry_run, validate, storage, upload, on_upload_progress
    )


def get_import_progress(
    uri_or_client: str | ImportClient | None,
    job_id: str | int,
    *,
    timeout: float | None = None,
    metadata: MetadataArg = None,
    credentials: grpc.CallCredentials | None = None,
    wait_for_ready: bool | None = None,
    compression: grpc.Compression | None = None,
) -> ImportProgress:
    """:meth:`ImportClient.get_import_progress` on the cached client for ``uri_or_client`` (or that client)."""
    return shared_client(uri_or_client).get_import_progress(
        job_id,
        timeout=timeout,
        metadata=metadata,
        credentials=credentials,
        wait_for_ready=wait_for_ready,
        compression=compression,
    )


def list_import_jobs(
    uri_or_client: str | ImportClient | None,
    collection_name: str | None = None,
    *,
    limit: int | None = None,
    timeout: float | None = None,
    metadata: MetadataArg = None,
    credentials: grpc.CallCredentials | None = None,
    wait_for_ready: bool | None = None,
    compression: grpc.Compression | None = None,
) -> list[ImportJobRecord]:
    """:meth:`ImportClient.list_import_jobs` on the cached client for ``uri_or_client`` (or that client)."""
    return shared_client(uri_or_client).list_import_jobs(
        collection_name,
        limit=limit,
        timeout=timeout,
        metadata=metadata,
        credentials=credentials,
        wait_for_ready=wait_for_ready,
        compression=compression,
    )


def wait_for_import(
    uri_or_client: str | ImportClient | None,
    jobs: Jobs,
    *,
    poll_initial: float = 0.1,
    poll_max: float = 2.0,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
    metadata: Sequence[tuple[str, str | bytes]] | None = None,
    credentials: grpc.CallCredentials | None = None,
    wait_for_ready: bool | None = None,
    compression: grpc.Compression | None = None,
) -> tuple[ImportProgress, ...]:
    """:meth:`ImportClient.wait_for_import` on the cached client for ``uri_or_client`` (or that client)."""
    return shared_client(uri_or_client).wait_for_import(
        jobs,
        poll_initial=poll_initial,
        poll_max=poll_max,
        on_progress=on_progress,
        timeout=timeout,
        metadata=metadata,
        credentials=credentials,
        wait_for_ready=wait_for_ready,
        compression=compression,
    )
