"""Call options and deadlines: the caller's gRPC options, checked once, and how they meet the client's identity.

Every RPC-backed function takes the same five keyword arguments (``timeout``, ``metadata``, ``credentials``,
``wait_for_ready``, ``compression``); :class:`CallOptions` checks them before any RPC and carries them untouched to
every RPC of the call. Where they meet the client's own credentials and database (a caller's ``authorization`` or
``dbname`` entry, per-call ``credentials``) is decided in ``_identity.decide``, with every other source.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence

import grpc

from ._errors import InvalidInputError
from ._identity import Identity as Identity  # importable from here too, as before

Metadata = tuple[tuple[str, "str | bytes"], ...]
Clock = Callable[[], float]

_SECRET_KEYS = ("authorization", "token", "password", "api-key", "apikey", "x-api-key")


class CallOptions:
    """The caller's gRPC call options (checked), passed to every RPC untouched; ``timeout`` bounds the whole call."""

    __slots__ = ("compression", "credentials", "metadata", "timeout", "wait_for_ready")

    def __init__(
        self,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> None:
        """Raises :class:`InvalidInputError` naming the bad option (metadata keys, never metadata values)."""
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise InvalidInputError(
                f"timeout must be a finite positive number of seconds (None for no deadline), got {timeout!r}",
                value=timeout,
                field="timeout",
            )
        if credentials is not None and not isinstance(credentials, grpc.CallCredentials):
            raise InvalidInputError(
                f"credentials must be grpc.CallCredentials (e.g. grpc.access_token_call_credentials(...)), got "
                f"{type(credentials).__name__}",
                value=type(credentials).__name__,
                field="credentials",
            )
        if wait_for_ready is not None and not isinstance(wait_for_ready, bool):
            raise InvalidInputError(
                f"wait_for_ready must be True, False or None, got {wait_for_ready!r}",
                value=wait_for_ready,
                field="wait_for_ready",
            )
        if compression is not None and not isinstance(compression, grpc.Compression):
            raise InvalidInputError(
                f"compression must be a grpc.Compression (NoCompression, Deflate, Gzip), got {compression!r}",
                value=compression,
                field="compression",
            )
        self.timeout: float | None = timeout
        self.metadata: Metadata = _check_metadata(metadata)
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def _check_metadata(metadata: object) -> Metadata:
    if metadata is None:
        return ()
    if isinstance(metadata, (str, bytes)) or not isinstance(metadata, Iterable):
        raise InvalidInputError(
            f"metadata must be a sequence of (key, value) tuples, got {type(metadata).__name__} {metadata!r}",
            value=metadata,
            field="metadata",
        )
    pairs: list[tuple[str, str | bytes]] = []
    for entry in metadata:
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
            shown = _describe_entry(entry)
            raise InvalidInputError(
                f"metadata entries must be (key, value) tuples with a string key, got {shown}",
                value=shown,
                field="metadata",
            )
        key, value = entry
        if not key or key != key.lower() or not key.isascii() or not key.isprintable() or " " in key:
            raise InvalidInputError(
                f"metadata key {key!r} must be non-empty, lower-case printable ASCII without spaces (gRPC rule)",
                value=key,
                field="metadata",
            )
        if key.endswith("-bin"):
            if not isinstance(value, bytes):
                raise InvalidInputError(
                    f"metadata value for {key!r} must be bytes, got {type(value).__name__}", value=key, field="metadata"
                )
        elif not isinstance(value, str):
            raise InvalidInputError(
                f"metadata value for {key!r} must be str, got {type(value).__name__}", value=key, field="metadata"
            )
        elif not all(32 <= ord(ch) < 127 for ch in value):
            raise InvalidInputError(
                f"metadata value for {key!r} must be printable ASCII (gRPC rule; use a '-bin' key for binary data)",
                value=key,
                field="metadata",
            )
        pairs.append((key, value))
    return tuple(pairs)


def _describe_entry(entry: object) -> str:
    """A bad metadata entry for a message: its repr, with the values of secret-looking keys masked."""
    if isinstance(entry, (list, tuple)) and entry and isinstance(entry[0], str) and entry[0].lower() in _SECRET_KEYS:
        masked = [entry[0], *("***" for _ in entry[1:])]
        return repr(tuple(masked) if isinstance(entry, tuple) else masked)
    return repr(entry)


class Deadline:
    """The caller's ``timeout`` as an absolute time on ``clock``, shared by every RPC of one call."""

    __slots__ = ("_at", "_clock")

    def __init__(self, timeout: float | None, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._at = None if timeout is None else clock() + timeout

    def remaining(self) -> float | None:
        return None if self._at is None else self._at - self._clock()

    def allows(self, seconds: float) -> bool:
        left = self.remaining()
        return left is None or left > seconds

    def within(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now, or this one if it comes sooner."""
        left = self.remaining()
        return Deadline(seconds if left is None else max(0.0, min(left, seconds)), self._clock)
