"""The transports: perform a flow's effects over one channel. The only code here that blocks or awaits.

``SyncTransport`` runs an ``Rpc`` on a ``grpc.Channel`` and a ``Sleep`` with ``time.sleep``; ``AsyncTransport`` awaits
a ``grpc.aio`` call and ``asyncio.sleep``; a ``Work`` (blocking reads of files, uploads) runs in place, or in a worker
thread (``asyncio.to_thread``) on asyncio. A cancellable ``Work`` gets an event that ``close()`` sets (and, on
asyncio, a cancelled task: the thread is waited for before the cancellation goes on), so uploads in flight abort.
Both send raw bytes (no serializers on the channel). Errors are mapped here, where they enter: a failed RPC's
``grpc.RpcError`` becomes the package's :class:`TransportError` for its status (``_errors.from_grpc_error``, the
``GRPC_STATUS`` table) before it is thrown into the flow, which decides what it means; the flows never see ``grpc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import grpc
import grpc.aio

from ._connection import ConnectionConfig
from ._effects import Effect, Flow, Notify, Rpc, T, Work
from ._errors import ClientClosedError, InvalidInputError, TransportError, WrongEventLoopError, from_grpc_error
from ._inputs import items_of
from ._session import Session


class Runner:
    """Steps a flow for a transport: ``next_effect()`` until it returns None, then read ``result``."""

    __slots__ = ("_arg", "_flow", "_step", "result")

    def __init__(self, flow: Flow[Any]) -> None:
        self._flow = flow
        self._step: Callable[[Any], Effect] = flow.send
        self._arg: Any = None
        self.result: Any = None

    def next_effect(self) -> Effect | None:
        try:
            return self._step(self._arg)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def succeeded(self, value: Any) -> None:
        self._step, self._arg = self._flow.send, value

    def failed(self, error: BaseException) -> None:
        """The effect failed with ``error`` (a package error: the transport maps gRPC's own before this)."""
        self._step, self._arg = self._flow.throw, error

    def interrupted(self, error: BaseException) -> None:
        """An effect was interrupted (KeyboardInterrupt, task cancelled): let the flow note what it has done so far
        on ``error`` (e.g. ``created_job_ids``); the transport then re-raises ``error`` itself."""
        try:
            self._flow.throw(error)
        except BaseException as raised:  # the flow re-raises it: that is the expected way out
            if raised is not error:
                raise
        else:  # pragma: no cover - no flow catches an interruption and goes on
            self._flow.close()


def _boxed(function: Callable[..., Any], *args: Any) -> tuple[Any, BaseException | None]:
    """``function(*args)`` in a worker thread, its outcome as a value: an exception that is a KeyboardInterrupt
    (an aborted staging) must not pass through asyncio's task machinery, which would stop the event loop."""
    try:
        return function(*args), None
    except BaseException as error:
        return None, error


async def run_cancellable(
    work: Work,
    working: set[threading.Event] | None = None,
    stopped: Callable[[BaseException], BaseException] | None = None,
) -> Any:
    """Run a cancellable ``work`` in a worker thread (its event in ``working`` meanwhile, for ``close()`` to set);
    when the awaiting task is cancelled, set the event and wait for the thread (uploads in flight abort, nothing is
    left writing) before the cancellation goes on. A work that stopped with a KeyboardInterrupt (its event was set
    by a ``close()``) raises ``stopped(that error)`` instead (default: a CancelledError caused by it): a
    KeyboardInterrupt raised in a task would stop the whole event loop."""
    cancel = threading.Event()
    if working is not None:
        working.add(cancel)
    future = asyncio.get_running_loop().run_in_executor(None, _boxed, work.perform, cancel)
    try:
        value, error = await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(BaseException):
            await future
        raise
    finally:
        if working is not None:
            working.discard(cancel)
    if error is None:
        return value
    if isinstance(error, KeyboardInterrupt):
        raise (stopped(error) if stopped is not None else asyncio.CancelledError()) from error
    raise error


def run_work(flow: Flow[T], cancel: threading.Event | None = None) -> T:
    """Run a flow that yields only ``Work`` in this thread (staging without a client: ``stage_files``); a
    cancellable Work watches ``cancel`` (set by another thread to abort it)."""
    runner = Runner(flow)
    while (effect := runner.next_effect()) is not None:
        assert isinstance(effect, Work), effect
        try:
            result = effect.perform(cancel)
        except BaseException as error:  # the flow notes what it has done (keys staged), then it goes on up
            runner.interrupted(error)
            raise
        runner.succeeded(result)
    return runner.result  # type: ignore[no-any-return]


async def run_work_async(flow: Flow[T]) -> T:
    """:func:`run_work` on asyncio: each Work in a worker thread (cancellable ones as :func:`run_cancellable`)."""
    runner = Runner(flow)
    while (effect := runner.next_effect()) is not None:
        assert isinstance(effect, Work), effect
        try:
            result = await (run_cancellable(effect) if effect.cancellable else asyncio.to_thread(effect.perform))
        except BaseException as error:
            runner.interrupted(error)
            raise
        runner.succeeded(result)
    return runner.result  # type: ignore[no-any-return]


def dial(api: Any, config: ConnectionConfig, **extra: Any) -> Any:
    """A new channel from ``api`` (the ``grpc`` or the ``grpc.aio`` module) for ``config``, with TLS when it says so."""
    options = list(config.channel_options)
    if config.tls is not None:
        return api.secure_channel(config.target.address, config.tls.credentials(), options=options, **extra)
    return api.insecure_channel(config.target.address, options=options, **extra)


def _failed(session: Session, effect: Effect, error: grpc.RpcError) -> TransportError:
    """The package error for ``error``, raised by performing ``effect`` (an Rpc)."""
    method = effect.method if isinstance(effect, Rpc) else type(effect).__name__
    return from_grpc_error(error, target=session.target, method=method)


def _start(callables: dict[str, Any], channel: Any, rpc: Rpc) -> Any:
    """Start ``rpc`` on ``channel``: the reply bytes on a sync channel, a call to await on a ``grpc.aio`` one."""
    method = callables.get(rpc.method)
    if method is None:
        method = callables[rpc.method] = channel.unary_unary(rpc.method)
    call = rpc.call
    return method(
        rpc.request,
        timeout=rpc.timeout,
        metadata=rpc.metadata or None,
        credentials=call.credentials,
        wait_for_ready=call.wait_for_ready,
        compression=call.compression,
    )


class SyncTransport:
    """A ``grpc.Channel``: an RPC blocks the thread, and so does a Sleep. ``owned``: the client opened it (and
    closes it); a channel of the caller's is never closed here."""

    def __init__(self, channel: grpc.Channel, session: Session, *, owned: bool) -> None:
        self.channel = channel
        self.session = session
        self.owned = owned
        self.closed = False
        self._callables: dict[str, Any] = {}
        self._working: set[threading.Event] = set()  # the cancel events of cancellable Work in flight

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Rpc):
            try:
                return _start(self._callables, self.channel, effect)
            except ValueError as error:  # grpc's word for a call on a channel closed under us
                if "closed channel" in str(error):
                    raise ClientClosedError(f"the channel to {self.session.target} was closed") from None
                raise
        if isinstance(effect, Notify):
            effect.callback(effect.progress)
            return None
        if isinstance(effect, Work):
            if not effect.cancellable:
                return effect.perform()
            cancel = threading.Event()
            self._working.add(cancel)
            try:
                return effect.perform(cancel)
            finally:
                self._working.discard(cancel)
        time.sleep(effect.seconds)
        return None

    def run(self, flow: Flow[T]) -> T:
        if self.closed:
            flow.close()
            raise ClientClosedError(f"this client of {self.session.target} is closed; open a new one")
        runner = Runner(flow)
        while (effect := runner.next_effect()) is not None:
            try:
                result = self._perform(effect)
            except grpc.RpcError as error:
                runner.failed(_failed(self.session, effect, error))
            except BaseException as error:  # KeyboardInterrupt, a callback's own error, ...
                runner.interrupted(error)
                raise
            else:
                runner.succeeded(result)
        return runner.result  # type: ignore[no-any-return]

    def close(self) -> None:
        self.closed = True
        for cancel in list(self._working):  # a close from another thread (a signal handler) aborts uploads
            cancel.set()
        if self.owned:
            self.channel.close()


class AsyncTransport:
    """``grpc.aio`` channels: an RPC is awaited, and so are a Sleep and an async ``on_progress``.

    A grpc.aio channel belongs to the event loop it was created in. A channel the client opens is therefore opened
    on first use in each running loop (a second ``asyncio.run``, or one loop per thread, gets its own); a channel
    of the caller's is used only in its own loop (:class:`WrongEventLoopError` elsewhere).
    """

    def __init__(
        self,
        session: Session,
        *,
        channel: grpc.aio.Channel | None = None,
        connect: Callable[[], grpc.aio.Channel] | None = None,
    ) -> None:
        self.session = session
        self.closed = False
        self._user_channel = channel
        self._connect = connect
        self._owned: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[grpc.aio.Channel, dict[str, Any]]]
        self._owned = weakref.WeakKeyDictionary()
        self._user_callables: dict[str, Any] = {}
        self._working: set[threading.Event] = set()

    def _channel(self) -> tuple[Any, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self._user_channel is not None:
            home = getattr(self._user_channel, "_loop", loop)
            if home is not loop:
                raise WrongEventLoopError(
                    f"the grpc.aio channel given to this client belongs to another event loop; create the channel "
                    f"(and the client) in the loop that uses it, or let the client open its own ({self.session.target})"
                )
            return self._user_channel, self._user_callables
        entry = self._owned.get(loop)
        if entry is None:
            assert self._connect is not None
            entry = self._owned[loop] = (self._connect(), {})
        return entry

    async def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Rpc):
            channel, callables = self._channel()
            return await _start(callables, channel, effect)
        if isinstance(effect, Notify):
            outcome = effect.callback(effect.progress)
            if inspect.isawaitable(outcome):
                await outcome
            return None
        if isinstance(effect, Work):
            if not effect.cancellable:
                return await asyncio.to_thread(effect.perform)
            return await run_cancellable(effect, self._working, self._stopped)
        await asyncio.sleep(effect.seconds)
        return None

    def _stopped(self, error: BaseException) -> BaseException:
        """What a cancellable Work stopped by ``close()`` raises in the task (not the work's KeyboardInterrupt)."""
        return ClientClosedError(
            f"this client of {self.session.target} was closed during the call; the work in flight was aborted ({error})"
        )

    async def run(self, flow: Flow[T]) -> T:
        if self.closed:
            flow.close()
            raise ClientClosedError(f"this client of {self.session.target} is closed; open a new one")
        runner = Runner(flow)
        while (effect := runner.next_effect()) is not None:
            try:
                result = await self._perform(effect)
            except grpc.RpcError as error:  # AioRpcError
                runner.failed(_failed(self.session, effect, error))
            except BaseException as error:  # CancelledError (the RPC in flight is cancelled with the task), ...
                runner.interrupted(error)
                raise
            else:
                runner.succeeded(result)
        return runner.result  # type: ignore[no-any-return]

    async def close(self) -> None:
        """Close the channel this client opened in the running loop (a channel of the caller's stays open)."""
        self.closed = True
        for cancel in list(self._working):
            cancel.set()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - close() is a coroutine, so a loop is running
            return
        entry = self._owned.pop(loop, None)
        if entry is not None:
            await entry[0].close(grace=None)
        self._owned.clear()  # channels of loops that are gone (or elsewhere) are dropped with them


def check_sync_channel(channel: object, interceptors: Sequence[Any] | None) -> grpc.Channel:
    """The caller's channel for :class:`ImportClient`: a ``grpc.Channel`` (interceptors wrapped around it)."""
    if isinstance(channel, grpc.aio.Channel) or not hasattr(channel, "unary_unary"):
        hint = "; use AsyncImportClient for a grpc.aio.Channel" if isinstance(channel, grpc.aio.Channel) else ""
        raise InvalidInputError(
            f"ImportClient needs a grpc.Channel, got {type(channel).__name__}{hint}",
            value=type(channel).__name__,
            field="channel",
        )
    # Anything with unary_unary works as a channel (grpc's own wrappers, test doubles); grpc types it as Channel.
    return intercept(cast(grpc.Channel, channel), check_sync_interceptors(interceptors))


_SYNC_INTERCEPTORS = (
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
)


def _interceptors_of(interceptors: object, kinds: tuple[type, ...], expected: str) -> list[Any]:
    """The caller's ``interceptors`` (None: none), read once (:func:`items_of`), each one of ``kinds``: the one rule
    for every client, applied before any channel is dialled."""
    if interceptors is None:
        return []
    if isinstance(interceptors, (str, bytes)) or not isinstance(interceptors, Iterable):
        raise InvalidInputError(
            f"interceptors must be a sequence of {expected}, got {type(interceptors).__name__}",
            value=type(interceptors).__name__,
            field="interceptors",
        )
    items = items_of(interceptors, "interceptors", "interceptors")
    for interceptor in items:
        if not isinstance(interceptor, kinds):
            raise InvalidInputError(
                f"interceptors must be {expected}, got {type(interceptor).__name__}",
                value=type(interceptor).__name__,
                field="interceptors",
            )
    return items


def check_sync_interceptors(interceptors: Sequence[Any] | None) -> list[Any]:
    """:class:`ImportClient`'s interceptors, checked (grpc client interceptors)."""
    return _interceptors_of(
        interceptors, _SYNC_INTERCEPTORS, "grpc client interceptors (e.g. grpc.UnaryUnaryClientInterceptor)"
    )


def intercept(channel: grpc.Channel, interceptors: list[Any]) -> grpc.Channel:
    """``channel`` with ``interceptors`` (checked by :func:`check_sync_interceptors`) around it."""
    return grpc.intercept_channel(channel, *interceptors) if interceptors else channel


def check_async_channel(channel: object, interceptors: Sequence[Any] | None) -> grpc.aio.Channel:
    """The caller's channel for :class:`AsyncImportClient`: a ``grpc.aio.Channel``, which carries its own
    interceptors."""
    if not isinstance(channel, grpc.aio.Channel):
        raise InvalidInputError(
            f"AsyncImportClient needs a grpc.aio.Channel, got {type(channel).__name__}; "
            "use ImportClient for a grpc.Channel",
            value=type(channel).__name__,
            field="channel",
        )
    checked = check_async_interceptors(interceptors)
    if checked:
        raise InvalidInputError(
            "interceptors cannot be added to an existing grpc.aio channel: pass them to "
            "grpc.aio.insecure_channel/secure_channel(interceptors=...) when you create it",
            value=len(checked),
            field="interceptors",
        )
    return channel


def check_async_interceptors(interceptors: Sequence[Any] | None) -> list[Any] | None:
    """:class:`AsyncImportClient`'s interceptors, checked (grpc.aio client interceptors); None for none."""
    return _interceptors_of(interceptors, (grpc.aio.ClientInterceptor,), "grpc.aio client interceptors") or None
