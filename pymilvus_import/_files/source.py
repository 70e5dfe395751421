"""Where a reader gets its bytes: ``size()`` and ``read(offset, length)``, nothing else (a source may also have
``readinto(offset, buffer)``, which the full check uses to stream into one reused buffer).

A local file is :class:`LocalFile`; bytes in memory :class:`BytesSource` (tests, files about to be staged); an
object-storage key is any object with the same two methods (a ranged GET, a HEAD). A source that cannot be read
raises :class:`SourceUnreadable` (an ``OSError``): the checker then gives that file no verdict, never a guess.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from .._errors import InvalidInputError
from .._inputs import fspath_of
from .._secrets import shown


class SourceUnreadable(OSError):
    """The client cannot read this file (missing locally, no permission, a storage error): no verdict for it."""


@runtime_checkable
class Source(Protocol):
    """Random access to one file's bytes. ``read`` may return fewer bytes only at the end of the file."""

    name: str

    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...


class LocalFile:
    """A file on this machine's disk, opened per read (no handle is kept open between calls)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = _path_text(path)
        self.name = self.path

    def __repr__(self) -> str:
        return f"LocalFile({self.path!r})"

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError as error:
            raise SourceUnreadable(f"cannot stat {self.path!r}: {error.strerror or error}") from error

    def read(self, offset: int, length: int) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(offset)
                return handle.read(length)
        except OSError as error:
            raise SourceUnreadable(f"cannot read {self.path!r}: {error.strerror or error}") from error

    def readinto(self, offset: int, buffer: memoryview) -> int:
        """Fill ``buffer`` with the bytes at ``offset`` (fewer only at the end of the file); the count read."""
        try:
            with open(self.path, "rb", buffering=0) as handle:
                handle.seek(offset)
                filled = 0
                while filled < len(buffer):
                    count = handle.readinto(buffer[filled:])
                    if not count:
                        break
                    filled += count
                return filled
        except OSError as error:
            raise SourceUnreadable(f"cannot read {self.path!r}: {error.strerror or error}") from error


class HashingLocalFile(LocalFile):
    """A local file about to be staged: its SHA-256 (which its key needs) is computed from the bytes the file check
    reads, in order from the start, so a check that reads the whole file (``validate="full"``) leaves nothing to
    read again for the digest; staging goes on from :attr:`hashed` (:meth:`digest_state`). A small gap before a
    read (a Parquet file's leading magic, which pyarrow skips) is filled; a read far ahead (a footer) is not hashed.
    """

    #: A gap up to this size before a read is read and hashed too, so the hash keeps up with a reader that skips it.
    GAP = 64 * 1024

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        try:
            info = os.stat(self.path)
            self.opened: tuple[int, int] | None = (info.st_size, info.st_mtime_ns)
        except OSError:
            self.opened = None
        self._sha = hashlib.sha256()
        self.hashed = 0  # bytes hashed, from the start, in order
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HashingLocalFile({self.path!r}, {self.hashed} bytes hashed)"

    def read(self, offset: int, length: int) -> bytes:
        data = super().read(offset, length)
        self._hash(offset, memoryview(data))
        return data

    def readinto(self, offset: int, buffer: memoryview) -> int:
        count = super().readinto(offset, buffer)
        self._hash(offset, buffer[:count])
        return count

    def _hash(self, offset: int, data: memoryview) -> None:
        """Hash what of ``data`` (read at ``offset``) extends the hashed prefix (after a small gap, read here)."""
        with self._lock:
            if self.hashed < offset <= self.hashed + self.GAP:
                gap = super().read(self.hashed, offset - self.hashed)
                self._sha.update(gap)
                self.hashed += len(gap)
            if offset <= self.hashed < offset + len(data):
                self._sha.update(data[self.hashed - offset :])
                self.hashed = offset + len(data)

    def digest_state(self, size: int, mtime_ns: int) -> tuple[hashlib._Hash, int] | None:
        """``(a copy of the hash so far, bytes hashed)`` when the file is still the one read (same size and
        modification time as when it was opened), else None (hash it again from the start)."""
        if self.opened != (size, mtime_ns):
            return None
        with self._lock:
            return self._sha.copy(), self.hashed


def _path_text(path: object) -> str:
    """``LocalFile``'s path as a plain str (a str, or an os.PathLike giving one; no NUL, which no file name holds),
    or an InvalidInputError naming what was given."""
    if isinstance(path, str):
        text: object = str.__str__(path)
    elif isinstance(path, os.PathLike):
        text = fspath_of(path, "LocalFile(path)", "path")
    else:
        raise InvalidInputError(
            f"LocalFile(path) must be a str or os.PathLike, got {type(path).__name__} {shown(path)}",
            value=path,
            field="path",
        )
    if not isinstance(text, str) or not text or "\x00" in text:
        raise InvalidInputError(
            f"LocalFile(path) must be a non-empty file path without NUL, got {shown(text)}", value=text, field="path"
        )
    return text


class BytesSource:
    """Bytes in memory under a name (a file about to be staged, a test's corpus)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._data = bytes(data)

    def __repr__(self) -> str:
        return f"BytesSource({self.name!r}, {len(self._data)} bytes)"

    def size(self) -> int:
        return len(self._data)

    def read(self, offset: int, length: int) -> bytes:
        return self._data[offset : offset + length]

    def readinto(self, offset: int, buffer: memoryview) -> int:
        piece = memoryview(self._data)[offset : offset + len(buffer)]
        buffer[: len(piece)] = piece
        return len(piece)


def chunks(source: Source, chunk_size: int = 1 << 20, start: int = 0) -> Iterator[bytes]:
    """The source's bytes from ``start`` on, in pieces of at most ``chunk_size`` (bounded memory)."""
    offset = start
    while True:
        piece = source.read(offset, chunk_size)
        if not piece:
            return
        yield piece
        offset += len(piece)


class SourceFile:
    """A read-only binary file object over a :class:`Source` (what pyarrow needs to read a footer with ranges)."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._size = source.size()
        self._position = 0
        self.closed = False
        self.mode = "rb"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, length: int = -1) -> bytes:
        if length is None or length < 0:
            length = self._size - self._position
        data = self._source.read(self._position, length) if length else b""
        self._position += len(data)
        return data

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        self.closed = True

    def flush(self) -> None:
        return None
