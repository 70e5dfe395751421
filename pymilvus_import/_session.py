"""What one client knows about its server, and the read-only RPCs every flow shares. Pure.

A :class:`Session` belongs to one client (one target, whatever channels the transport opens for it: the asyncio
client opens one per event loop): where it points (credentials masked), its retry policy for read-only RPCs, the
server version once learned, and the clock every deadline reads.
"""

from __future__ import annotations

import time

from . import _wire
from ._calls import CallOptions, Clock, Deadline, Metadata
from ._effects import Flow
from ._identity import Identity, decide
from ._retry import Retry, retrying


class Session:
    """One client's view of its server: target (credentials masked), read-only retry policy, server version
    (asked at most once per client), and the clock every deadline of a flow reads (tests pass a fake one)."""

    __slots__ = ("clock", "retry", "server_version", "target")

    def __init__(self, target: str, retry: Retry | None = None, clock: Clock = time.monotonic) -> None:
        self.target = target
        self.retry = retry if retry is not None else Retry()
        self.server_version: str | None = None
        self.clock = clock

    def __repr__(self) -> str:
        return f"Session(target={self.target!r}, server_version={self.server_version!r})"

    def deadline(self, timeout: float | None) -> Deadline:
        return Deadline(timeout, self.clock)


def read_only_call(
    session: Session, method: str, request: bytes, deadline: Deadline, metadata: Metadata, call: CallOptions
) -> Flow[bytes]:
    """One read-only RPC, retried on UNAVAILABLE with the session's backoff, inside the caller's deadline."""
    return retrying(session, method, request, deadline, metadata, call)


def server_version(session: Session, identity: Identity, call: CallOptions) -> Flow[str]:
    """The server's version string (e.g. ``"v2.3.5-lite"``), asked once per session and cached."""
    if session.server_version is None:
        _db_name, metadata = decide(identity, call)
        data = yield from read_only_call(
            session,
            _wire.GET_VERSION,
            _wire.encode_get_version_request(),
            session.deadline(call.timeout),
            metadata,
            call,
        )
        session.server_version = _wire.decode_get_version_response(data, session.target)
    return session.server_version
