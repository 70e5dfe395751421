"""CSV the way Milvus reads it (Go ``encoding/csv``, 2.5+): the header line, and strict RFC-4180 records.

The server's reader: the first record is the header; ``sep`` is one character; fields may be double-quoted, with
``""`` for a quote, and quoted fields may span lines; blank lines are skipped; nothing is trimmed; a UTF-8 BOM is
*not* stripped. A malformed record makes the server's read loop stop its batch without an error (rows are lost
silently, 2.5-M), which is why the full check parses every record strictly (:func:`records`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .source import Source, SourceUnreadable, chunks

BOM = "\ufeff"
#: Bytes read to find the header record.
HEADER_BUDGET = 1 << 20
#: Bytes read first (the header of nearly every file is within them).
FIRST_READ = 64 << 10
#: Separators the server refuses ("unsupported csv separator").
BAD_SEPARATORS = ("\x00", "\n", "\r", '"', "\ufffd")


class CsvRecordError(ValueError):
    """A record that strict RFC-4180 parsing refuses; ``line`` is its first line (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class CsvHeader:
    """The header record: ``names`` exactly as the server sees them (a BOM stays on the first name)."""

    names: tuple[str, ...]
    bom: bool

    @property
    def clean_names(self) -> tuple[str, ...]:
        """The names with a leading BOM removed from the first one (what the user meant)."""
        if self.bom and self.names:
            return (self.names[0][len(BOM) :], *self.names[1:])
        return self.names


def separator_problem(sep: str) -> str | None:
    """Why the server would refuse ``sep`` as a separator, or None."""
    if len(sep) != 1 or sep in BAD_SEPARATORS:
        return f"unsupported csv separator {sep!r}: it must be one character other than NUL, newline, CR, '\"'"
    return None


def _lines(pieces: Iterable[str]) -> Iterator[str]:
    """Lines (without their ``\\n``) from text pieces; the last line may lack a newline."""
    rest = ""
    for piece in pieces:
        rest += piece
        *complete, rest = rest.split("\n")
        yield from complete
    if rest:
        yield rest


def records(lines: Iterable[str], sep: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of every record, parsed strictly; raises :class:`CsvRecordError`.

    Blank lines are skipped, ``\\r\\n`` ends a line like ``\\n``, quotes follow RFC 4180 (``""`` inside a quoted
    field; a quote elsewhere in an unquoted field, or text after a closing quote, is an error, as in Go's reader
    without ``LazyQuotes``)."""
    it = iter(lines)
    number = 0
    for line in it:
        number += 1
        first = number
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        if '"' not in line:
            yield first, line.split(sep)
            continue
        fields: list[str] = []
        position = 0
        while True:  # one field per turn, starting at ``position`` of ``line``
            if line.startswith('"', position):
                value: list[str] = []
                position += 1
                while True:
                    quote = line.find('"', position)
                    if quote < 0:  # the quoted field goes on on the next line
                        value.append(line[position:] + "\n")
                        try:
                            line = next(it)
                        except StopIteration:
                            raise CsvRecordError(
                                'extraneous or missing " in quoted-field (end of file)', first
                            ) from None
                        number += 1
                        if line.endswith("\r"):
                            line = line[:-1]
                        position = 0
                        continue
                    value.append(line[position:quote])
                    if line.startswith('"', quote + 1):
                        value.append('"')
                        position = quote + 2
                        continue
                    position = quote + 1
                    break
                fields.append("".join(value))
                if position == len(line):
                    break
                if not line.startswith(sep, position):
                    raise CsvRecordError('extraneous or missing " in quoted-field', first)
                position += len(sep)
                if position == len(line):
                    fields.append("")
                    break
            else:
                end = line.find(sep, position)
                text = line[position:] if end < 0 else line[position:end]
                if '"' in text:
                    raise CsvRecordError('bare " in non-quoted-field', first)
                fields.append(text)
                if end < 0:
                    break
                position = end + len(sep)
                if position == len(line):
                    fields.append("")
                    break
        yield first, fields


def parse_header(data: bytes, sep: str, *, complete: bool) -> CsvHeader | None:
    """The header record in ``data`` (the file's first bytes; ``complete`` when that is the whole file). None when
    the file holds no record at all (the server: "failed to read csv header, error: EOF")."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if not complete:
        lines = lines[:-1]  # the last piece may be cut
    for _line, fields in records(lines, sep):
        names = tuple(fields)
        return CsvHeader(names=names, bom=bool(names) and names[0].startswith(BOM))
    if not complete:
        raise SourceUnreadable(f"no complete header record in the first {len(data)} bytes: no verdict")
    return None


def read_header(source: Source, sep: str = ",") -> CsvHeader | None:
    """The header record: from the first 64 KiB when it is complete there (the usual case), else from the first
    ``HEADER_BUDGET`` bytes, with the same verdict."""
    size = source.size()
    if size > FIRST_READ:
        try:
            return parse_header(source.read(0, FIRST_READ), sep, complete=False)
        except (SourceUnreadable, CsvRecordError):
            pass  # no complete record in the first bytes: read on as far as the budget
    data = source.read(0, min(size, HEADER_BUDGET))
    return parse_header(data, sep, complete=len(data) >= size)


def read_records(source: Source, sep: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Every record of ``source`` (header first), streamed in 1 MiB pieces; raises :class:`CsvRecordError`."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces = (decoder.decode(piece) for piece in chunks(source))
    yield from records(_lines(pieces), sep)
