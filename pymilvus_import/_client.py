"""The clients: ``_BaseClient`` holds every decision both make (arguments, validation, which flow runs), and the
synchronous ``ImportClient`` performs the flows' effects over a ``grpc.Channel``. ``_aio.AsyncImportClient`` performs
the very same flows over a ``grpc.aio`` channel; nothing about the protocol is written twice.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import grpc

from ._connection import ConnectionConfig, PemSource, resolve
from ._core import (
    Deadline,
    Effect,
    Flow,
    Identity,
    Retry,
    Rpc,
    Runner,
    Session,
    T,
    bulk_import_flow,
    call_options,
    merge_metadata,
    server_version,
)
from ._errors import InvalidInputError
from ._models import BulkImportResponse, ImportJobRecord, ImportProgress
from ._options import BulkImportOption
from ._tracking import get_progress_flow, list_jobs_flow, wait_flow
from ._uri import authorization_value, parse_uri

USER_CHANNEL = "<user-supplied channel>"

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])


class _BaseTransport:
    """One channel, its method callables (bytes in, bytes out) and its session; subclasses perform the effects."""

    def __init__(self, channel: Any, session: Session, *, owned: bool) -> None:
        self.channel = channel
        self.session = session
        self.owned = owned
        self._callables: dict[str, Any] = {}

    def _open(self) -> Any:
        return self.channel

    def _invoke(self, rpc: Rpc) -> Any:
        """Start ``rpc``: the reply bytes on a sync channel, a call to await on a ``grpc.aio`` channel."""
        callable_ = self._callables.get(rpc.method)
        if callable_ is None:
            callable_ = self._callables[rpc.method] = self._open().unary_unary(rpc.method)
        return callable_(
            rpc.request,
            timeout=rpc.timeout,
            metadata=rpc.metadata or None,
            credentials=rpc.credentials,
            wait_for_ready=rpc.wait_for_ready,
            compression=rpc.compression,
        )


TransportT = TypeVar("TransportT", bound=_BaseTransport)


class _Transport(_BaseTransport):
    """A sync channel: an RPC blocks the thread, and so does a Sleep."""

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Rpc):
            return self._invoke(effect)
        time.sleep(effect.seconds)
        return None

    def run(self, flow: Flow[T]) -> T:
        runner = Runner(flow)
        while (effect := runner.next_effect()) is not None:
            try:
                runner.succeeded(self._perform(effect))
            except grpc.RpcError as error:
                runner.failed(error)
        return runner.result  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.owned:
            self.channel.close()


def dial(api: Any, config: ConnectionConfig, **extra: Any) -> Any:
    """A new channel from ``api`` (the ``grpc`` or the ``grpc.aio`` module) for ``config``, with TLS when it says so."""
    options = list(config.channel_options)
    if config.tls is not None:
        return api.secure_channel(config.target.address, config.tls.credentials(), options=options, **extra)
    return api.insecure_channel(config.target.address, options=options, **extra)


def open_channel(config: ConnectionConfig, interceptors: Sequence[Any] | None = None) -> grpc.Channel:
    channel = dial(grpc, config)
    if interceptors:
        channel = grpc.intercept_channel(channel, *interceptors)
    return channel


def check_is_option(option: object) -> None:
    if not isinstance(option, BulkImportOption):
        raise InvalidInputError(
            f"bulk_import takes a BulkImportOption (see new_bulk_import_option), got {type(option).__name__}",
            value=type(option).__name__,
        )


class _BaseClient(Generic[TransportT]):
    """What both clients decide the same way: how the constructor's arguments become a target, an identity and a
    session, and how each method's arguments become a flow (the ``_*`` methods; validation happens there, before
    any RPC). A subclass only opens its kind of channel (``_user_transport``, ``_owned_transport``) and runs the
    flows: ``_blocking`` and ``_aio._awaitable`` turn each flow builder into a public method of the same signature."""

    _address: str | None
    _identity: Identity
    _transport: TransportT

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
    ) -> None:
        if channel is not None:
            self._address = parse_uri(uri).address if uri else None
            self._identity = Identity(authorization_value(token=token, user=user, password=password), db_name)
            session = Session(parse_uri(uri).display if uri else USER_CHANNEL, retry or Retry())
            self._transport = self._user_transport(channel, session, interceptors)
            return
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
        )
        self._address = config.target.address
        self._identity = config.identity()
        session = Session(config.target.display, retry or Retry())
        self._transport = self._owned_transport(config, session, interceptors)

    def _user_transport(self, channel: Any, session: Session, interceptors: Sequence[Any] | None) -> TransportT:
        """The transport over the user's ``channel``, which the client never closes."""
        raise NotImplementedError

    def _owned_transport(
        self, config: ConnectionConfig, session: Session, interceptors: Sequence[Any] | None
    ) -> TransportT:
        """The transport over a channel the client opens from ``config`` and closes."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self._transport.session.target!r}, db_name={self._identity.db_name!r})"

    def _bulk_import(
        self,
        option: BulkImportOption,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Flow[BulkImportResponse]:
        """Import the option's file groups: one Import RPC per group, in order. See :func:`bulk_import`."""
        check_is_option(option)
        identity = self._identity
        if option.uri.strip():
            # The option's URI must name this client's server; its database and credentials then apply to this
            # call, exactly as they would through the module-level bulk_import.
            target = parse_uri(option.uri)
            if self._address is not None and target.address != self._address:
                raise InvalidInputError(
                    f"the option's URI {target.display!r} names another server than this client "
                    f"({self._transport.session.target!r}); use a client for that server or leave the option's URI "
                    "empty",
                    value=target.display,
                    field="uri",
                )
            authorization = authorization_value(token=None, user=target.user, password=target.password)
            identity = Identity(authorization or identity.authorization, target.db_name or identity.db_name)
        call = call_options(timeout, metadata, credentials, wait_for_ready, compression)
        return bulk_import_flow(self._transport.session, identity, option, call)

    def _get_import_progress(
        self,
        job_id: str | int,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Flow[ImportProgress]:
        """Where job ``job_id`` stands. Raises :class:`ImportJobNotFound` for an unknown or expired job."""
        call = call_options(timeout, metadata, credentials, wait_for_ready, compression)
        return get_progress_flow(self._transport.session, self._identity, job_id, call)

    def _list_import_jobs(
        self,
        collection_name: str | None = None,
        *,
        limit: int | None = None,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Flow[list[ImportJobRecord]]:
        """The import jobs the server knows (of one collection when named), at most ``limit`` of them."""
        call = call_options(timeout, metadata, credentials, wait_for_ready, compression)
        return list_jobs_flow(self._transport.session, self._identity, collection_name, limit, call)

    def _wait_for_import(
        self,
        jobs: BulkImportResponse | Iterable[str | int] | str | int,
        *,
        timeout: float | None = None,
        poll_initial: float = 0.1,
        poll_max: float = 2.0,
        on_progress: Callable[[ImportProgress], object] | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
    ) -> Flow[tuple[ImportProgress, ...]]:
        """Follow jobs (a BulkImportResponse, one id or several) until each is Completed or Failed.

        Polls adaptively (``poll_initial`` seconds at first, backing off to ``poll_max``, fast again whenever a job
        moves) and calls ``on_progress`` on every change. Returns the final progress of each job, in order.
        Raises :class:`ImportFailed` if any job failed, :class:`ImportTimeout` after ``timeout`` seconds,
        :class:`ImportJobNotFound` if a job vanishes. Transient connection errors are retried within the timeout.
        """
        call = call_options(timeout, metadata, credentials)
        return wait_flow(
            self._transport.session,
            self._identity,
            jobs,
            call,
            poll_initial=poll_initial,
            poll_max=poll_max,
            on_progress=on_progress,
        )

    def _server_version(
        self, *, timeout: float | None = None, metadata: Sequence[tuple[str, str]] | None = None
    ) -> Flow[str]:
        """The server's version string (asked once per channel, then cached), e.g. ``"v2.3.5-lite"``."""
        call = call_options(timeout, metadata)
        merged = merge_metadata(call.metadata, self._identity.authorization, self._identity.db_name)
        return server_version(self._transport.session, Deadline(call.timeout), merged, call)


def public_method(method: F, build: Callable[..., Any]) -> F:
    """Dress a method that runs flow builder ``build`` as the builder: its name without the underscore, its
    docstring, and its signature with the flow's result as the return annotation."""
    functools.update_wrapper(method, build)
    method.__name__ = build.__name__.removeprefix("_")
    method.__qualname__ = build.__qualname__.replace(build.__name__, method.__name__)
    signature = inspect.signature(build)
    result = str(signature.return_annotation).removeprefix("Flow[").removesuffix("]")
    method.__signature__ = signature.replace(return_annotation=result)  # type: ignore[attr-defined]
    return method


def _blocking(build: Callable[Concatenate[_BaseClient[Any], P], Flow[T]]) -> Callable[Concatenate[ImportClient, P], T]:
    def method(self: ImportClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._transport.run(build(self, *args, **kwargs))

    return public_method(method, build)


class ImportClient(_BaseClient[_Transport]):
    """A connection to one Milvus server for bulk import; a context manager that owns its channel.

    Credentials: ``token`` (an API key, or ``"user:password"``), or ``user`` + ``password``, or ``user:password@``
    in the URI; with none of them, ``MILVUS_TOKEN`` from the environment. ``uri`` defaults to ``MILVUS_URI``.
    TLS is used for ``https://`` URIs or when any TLS argument is given: ``ca_cert`` (a PEM file path or bytes; the
    system roots when absent), ``client_cert`` + ``client_key`` for mutual TLS, ``server_name`` to override the name
    checked in the server's certificate. ``channel_options`` override the defaults (unlimited message sizes,
    keepalive like pymilvus). A ``channel`` you pass is used as is and never closed by the client.
    """

    def _user_transport(self, channel: Any, session: Session, interceptors: Sequence[Any] | None) -> _Transport:
        if interceptors:
            channel = grpc.intercept_channel(channel, *interceptors)
        return _Transport(channel, session, owned=False)

    def _owned_transport(
        self, config: ConnectionConfig, session: Session, interceptors: Sequence[Any] | None
    ) -> _Transport:
        return _Transport(open_channel(config, interceptors), session, owned=True)

    def __enter__(self) -> ImportClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel if this client opened it (a user-supplied channel is left open)."""
        self._transport.close()

    bulk_import = _blocking(_BaseClient._bulk_import)
    get_import_progress = _blocking(_BaseClient._get_import_progress)
    list_import_jobs = _blocking(_BaseClient._list_import_jobs)
    wait_for_import = _blocking(_BaseClient._wait_for_import)
    server_version = _blocking(_BaseClient._server_version)


_shared_lock = threading.Lock()
_shared: dict[tuple[Any, ...], _Transport] = {}


def _shared_transport(config: ConnectionConfig) -> _Transport:
    key = config.cache_key()
    with _shared_lock:
        transport = _shared.get(key)
        if transport is None:
            transport = _Transport(open_channel(config), Session(config.target.display), owned=True)
            _shared[key] = transport
        return transport


@atexit.register
def _close_shared() -> None:
    with _shared_lock:
        for transport in _shared.values():
            transport.close()
        _shared.clear()


def bulk_import(
    option: BulkImportOption,
    *,
    timeout: float | None = None,
    metadata: Sequence[tuple[str, str | bytes]] | None = None,
    credentials: grpc.CallCredentials | None = None,
    wait_for_ready: bool | None = None,
    compression: grpc.Compression | None = None,
) -> BulkImportResponse:
    """Import prepared files into a collection, like the Go SDK's ``BulkImport(ctx, option, callOpts...)``.

    Connects to ``option.uri`` (or ``MILVUS_URI``) over a channel that is cached per target, so a loop of calls does
    not redial. Each file group becomes one Import RPC (one job on Milvus 2.4+), sent in order.

    Call options reach every RPC untouched: ``timeout`` is the deadline of the whole call (each RPC gets what
    remains), ``metadata`` is sent as given plus ``authorization``/``dbname`` headers unless you set those keys
    yourself (yours win), ``credentials``/``wait_for_ready``/``compression`` go to gRPC as they are.

    Returns a :class:`BulkImportResponse`. Raises :class:`InvalidInputError` before any RPC for input that cannot
    be right, :class:`BulkImportError` when the server refuses a group, a :class:`TransportError` subclass when an
    RPC fails; each carries ``created_job_ids`` of the groups that succeeded before it.
    """
    check_is_option(option)
    client = _client_for(option.uri or None)
    return client.bulk_import(
        option,
        timeout=timeout,
        metadata=metadata,
        credentials=credentials,
        wait_for_ready=wait_for_ready,
        compression=compression,
    )


def _client_for(uri_or_client: str | ImportClient | None) -> ImportClient:
    """An ImportClient over the shared channel for a URI (or ``MILVUS_URI``), or the client given."""
    if isinstance(uri_or_client, ImportClient):
        return uri_or_client
    if uri_or_client is not None and not isinstance(uri_or_client, str):
        raise InvalidInputError(
            f"expected a Milvus URI or an ImportClient, got {type(uri_or_client).__name__}",
            value=type(uri_or_client).__name__,
        )
    config = resolve(uri_or_client or None)
    client = ImportClient.__new__(ImportClient)
    client._address = config.target.address
    client._identity = config.identity()
    client._transport = _shared_transport(config)
    return client


def get_import_progress(uri_or_client: str | ImportClient | None, job_id: str | int, **call: Any) -> ImportProgress:
    """Module-level :meth:`ImportClient.get_import_progress` over a cached channel."""
    return _client_for(uri_or_client).get_import_progress(job_id, **call)


def list_import_jobs(
    uri_or_client: str | ImportClient | None, collection_name: str | None = None, **call: Any
) -> list[ImportJobRecord]:
    """Module-level :meth:`ImportClient.list_import_jobs` over a cached channel."""
    return _client_for(uri_or_client).list_import_jobs(collection_name, **call)


def wait_for_import(
    uri_or_client: str | ImportClient | None,
    jobs: BulkImportResponse | Iterable[str | int] | str | int,
    **options: Any,
) -> tuple[ImportProgress, ...]:
    """Module-level :meth:`ImportClient.wait_for_import` over a cached channel."""
    return _client_for(uri_or_client).wait_for_import(jobs, **options)
