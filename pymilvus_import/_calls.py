"""Call options and deadlines: the caller's gRPC options, checked once, and how they meet the client's identity.

Every RPC-backed function takes the same five keyword arguments (``timeout``, ``metadata``, ``credentials``,
``wait_for_ready``, ``compression``); :class:`CallOptions` checks them before any RPC and carries them untouched to
every RPC of the call. Where they meet the client's own credentials and database (a caller's ``authorization`` or
``dbname`` entry, per-call ``credentials``) is decided in ``_identity.decide``, with every other source.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import grpc

from ._errors import InvalidInputError
from ._identity import Identity as Identity  # importable from here too, as before
from ._inputs import items_of
from ._secrets import is_secret_name, mask_pair, shown

Metadata = tuple[tuple[str, "str | bytes"], ...]
Clock = Callable[[], float]

#: The longest duration (timeouts, poll intervals, retry delays), in seconds: about 31 years. gRPC turns a
#: longer deadline into an immediate DEADLINE_EXCEEDED (measured: 1e9 s works, 1e12 s fails at once).
MAX_SECONDS = 1e9

# gRPC's rule for metadata keys: lower-case letters, digits, "_", "-" and "."; keys starting with "grpc-" are
# gRPC's own, and the HTTP/2 transport's headers are not the caller's to set (":path", "host", "te", ...).
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")
_RESERVED_KEYS = frozenset(
    {"host", "te", "content-type", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)


def is_positive_number(value: object, maximum: float = MAX_SECONDS) -> bool:
    """A number (not a bool) in ``(0, maximum]``: NaN, infinities and huge ints fail without an OverflowError."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= maximum


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
        if timeout is not None and not is_positive_number(timeout):
            raise InvalidInputError(
                f"timeout must be a positive number of seconds up to {MAX_SECONDS:g} (None for no deadline), got "
                f"{shown(timeout)}",
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
                f"wait_for_ready must be True, False or None, got {shown(wait_for_ready)}",
                value=wait_for_ready,
                field="wait_for_ready",
            )
        if compression is not None and not isinstance(compression, grpc.Compression):
            raise InvalidInputError(
                f"compression must be a grpc.Compression (NoCompression, Deflate, Gzip), got {shown(compression)}",
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
    text = isinstance(metadata, (str, bytes, bytearray))  # "authorization=SECRET": could be a secret itself
    if text or not isinstance(metadata, Iterable):
        raise InvalidInputError(
            f"metadata must be a sequence of (key, value) tuples such as [('x-request-id', 'abc')], got "
            f"{type(metadata).__name__} {'(value not shown)' if text else shown(metadata)}",
            value=type(metadata).__name__ if text else metadata,
            field="metadata",
        )
    pairs: list[tuple[str, str | bytes]] = []
    for entry in items_of(metadata, "metadata", "metadata"):
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
            shown_entry = _shown_entry(entry)
            raise InvalidInputError(
                f"metadata entries must be (key, value) tuples with a string key, got {shown(shown_entry)}",
                value=shown_entry,
                field="metadata",
            )
        key, value = entry
        key = str.__str__(key)
        if not key or not set(key) <= _KEY_CHARS:
            raise InvalidInputError(
                f"metadata key {shown(key)} must be non-empty and hold only lower-case ASCII letters, digits, '_', "
                "'-' and '.' (gRPC rule)",
                value=key,
                field="metadata",
            )
        if key.startswith("grpc-") or key in _RESERVED_KEYS:
            raise InvalidInputError(
                f"metadata key {key!r} is reserved: gRPC and HTTP/2 set it themselves ('grpc-*', host, te, "
                "content-type, ...); use a key of your own",
                value=key,
                field="metadata",
            )
        if key.endswith("-bin"):
            if not isinstance(value, bytes):
                raise InvalidInputError(
                    f"metadata value for {key!r} must be bytes, got {type(value).__name__}", value=key, field="metadata"
                )
            value = bytes(value)
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
        else:
            value = str.__str__(value)
        pairs.append((key, value))
    return tuple(pairs)


def _shown_entry(entry: object) -> object:
    """A malformed metadata entry as shown: a bare key (``"x-trace"`` for ``("x-trace", v)``) as itself, a pair's
    values masked when its key names a secret; a bare string that could be a secret (long, or not key-shaped) not."""
    if isinstance(entry, str):
        plain = str.__str__(entry)
        key_like = 0 < len(plain) <= 32 and set(plain) <= _KEY_CHARS and not is_secret_name(plain)
        return plain if key_like else "<str (not shown)>"
    return mask_pair(entry)


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
