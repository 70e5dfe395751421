"""The asyncio client: performs the effects of the same pure flows as ``ImportClient``, over a ``grpc.aio`` channel.

Every argument, validation, request, retry and polling decision is the sync client's (``_client._BaseClient`` and
the flows in ``_core``/``_tracking``); here an Rpc effect is an awaited ``grpc.aio`` call and a Sleep effect is
``asyncio.sleep``, so a wait never blocks the loop and any number of calls can run at once on one client.

Cancelling the task that awaits a method cancels the RPC in flight (grpc.aio cancels a call whose awaiting task is
cancelled); ``asyncio.CancelledError`` propagates and is never thrown into the flow, and the client stays usable.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate

import grpc
import grpc.aio

from ._client import P, _BaseClient, _BaseTransport, dial, public_method
from ._connection import ConnectionConfig
from ._core import Effect, Flow, Rpc, Runner, Session, T
from ._errors import InvalidInputError


class _AsyncTransport(_BaseTransport):
    """A grpc.aio channel: an RPC is awaited, and so is a Sleep.

    A channel the client owns is opened on first use, inside the running loop: a grpc.aio channel belongs to the loop
    it was created in, and the client may well be built before ``asyncio.run``.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel | None,
        session: Session,
        *,
        owned: bool,
        connect: Callable[[], grpc.aio.Channel] | None = None,
    ) -> None:
        super().__init__(channel, session, owned=owned)
        self._connect = connect
        self._closed = False

    def _open(self) -> Any:
        if self.channel is None:
            if self._closed or self._connect is None:
                raise grpc.aio.UsageError("Channel is closed.")  # what grpc.aio says for a closed channel
            self.channel = self._connect()
        return self.channel

    async def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Rpc):
            return await self._invoke(effect)
        await asyncio.sleep(effect.seconds)
        return None

    async def run(self, flow: Flow[T]) -> T:
        runner = Runner(flow)
        while (effect := runner.next_effect()) is not None:
            try:
                reply = await self._perform(effect)
            except grpc.RpcError as error:  # AioRpcError; CancelledError is not one and propagates
                runner.failed(error)
            else:
                runner.succeeded(reply)
        return runner.result  # type: ignore[no-any-return]

    async def close(self) -> None:
        self._closed = True
        if self.owned and self.channel is not None:
            await self.channel.close()


def _awaitable(
    build: Callable[Concatenate[_BaseClient[Any], P], Flow[T]],
) -> Callable[Concatenate[AsyncImportClient, P], Coroutine[Any, Any, T]]:
    async def method(self: AsyncImportClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._transport.run(build(self, *args, **kwargs))

    return public_method(method, build)


class AsyncImportClient(_BaseClient[_AsyncTransport]):
    """:class:`ImportClient` for asyncio: the same constructor arguments, methods, call options, errors, validation
    and retry policy; every method is a coroutine. Use ``async with AsyncImportClient(uri) as client: ...``.

    ``channel`` must be a ``grpc.aio.Channel`` (used as is and never closed); ``interceptors`` are grpc.aio client
    interceptors, given to the channel the client opens (a channel of yours carries its own). The client's channel
    is opened on first use in the running event loop; use one client within one loop.
    """

    def _user_transport(self, channel: Any, session: Session, interceptors: Sequence[Any] | None) -> _AsyncTransport:
        if not isinstance(channel, grpc.aio.Channel):
            raise InvalidInputError(
                f"AsyncImportClient needs a grpc.aio.Channel, got {type(channel).__name__}; "
                "use ImportClient for a grpc.Channel",
                value=type(channel).__name__,
                field="channel",
            )
        if interceptors:
            raise InvalidInputError(
                "interceptors cannot be added to an existing grpc.aio channel: pass them to "
                "grpc.aio.insecure_channel/secure_channel(interceptors=...) when you create it",
                value=len(interceptors),
                field="interceptors",
            )
        return _AsyncTransport(channel, session, owned=False)

    def _owned_transport(
        self, config: ConnectionConfig, session: Session, interceptors: Sequence[Any] | None
    ) -> _AsyncTransport:
        for interceptor in interceptors or ():
            if not isinstance(interceptor, grpc.aio.ClientInterceptor):
                raise InvalidInputError(
                    f"AsyncImportClient takes grpc.aio client interceptors, got {type(interceptor).__name__}",
                    value=type(interceptor).__name__,
                    field="interceptors",
                )
        connect = functools.partial(dial, grpc.aio, config, interceptors=list(interceptors or ()) or None)
        return _AsyncTransport(None, session, owned=True, connect=connect)

    async def __aenter__(self) -> AsyncImportClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel if this client opened it (a user-supplied channel is left open). Calls still in flight
        on the client's channel are cancelled."""
        await self._transport.close()

    bulk_import = _awaitable(_BaseClient._bulk_import)
    get_import_progress = _awaitable(_BaseClient._get_import_progress)
    list_import_jobs = _awaitable(_BaseClient._list_import_jobs)
    wait_for_import = _awaitable(_BaseClient._wait_for_import)
    server_version = _awaitable(_BaseClient._server_version)
