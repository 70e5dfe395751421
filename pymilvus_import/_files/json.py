"""JSON / JSON Lines the way Milvus reads them: the root token, then row objects, streamed.

A ``.json`` file is ``[row, ...]`` or ``{"rows": [row, ...]}`` (the first key compared case-insensitively); a
``.jsonl``/``.ndjson`` file (2.6.6+) is row objects one after another. :func:`read_rows` decodes rows one at a
time from a :class:`~.source.Source` in pieces, so memory stays bounded by the largest row; with ``budget`` it
stops quietly after that many bytes (the header check reads the first rows only). What the server could not read
raises :class:`JsonFormatError` with the server's words.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any

from .source import Source

_WHITESPACE = " \t\n\r"
_FIRST_PIECE = 64 << 10
#: The largest row the reader loads before calling the file invalid (bounded memory).
MAX_ROW = 64 << 20


class JsonFormatError(ValueError):
    """The file is not JSON the server reads (the message says why, as the server would); ``row`` when known."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


def _no_constants(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} (NaN and Infinity are not JSON)")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


class _Budget(Exception):
    """The byte budget ran out before the next value was complete."""


class _Text:
    """The source's text, loaded in growing pieces as the parser asks for more."""

    def __init__(self, source: Source, budget: int | None) -> None:
        self._source = source
        self._size = source.size()
        self._limit = self._size if budget is None else min(self._size, budget)
        self._offset = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.pos = 0
        self.empty = self._size == 0

    @property
    def at_end(self) -> bool:
        return self._offset >= self._size

    def more(self) -> bool:
        """Load more text; False at the end of the file. Raises :class:`_Budget` past the budget."""
        if self._offset >= self._limit:
            if self.at_end:
                return False
            raise _Budget
        length = max(_FIRST_PIECE, len(self.text) - self.pos)
        length = min(length, self._limit - self._offset)
        piece = self._source.read(self._offset, length)
        if not piece:
            self._size = self._offset
            return False
        self._offset += len(piece)
        final = self._offset >= self._size
        self.text = self.text[self.pos :] + self._decoder.decode(piece, final)
        self.pos = 0
        return True

    def peek(self) -> str | None:
        """The next character that is not whitespace (not consumed); None at the end of the file."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(text):
                return text[pos]
            if not self.more():
                return None

    def value(self) -> Any:
        """Decode the next JSON value."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as error:
                # Most likely the value goes on in the next piece; a row larger than MAX_ROW is an error anyway.
                if not self.at_end and len(self.text) - self.pos < MAX_ROW and self.more():
                    continue
                raise JsonFormatError(f"invalid JSON: {error.msg} (character {error.pos})") from None
            except (ValueError, RecursionError) as error:
                raise JsonFormatError(f"invalid JSON: {error}") from None
            # A number may continue in the next piece: load it before trusting the value.
            if end >= len(self.text) and not self.at_end and not isinstance(value, (dict, list, str)) and self.more():
                continue
            self.pos = end
            return value


def _row_object(value: Any, index: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        kind = type(value).__name__ if value is not None else "null"
        raise JsonFormatError(f"invalid JSON format, each row should be a key-value map, but got type {kind}", index)
    return value


def read_rows(source: Source, *, lines: bool = False, budget: int | None = None) -> Iterator[dict[str, Any]]:
    """Every row object of the file, in order (the first rows only, as far as ``budget`` bytes reach)."""
    text = _Text(source, budget)
    try:
        yield from _rows(text, lines)
    except _Budget:
        return


def _expect(text: _Text, char: str, message: str) -> None:
    if text.peek() != char:
        raise JsonFormatError(message)
    text.pos += 1


def _rows(text: _Text, lines: bool) -> Iterator[dict[str, Any]]:
    if lines:
        index = 0
        while text.peek() is not None:
            yield _row_object(text.value(), index)
            index += 1
        return
    first = text.peek()
    if first is None:
        raise JsonFormatError("init failed, failed to decode JSON, error: EOF (the file is empty)")
    if first == "{":
        text.pos += 1
        if text.peek() != '"':
            raise JsonFormatError("invalid JSON format, the root key should be 'rows', but the object has no key")
        key = text.value()
        if not isinstance(key, str) or key.lower() != "rows":
            raise JsonFormatError(f"invalid JSON format, the root key should be 'rows', but get {key!r}")
        _expect(text, ":", "invalid JSON: ':' expected after the root key")
        _expect(text, "[", "invalid JSON format, rows list should begin with '['")
    elif first == "[":
        text.pos += 1
    else:
        raise JsonFormatError("invalid JSON format, the content should be started with '{' or '['")
    index = 0
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        if text.peek() is None:
            raise JsonFormatError("invalid JSON format, rows list should end with ']'", index)
        yield _row_object(text.value(), index)
        index += 1
        following = text.peek()
        if following == ",":
            text.pos += 1
            continue
        if following == "]":
            text.pos += 1
            return
        raise JsonFormatError("invalid JSON format, rows list should end with ']'", index)
