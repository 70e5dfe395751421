"""Effects and the runner: how a pure flow asks a transport for I/O. No I/O here.

Each operation is a *flow*: a generator that yields effects and receives their results. A transport
(``_transport.py``, stepping the flow with its ``Runner``) performs them and sends the result back, or throws in the
package error it mapped the failure to (a ``grpc.RpcError`` never reaches a flow):

    Rpc(method, request bytes, timeout, metadata, call)  ->  the reply bytes, or a TransportError thrown in
    Sleep(seconds)                                       ->  None (tests advance a fake clock instead)
    Notify(callback, progress)                           ->  None (the user's ``on_progress``; awaited on asyncio)
    Work(function)                                       ->  function() (blocking work such as reading files; run
                                                             in a worker thread on asyncio)
    Work(function, cancellable=True)                     ->  function(cancel), ``cancel`` a threading.Event the
                                                             transport sets when the call is cancelled or the
                                                             client closed (uploads in flight then abort)

The flows, one module per job:

    _import_flow.import_flow ──► _preflight.preflight_flow ──► Rpc(DescribeCollection), Rpc(HasPartition),
                             │                                 Work(check files)
                             ├─► Staging.flow ──► Work(hash), Work(HEAD), Work(upload), Work(HEAD keys)
                             └─► bulk_import_flow ──► Rpc(Import)            one per file group, in order
    _tracking.progress_flow ───► _session.read_only_call ──► Rpc(GetImportState)
    _tracking.list_flow ───────► _session.read_only_call ──► Rpc(ListImportTasks)
    _tracking.wait_flow ───────► progress_flow ... Sleep(PollSchedule), Notify(on_progress)
    _session.server_version ───► _session.read_only_call ──► Rpc(GetVersion)   once per session

(Effects and the other internal values here are plain ``__slots__`` classes: a dataclass costs ~0.4 ms to create at
import time, which a cold start pays.)
"""

from __future__ import annotations

import threading
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
    asyncio transport runs it in a worker thread, so the event loop is not blocked.

    ``cancellable``: ``function`` takes a ``threading.Event`` (:meth:`perform` passes it), which the transport sets
    when the awaiting task is cancelled or the client is closed; the asyncio transport then waits for the function
    to wind down before the cancellation goes on (uploads abort, no thread is left writing). ``what`` names the
    work for logs and tests."""

    __slots__ = ("cancellable", "function", "what")

    def __init__(self, function: Callable[..., Any], *, cancellable: bool = False, what: str = "") -> None:
        self.function = function
        self.cancellable = cancellable
        self.what = what

    def perform(self, cancel: threading.Event | None = None) -> Any:
        """Run the work (in the calling thread); a cancellable one watches ``cancel`` (a fresh event if None)."""
        if self.cancellable:
            return self.function(cancel if cancel is not None else threading.Event())
        return self.function()

    def __repr__(self) -> str:
        return f"Work({self.what or getattr(self.function, '__name__', '?')})"


Effect = Rpc | Sleep | Notify | Work
Flow = Generator[Effect, Any, T]
