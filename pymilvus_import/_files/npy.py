"""The ``.npy`` header, parsed with the standard library: magic, version, ``descr``, ``fortran_order``, ``shape``.

Format (NumPy's NEP 1): ``\\x93NUMPY``, major and minor version bytes, a little-endian header length (2 bytes in
version 1, 4 bytes in 2 and 3), then a Python dict literal. Milvus reads versions 1 and 2 only. A header that the
server could not read raises :class:`NpyFormatError` with the server's own words; an unreadable source raises
:class:`~.source.SourceUnreadable`.
"""

from __future__ import annotations

import ast
import re
import struct
from dataclasses import dataclass

from .source import Source

MAGIC = b"\x93NUMPY"
#: Header bytes read up front: magic + version + length, and the dict of any ordinary file (NumPy pads to 64/4096).
_FIRST_READ = 4096
_MAX_HEADER = 1 << 20
_DESCR = re.compile(r"^([<>|=]?)([a-zA-Z])(\d*)$")


class NpyFormatError(ValueError):
    """The header is not one the server reads (the message says why, as the server would)."""


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says. ``kind`` is NumPy's dtype kind letter (``b``, ``i``, ``u``, ``f``, ``U``, ``S``,
    ``O``, ...), ``itemsize`` its number (bytes, or characters for ``U``); ``descr`` the text as written."""

    version: tuple[int, int]
    descr: str
    fortran_order: bool
    shape: tuple[int, ...]
    data_offset: int
    byte_order: str
    kind: str
    itemsize: int

    @property
    def rows(self) -> int:
        return self.shape[0] if self.shape else 1

    @property
    def dtype(self) -> str:
        """The dtype without its byte-order mark, e.g. ``f4``, ``U8``, ``b1``."""
        return f"{self.kind}{self.itemsize}"

    @property
    def element_bytes(self) -> int:
        return self.itemsize * 4 if self.kind == "U" else self.itemsize


def parse_header(data: bytes) -> NpyHeader:
    """Parse the header at the start of ``data`` (which must hold the whole header)."""
    if len(data) < 10 or not data.startswith(MAGIC):
        raise NpyFormatError("npy: not a valid NumPy file format (bad magic number)")
    major, minor = data[6], data[7]
    if major == 1:
        (length,) = struct.unpack("<H", data[8:10])
        start = 10
    elif major in (2, 3):
        if len(data) < 12:
            raise NpyFormatError("npy: truncated header")
        (length,) = struct.unpack("<I", data[8:12])
        start = 12
    else:
        raise NpyFormatError(f"npy: invalid major version number ({major})")
    if major == 3:
        # NumPy writes version 3 only for utf-8 field names; the server's reader stops at 1 and 2.
        raise NpyFormatError(f"npy: invalid major version number ({major})")
    end = start + length
    if len(data) < end:
        raise NpyFormatError("npy: truncated header")
    try:
        text = data[start:end].decode("latin-1")
        header = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as error:
        raise NpyFormatError(f"npy: the header is not a dict literal ({error})") from None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= header.keys():
        raise NpyFormatError("npy: the header must hold 'descr', 'fortran_order' and 'shape'")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise NpyFormatError(f"npy: invalid shape {shape!r}")
    if not isinstance(fortran, bool):
        raise NpyFormatError(f"npy: invalid fortran_order {fortran!r}")
    if isinstance(descr, str):
        match = _DESCR.match(descr)
        if descr == "bool":
            byte_order, kind, itemsize = "|", "b", 1
        elif match is None:
            byte_order, kind, itemsize = "", "?", 0
        else:
            byte_order, kind, itemsize = match[1], match[2], int(match[3] or 0)
    else:  # a structured dtype: a list of (name, type) pairs
        descr, byte_order, kind, itemsize = repr(descr), "", "V", 0
    return NpyHeader(
        version=(major, minor),
        descr=descr,
        fortran_order=fortran,
        shape=shape,
        data_offset=end,
        byte_order=byte_order,
        kind=kind,
        itemsize=itemsize,
    )


def read_header(source: Source) -> NpyHeader:
    """Read and parse the header of ``source`` (one ranged read, two for a header over 4 KiB)."""
    data = source.read(0, _FIRST_READ)
    if not data:
        raise NpyFormatError("the file is empty (0 bytes)")
    if len(data) >= 12 and data.startswith(MAGIC) and data[6] in (2, 3):
        (length,) = struct.unpack("<I", data[8:12])
        if 12 + length > len(data) and length <= _MAX_HEADER:
            data = source.read(0, 12 + length)
    return parse_header(data)
