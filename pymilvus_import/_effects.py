"""Effects and the runner: how a pure flow asks a transport for I/O. No I/O here.

Each operation is a *flow*: a generator that yields effects and receives their results. A transport
(``_transport.py``, stepping the flow with its ``Runner``) performs them and sends the result back, or throws in the
package error it mapped the failure to (a ``grpc.RpcError`` never reaches a flow):

    Rpc(method, request bytes, timeout, metadata, call)  ->  the reply bytes, or a TransportError thrown in
    Sleep(seconds)                                       ->  None (tests advance a fake clock instead)
    Notify(callback, progress)                           ->  None (the user's ``on_progress``; awaited on asyncio)
    Work(function)                                       ->  function() (blocking work such as reading files; run
                                                             in a worker thread on asyncio)

The flows, one module per job:

    _import_flow.import_flow ──► _preflight.preflight_flow ──► Rpc(DescribeCollection), Rpc(HasPartition)
                             └─► bulk_import_flow ──► Rpc(Import)            one per file group, in order
    _tracking.progress_flow ───► _session.read_only_call ──► Rpc(GetImportState)
    _tracking.list_flow ───────► _session.read_only_call ──► Rpc(ListImportTasks)
    _tracking.wait_flow ───────► progress_flow ... Sleep(PollSchedule), Notify(on_progress)
    _session.server_version ───► _session.read_only_call ──► Rpc(GetVersion)   once per session

(Effects and the other internal values here are plain ``__slots__`` classes: a dataclass costs ~0.4 ms to create at
import time, which a cold start pays.)
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ._calls import CallOptions, Metadata
    from ._models import ImportProgress

T = TypeVar("T")


class Rpc:
    """Effect: call ``method`` with the serialized ``request``; the flow receives the reply bytes."""

    __slots__ = ("call", "metadata", "method", "request", "timeout")

    def __init__(self, method: str, request: bytes, timeout: float | None, metadata: Metadata, call: CallOptions):
        self.method = method
        self.request = request
        self.timeout = timeout
        self.metadata = metadata
        self.call = call

    def __repr__(self) -> str:
        return f"Rpc({self.method.rsplit('/', 1)[-1]}, {len(self.request)} bytes, timeout={self.timeout})"


class Sleep:
    """Effect: wait ``seconds`` before the flow goes on."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Sleep({self.seconds:.3f})"


class Notify:
    """Effect: call the user's ``on_progress`` callback (the transport awaits it when it is a coroutine function
    on the asyncio client)."""

    __slots__ = ("callback", "progress")

    def __init__(self, callback: Callable[[ImportProgress], object], progress: ImportProgress) -> None:
        self.callback = callback
        self.progress = progress


class Work:
    """Effect: run ``function()`` (blocking work such as reading files) and hand its result to the flow; the
    asyncio transport runs it in a worker thread, so the event loop is not blocked."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function


Effect = Rpc | Sleep | Notify | Work
Flow = Generator[Effect, Any, T]
