"""The two clients. ``_BaseClient`` builds a client's state (one way, with or without a channel of yours) and turns
each method's arguments into a flow; ``ImportClient`` runs the flows on a ``grpc.Channel``, ``AsyncImportClient`` on
``grpc.aio`` channels. Each public method is a few lines: check the call options, build the flow, run it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import grpc
import grpc.aio

from ._calls import CallOptions
from ._connection import ConnectionConfig, PemSource, resolve
from ._effects import Flow
from ._errors import InvalidInputError
from ._filecheck import SourcesArg, access_for, check_files_flow, check_validate, file_check_flow
from ._identity import Identity, decide
from ._import_flow import Staging, import_flow
from ._models import BulkImportResponse, ImportJobRecord, ImportProgress
from ._options import BulkImportOption
from ._preflight import SchemaCache
from ._retry import Retry
from ._secrets import shown
from ._session import Session, server_version
from ._tracking import ProgressCallback, list_flow, progress_flow, wait_flow
from ._transport import (
    AsyncTransport,
    SyncTransport,
    check_async_channel,
    check_async_interceptors,
    check_sync_channel,
    check_sync_interceptors,
    dial,
    intercept,
)
from ._uri import parse_uri

if TYPE_CHECKING:
    from ._files.check import FileReport
    from ._plan import ImportPlan
    from ._storage import ObjectStorage, StagedFiles, StagingProgress

Jobs = BulkImportResponse | Iterable[str | int] | str | int
MetadataArg = Sequence[tuple[str, str | bytes]] | None


def check_is_option(option: object) -> BulkImportOption:
    """The entry check of every ``bulk_import`` (client method or module-level function), done once: a
    BulkImportOption, valid as a whole. The flows behind it trust the option."""
    if not isinstance(option, BulkImportOption):
        raise InvalidInputError(
            f"bulk_import takes a BulkImportOption (see new_bulk_import_option), got {type(option).__name__}",
            value=type(option).__name__,
            field="option",
        )
    option.check()  # the whole option (also one made with dataclasses.replace) before anything reads it
    return option


class _BaseClient:
    """What both clients decide the same way: how the constructor's arguments become a target, an identity and a
    session, and how each method's arguments become a flow (validation happens there, before any RPC)."""

    def __init__(
        self,
        uri: str | None = None,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        db_name: str | None = None,
        secure: bool | None = None,
        ca_cert: PemSource | None = None,
        client_cert: PemSource | None = None,
        client_key: PemSource | None = None,
        server_name: str | None = None,
        channel: grpc.Channel | grpc.aio.Channel | None = None,
        interceptors: Sequence[Any] | None = None,
        channel_options: Sequence[tuple[str, Any]] | None = None,
        retry: Retry | None = None,
        preflight: bool = True,
        storage: ObjectStorage | None = None,
        validate: str = "header",
        read_local_files: bool | None = None,
    ) -> None:
        self._storage = _check_storage(storage)
        if not isinstance(preflight, bool):
            raise InvalidInputError(
                f"preflight must be True or False, got {shown(preflight)}", value=preflight, field="preflight"
            )
        if retry is not None and not isinstance(retry, Retry):
            raise InvalidInputError(
                f"retry must be a pymilvus_import.Retry, got {type(retry).__name__} {shown(retry)}",
                value=retry,
                field="retry",
            )
        # One way to build the state, with or without a channel of the caller's: the URI (or MILVUS_URI), its
        # user:password@ and database, token/user/password and MILVUS_TOKEN all apply the same.
        config = resolve(
            uri,
            token=token,
            user=user,
            password=password,
            db_name=db_name,
            secure=secure,
            ca_cert=ca_cert,
            client_cert=client_cert,
            client_key=client_key,
            server_name=server_name,
            channel_options=channel_options,
            for_channel=channel is not None,
        )
        self._address: str | None = config.target.address or None
        self._identity: Identity = config.identity
        self._session = Session(config.target.display, retry)
        self._preflight = preflight
        self._validate = check_validate(validate) or "header"
        self._files = access_for(self._address, read_local_files, None)
        self._schemas = SchemaCache(clock=self._session.clock)
        self._open(config, channel, interceptors)

    def _open(self, config: ConnectionConfig, channel: Any, interceptors: Sequence[Any] | None) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        db_name = decide(self._identity, CallOptions())[0] or None
        return f"{type(self).__name__}(target={self._session.target!r}, db_name={db_name!r})"

    def _bulk_import(
        self,
        option: BulkImportOption,
        call: CallOptions,
        preflight: bool | None,
        dry_run: bool,
        validate: object = None,
        storage: ObjectStorage | None = None,
        upload: object = False,
        on_upload_progress: Callable[[StagingProgress], object] | None = None,
    ) -> Flow[BulkImportResponse | ImportPlan]:
        """The flow of one ``bulk_import`` of ``option``, every argument checked here, before any RPC or upload.
        With a storage (the argument, else the client's) the option's files are keys of that bucket (local files
        staged into it with ``upload``), the file checks read them there, and the keys are verified before the
        first Import: all steps of the one :func:`import_flow`."""
        option = check_is_option(option)
        chosen = _check_storage(storage) if storage is not None else self._storage
        if not isinstance(upload, bool):
            raise InvalidInputError(f"upload must be True or False, got {shown(upload)}", value=upload, field="upload")
        if upload and chosen is None:
            raise InvalidInputError(
                "upload=True needs the bucket Milvus reads: pass storage=ObjectStorage('s3://BUCKET/PREFIX', ...) "
                "here or to the client",
                value=None,
                field="storage",
            )
        _check_upload_progress(on_upload_progress)
        mode = check_validate(validate) or self._validate
        for name, flag in (("preflight", preflight), ("dry_run", dry_run)):
            if flag is not None and not isinstance(flag, bool):
                raise InvalidInputError(f"{name} must be True or False, got {shown(flag)}", value=flag, field=name)
        if option.uri.strip():
            # The option's URI must name this client's server; its database and credentials then apply to this
            # call (the identity's option layer), exactly as they would through the module-level bulk_import.
            target = parse_uri(option.uri)
            if self._address is not None and target.address != self._address:
                raise InvalidInputError(
                    f"the option's URI {target.display!r} names another server than this client "
                    f"({self._session.target!r}); use a client for that server or leave the option's URI empty",
                    value=target.display,
                    field="uri",
                )
        identity = self._identity.for_option(option)
        check = self._preflight if preflight is None else preflight
        staging = None
        access = self._files
        if chosen is not None:
            staging = Staging(chosen, option, upload=upload, verify=check, on_progress=on_upload_progress)
            access = access.with_storage(chosen, staging.open_file)
        checked = staging.option if staging is not None else option
        files = file_check_flow(self._session, identity, checked, call, access, mode)
        return import_flow(
            self._session,
            identity,
            option,
            call,
            self._schemas,
            preflight=check,
            dry_run=dry_run,
            files=files,
            staging=staging,
        )

    def _check_files(
        self,
        option: BulkImportOption,
        call: CallOptions,
        full: object,
        sources: SourcesArg,
        read_local_files: bool | None,
        storage: ObjectStorage | None = None,
    ) -> Flow[FileReport]:
        option = check_is_option(option)
        if not isinstance(full, bool):
            raise InvalidInputError(f"full must be True or False, got {shown(full)}", value=full, field="full")
        local = self._files.read_local if read_local_files is None else read_local_files
        if storage is not None:
            from ._storage import key_groups

            # The keys Milvus would read, as bulk_import(..., storage=) verifies them.
            option = dataclasses.replace(option, files=key_groups(storage, option.files))
        access = access_for(self._address, local, sources, storage)
        identity = self._identity.for_option(option)
        return check_files_flow(self._session, identity, option, call, self._schemas, access, full=full)

    def _storage_of(self, storage: object) -> ObjectStorage | None:
        return _check_storage(storage) if storage is not None else self._storage

    def _required_storage(self, storage: ObjectStorage | None) -> ObjectStorage:
        chosen = _check_storage(storage) if storage is not None else self._storage
        if chosen is None:
            raise InvalidInputError(
                "stage_files needs the bucket Milvus reads: pass storage=ObjectStorage('s3://BUCKET/PREFIX', ...) "
                "here or to the client",
                value=None,
                field="storage",
            )
        return chosen

    def _wait(
        self,
        jobs: Jobs,
        call: CallOptions,
        poll_initial: float,
        poll_max: float,
        on_progress: ProgressCallback | None,
        *,
        awaitable_callbacks: bool,
    ) -> Flow[tuple[ImportProgress, ...]]:
        if on_progress is not None and not callable(on_progress):
            raise InvalidInputError(
                f"on_progress must be callable, got {type(on_progress).__name__}",
                value=type(on_progress).__name__,
                field="on_progress",
            )
        if on_progress is not None and not _takes_one_argument(on_progress):
            raise InvalidInputError(
                f"on_progress must take one argument (the ImportProgress of a job that moved), got "
                f"{getattr(on_progress, '__qualname__', type(on_progress).__name__)}{_signature_text(on_progress)}",
                value=type(on_progress).__name__,
                field="on_progress",
            )
        if not awaitable_callbacks and _is_async_callable(on_progress):
            raise InvalidInputError(
                "on_progress is an async function, which ImportClient cannot await: pass a plain function, or use "
                "AsyncImportClient (it awaits async callbacks)",
                value=getattr(on_progress, "__name__", type(on_progress).__name__),
                field="on_progress",
            )
        return wait_flow(
            self._session,
            self._identity,
            jobs,
            call,
            poll_initial=poll_initial,
            poll_max=poll_max,
            on_progress=on_progress,
        )


def _takes_one_argument(function: Callable[..., object]) -> bool:
    """Whether ``function`` can be called with one positional argument (True when its signature cannot be read:
    a builtin, an extension type)."""
    try:
        signature = inspect.signature(function)
    except Exception:
        return True
    try:
        signature.bind(None)
    except TypeError:
        return False
    return True


def _signature_text(function: Callable[..., object]) -> str:
    try:
        return str(inspect.signature(function))
    except Exception:
        return ""


def _check_storage(storage: object) -> ObjectStorage | None:
    if storage is None:
        return None
    from ._storage import ObjectStorage

    if not isinstance(storage, ObjectStorage):
        raise InvalidInputError(
            f"storage must be a pymilvus_import.ObjectStorage, got {type(storage).__name__}",
            value=type(storage).__name__,
            field="storage",
        )
    return storage


def _check_upload_progress(on_upload_progress: object) -> None:
    """``on_upload_progress``: None, or a plain function of one :class:`StagingProgress` (called from the upload
    threads, never awaited, also on the asyncio client)."""
    if on_upload_progress is None:
        return
    if not callable(on_upload_progress) or _is_async_callable(on_upload_progress):
        kind = "an async function" if callable(on_upload_progress) else type(on_upload_progress).__name__
        raise InvalidInputError(
            f"on_upload_progress must be a plain function taking a StagingProgress (it is called from the upload "
            f"threads and never awaited), got {kind}",
            value=type(on_upload_progress).__name__,
            field="on_upload_progress",
        )
    if not _takes_one_argument(on_upload_progress):
        raise InvalidInputError(
            f"on_upload_progress must take one argument (a StagingProgress), got "
            f"{getattr(on_upload_progress, '__qualname__', type(on_upload_progress).__name__)}"
            f"{_signature_text(on_upload_progress)}",
            value=type(on_upload_progress).__name__,
            field="on_upload_progress",
        )


def _is_async_callable(function: object) -> bool:
    while isinstance(function, functools.partial):
        function = function.func
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)


class ImportClient(_BaseClient):
    """A connection to one Milvus server for bulk import; a context manager that owns its channel.

    Credentials: ``token`` (an API key, or ``"user:password"``), or ``user`` + ``password``, or ``user:password@``
    in the URI; with none of them, ``MILVUS_TOKEN`` from the environment. ``uri`` defaults to ``MILVUS_URI``; its
    path names the database (``db_name`` overrides it). TLS is used for ``https://`` URIs or when any TLS argument is
    given: ``ca_cert`` (a PEM file path or bytes; the system roots when absent), ``client_cert`` + ``client_key`` for
    mutual TLS, ``server_name`` to override the name checked in the server's certificate. ``channel_options``
    override the defaults (unlimited message sizes, keepalive like pymilvus).

    A ``channel`` you pass (a ``grpc.Channel``) is used as is and never closed by the client; the URI, credentials
    and database still apply, while TLS and channel options belong to your channel (passing them is an error).
    """

    _transport: SyncTransport

    def _open(self, config: ConnectionConfig, channel: Any, interceptors: Sequence[Any] | None) -> None:
        if channel is not None:
            self._transport = SyncTransport(check_sync_channel(channel, interceptors), self._session, owned=False)
        else:
            checked = check_sync_interceptors(interceptors)
            self._transport = SyncTransport(intercept(dial(grpc, config), checked), self._session, owned=True)

    def __enter__(self) -> ImportClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel if this client opened it (a channel of yours is left open). Later calls raise
        :class:`ClientClosedError`."""
        self._transport.close()

    @overload
    def bulk_import(
        self,
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
        self,
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
        self,
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
        """Import the option's file groups: one Import RPC per group, in order (see :func:`bulk_import`).

        ``preflight`` (default: the client's, on unless ``ImportClient(..., preflight=False)``) checks the request
        against the server's schema first; ``dry_run=True`` runs the preflight and returns the :class:`ImportPlan`
        of the requests instead of sending any Import. ``validate`` (default: the client's, ``"header"``) checks
        what is inside every file the client can read, with the preflight: ``"full"`` reads every value,
        ``"off"`` skips it (see :meth:`check_files`).

        ``storage`` (default: the client's) is the bucket Milvus reads: every file key is verified there before the
        first Import (part of the preflight), and with ``upload=True`` the option's local files are staged into it
        first (:meth:`stage_files`), after the preflight and its file checks (a bad file is never uploaded), and
        the Imports carry their keys; ``on_upload_progress`` gets a :class:`StagingProgress` as bytes go out
        (called from the upload threads). Every error after staging began carries ``staged_keys``."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return self._run_bulk_import(option, call, preflight, dry_run, validate, storage, upload, on_upload_progress)

    def _run_bulk_import(
        self,
        option: BulkImportOption,
        call: CallOptions,
        preflight: bool | None,
        dry_run: bool,
        validate: object = None,
        storage: ObjectStorage | None = None,
        upload: bool = False,
        on_upload_progress: Callable[[StagingProgress], object] | None = None,
    ) -> BulkImportResponse | ImportPlan:
        flow = self._bulk_import(option, call, preflight, dry_run, validate, storage, upload, on_upload_progress)
        return self._transport.run(flow)

    def stage_files(
        self,
        files: Iterable[Iterable[str]],
        *,
        on_progress: Callable[[StagingProgress], object] | None = None,
        storage: ObjectStorage | None = None,
    ) -> StagedFiles:
        """Upload local files into ``storage`` (default: the client's) for Milvus to import; see
        :func:`pymilvus_import.stage_files`."""
        from ._storage import stage_files

        return stage_files(self._required_storage(storage), files, on_progress=on_progress)

    def check_files(
        self,
        option: BulkImportOption,
        *,
        full: bool = False,
        sources: SourcesArg = None,
        read_local_files: bool | None = None,
        storage: ObjectStorage | None = None,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> FileReport:
        """Check what is inside the option's files against the collection, and return the :class:`FileReport`
        (per-file verdicts, every problem) without raising for a problem and without sending any Import.

        ``full=True`` reads every value (streaming); otherwise headers and first rows only. Files are read from
        ``sources`` (a mapping path -> Source with ``size()``/``read(offset, length)``, or a callable), else from
        local paths when the server is on this machine (``read_local_files`` forces it on or off). A file that
        cannot be read gets the verdict "not readable" (no verdict). With ``storage`` (default: the client's) the
        option's paths are keys of that bucket (normalised as ``bulk_import`` verifies them), read there with ranged
        GETs: the ``.npy`` header, the Parquet footer, the first bytes of CSV/JSON; a key that is missing or that
        the storage credentials cannot read gets no verdict. Raises like the preflight for an unknown collection."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return self._transport.run(
            self._check_files(option, call, full, sources, read_local_files, self._storage_of(storage))
        )

    def get_import_progress(
        self,
        job_id: str | int,
        *,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> ImportProgress:
        """Where job ``job_id`` stands. Raises :class:`ImportJobNotFoundError` for an unknown or expired job."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return self._transport.run(progress_flow(self._session, self._identity, job_id, call))

    def list_import_jobs(
        self,
        collection_name: str | None = None,
        *,
        limit: int | None = None,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> list[ImportJobRecord]:
        """The import jobs the server knows (of one collection when named), at most ``limit`` of them."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return self._transport.run(list_flow(self._session, self._identity, collection_name, limit, call))

    def wait_for_import(
        self,
        jobs: Jobs,
        *,
        poll_initial: float = 0.1,
        poll_max: float = 2.0,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> tuple[ImportProgress, ...]:
        """Follow jobs (a BulkImportResponse, one id or several) until each is Completed or Failed.

        Polls adaptively (``poll_initial`` seconds at first, backing off to ``poll_max``, fast again whenever a job
        moves) and calls ``on_progress`` on every change. Returns the final progress of each job, in order.
        Raises :class:`ImportFailedError` if any job failed, :class:`ImportTimeoutError` after ``timeout`` seconds,
        :class:`ImportJobNotFoundError` if a job vanishes. An unreachable, slow or rate-limiting server is ridden out
        within the timeout (for 60 s without one, then its :class:`TransportError` is raised).
        """
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return self._transport.run(
            self._wait(jobs, call, poll_initial, poll_max, on_progress, awaitable_callbacks=False)
        )

    def server_version(
        self,
        *,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> str:
        """The server's version string (asked once per client, then cached), e.g. ``"v2.3.5-lite"``."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return self._transport.run(server_version(self._session, self._identity, call))


class AsyncImportClient(_BaseClient):
    """:class:`ImportClient` for asyncio: the same constructor arguments, methods, call options, errors, validation
    and retry policy; every method is a coroutine. Use ``async with AsyncImportClient(uri) as client: ...``.

    The client opens its channel on first use in the running event loop, and another one in each other loop that
    uses it (a second ``asyncio.run``, a loop per thread). A ``channel`` of yours must be a ``grpc.aio.Channel``
    (used as is, in its own loop, and never closed); ``interceptors`` are grpc.aio client interceptors for the
    channel the client opens (a channel of yours carries its own). ``on_progress`` may be an async function.
    """

    _transport: AsyncTransport

    def _open(self, config: ConnectionConfig, channel: Any, interceptors: Sequence[Any] | None) -> None:
        if channel is not None:
            self._transport = AsyncTransport(self._session, channel=check_async_channel(channel, interceptors))
        else:
            connect = functools.partial(dial, grpc.aio, config, interceptors=check_async_interceptors(interceptors))
            self._transport = AsyncTransport(self._session, connect=connect)

    async def __aenter__(self) -> AsyncImportClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel if this client opened it (a channel of yours is left open); calls still in flight on
        it are cancelled, and later calls raise :class:`ClientClosedError`."""
        await self._transport.close()

    @overload
    async def bulk_import(
        self,
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
    async def bulk_import(
        self,
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

    async def bulk_import(
        self,
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
        """:meth:`ImportClient.bulk_import`, awaited. Cancelling the task cancels the RPC in flight, and aborts the
        uploads in flight (waiting for the aborts); the CancelledError then carries ``staged_keys``.
        ``on_upload_progress`` is a plain function (called from the upload threads, never awaited)."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        flow = self._bulk_import(option, call, preflight, dry_run, validate, storage, upload, on_upload_progress)
        return await self._transport.run(flow)

    async def stage_files(
        self,
        files: Iterable[Iterable[str]],
        *,
        on_progress: Callable[[StagingProgress], object] | None = None,
        storage: ObjectStorage | None = None,
    ) -> StagedFiles:
        """:meth:`ImportClient.stage_files`, awaited (uploads run in a worker thread; cancelling aborts them)."""
        from ._storage import stage_files_async

        return await stage_files_async(self._required_storage(storage), files, on_progress=on_progress)

    async def check_files(
        self,
        option: BulkImportOption,
        *,
        full: bool = False,
        sources: SourcesArg = None,
        read_local_files: bool | None = None,
        storage: ObjectStorage | None = None,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> FileReport:
        """:meth:`ImportClient.check_files`, awaited (files are read in a worker thread)."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return await self._transport.run(
            self._check_files(option, call, full, sources, read_local_files, self._storage_of(storage))
        )

    async def get_import_progress(
        self,
        job_id: str | int,
        *,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> ImportProgress:
        """:meth:`ImportClient.get_import_progress`, awaited."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return await self._transport.run(progress_flow(self._session, self._identity, job_id, call))

    async def list_import_jobs(
        self,
        collection_name: str | None = None,
        *,
        limit: int | None = None,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> list[ImportJobRecord]:
        """:meth:`ImportClient.list_import_jobs`, awaited."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return await self._transport.run(list_flow(self._session, self._identity, collection_name, limit, call))

    async def wait_for_import(
        self,
        jobs: Jobs,
        *,
        poll_initial: float = 0.1,
        poll_max: float = 2.0,
        on_progress: ProgressCallback | Callable[[ImportProgress], Any] | None = None,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> tuple[ImportProgress, ...]:
        """:meth:`ImportClient.wait_for_import`, awaited; sleeps never block the loop, and an async
        ``on_progress`` is awaited."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return await self._transport.run(
            self._wait(jobs, call, poll_initial, poll_max, on_progress, awaitable_callbacks=True)
        )

    async def server_version(
        self,
        *,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> str:
        """:meth:`ImportClient.server_version`, awaited."""
        call = CallOptions(timeout, metadata, credentials, wait_for_ready, compression)
        return await self._transport.run(server_version(self._session, self._identity, call))
