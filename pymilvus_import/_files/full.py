"""The full check: every value, streamed with bounded memory (NumPy in row-aligned pieces, Parquet in record
batches, JSON and CSV row by row in :mod:`.check`). Needs the ``files`` extra (numpy, pyarrow), loaded here only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .rules import FLOAT_TYPES, Version, vector_width
from .source import Source

if TYPE_CHECKING:
    from .._wire import FieldInfo
    from .npy import NpyHeader
    from .parquet import ParquetFacts

#: Bytes of one NumPy piece (rounded down to whole rows) from a source with ranged reads only (object storage).
PIECE = 8 << 20
#: Bytes of the one buffer a source with ``readinto`` (a local file) is read into, piece after piece: small enough to
#: stay in the CPU cache between the read and the scan, and no new allocation per piece.
LOCAL_PIECE = 2 << 20


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as error:  # pragma: no cover - the files extra brings numpy
        from .parquet import MissingExtraError

        raise MissingExtraError("numpy is needed for the full check: pip install 'pymilvus-import[files]'") from error
    return numpy


def _pieces(source: Source, header: NpyHeader) -> Iterator[tuple[int, Any]]:
    """(first row, array of rows) pieces of the file's data. From a source with ``readinto`` every piece is a view
    of the same buffer: it is valid until the next piece is asked for."""
    np = _numpy()
    dtype = np.dtype(header.descr)
    row_shape = header.shape[1:]
    row_values = 1
    for n in row_shape:
        row_values *= n
    row_bytes = dtype.itemsize * row_values
    if row_bytes == 0 or not header.shape:
        return
    readinto: Callable[[int, memoryview], int] | None = getattr(source, "readinto", None)
    rows_per_piece = max(1, (PIECE if readinto is None else LOCAL_PIECE) // row_bytes)
    buffer = memoryview(bytearray(rows_per_piece * row_bytes if readinto is not None else 0))
    row = 0
    while row < header.shape[0]:
        count = min(rows_per_piece, header.shape[0] - row)
        offset = header.data_offset + row * row_bytes
        if readinto is not None:
            data: Any = buffer
            got = readinto(offset, buffer[: count * row_bytes])
        else:
            data = source.read(offset, count * row_bytes)
            got = len(data)
        whole = got // row_bytes
        if whole == 0:
            return
        yield row, np.frombuffer(data, dtype=dtype, count=whole * row_values).reshape((whole, *row_shape))
        row += whole
        if whole < count:
            return


def first_non_finite(piece: Any) -> int | None:
    """The index of the first row of ``piece`` holding NaN or Inf, or None. One pass over the values when every
    value is finite (the usual case); the rows are located only when one is not."""
    np = _numpy()
    if np.isfinite(piece).all():
        return None
    finite = np.isfinite(piece)
    if finite.ndim > 1:
        finite = finite.all(axis=tuple(range(1, finite.ndim)))
    return int(np.argmin(finite))


def first_too_long(piece: Any, max_length: int) -> tuple[int, int] | None:
    """(index, UTF-8 bytes) of the first value of a ``U`` piece longer than ``max_length`` bytes, or None; a lone
    surrogate counts 3 bytes (``surrogatepass``). A 1-D piece is measured on its code points without making a str
    of each value; the values are measured one by one only when a code point is not one a str holds."""
    np = _numpy()
    chars = piece.dtype.itemsize // 4
    if piece.ndim == 1 and chars:
        codes = piece.view(np.dtype(piece.dtype.byteorder.replace("|", "=") + "u4")).reshape(len(piece), chars)
        if not (codes > 0x10FFFF).any():
            present = codes != 0
            widths = present.astype(np.int32) + (codes >= 0x80) + (codes >= 0x800) + (codes >= 0x10000)
            # NumPy drops trailing NULs from a value; a NUL before its last character is kept and is one byte.
            last = np.where(present.any(axis=1), chars - np.argmax(present[:, ::-1], axis=1), 0)
            sizes = widths.sum(axis=1) + (last - present.sum(axis=1))
            over = np.flatnonzero(sizes > max_length)
            return (int(over[0]), int(sizes[over[0]])) if over.size else None
    for offset, value in enumerate(piece.tolist()):
        size = len(str(value).encode("utf-8", "surrogatepass"))
        if size > max_length:
            return offset, size
    return None


def first_bad_utf8(piece: Any) -> int | None:
    """The index of the first value of an ``S`` piece that is not valid UTF-8, or None. A 1-D piece is decoded in
    one call when no value starts with a continuation byte (then no character can run from one value into the next,
    so the whole is valid exactly when every value is); the values are decoded one by one only when that fails."""
    np = _numpy()
    size = piece.dtype.itemsize
    if piece.ndim == 1 and size:
        starts = piece.view(np.uint8).reshape(len(piece), size)[:, 0]
        if not ((starts & 0xC0) == 0x80).any():
            try:
                piece.tobytes().decode("utf-8")
                return None
            except UnicodeDecodeError:
                pass
    for offset, value in enumerate(piece.tolist()):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return offset
    return None


def check_numpy_values(
    version: Version | None, f: FieldInfo, source: Source, header: NpyHeader
) -> Iterator[tuple[str, str]]:
    """(rule, message) for the values of one ``.npy`` file (the rule filters by version in the caller)."""
    t = f.data_type
    floats = header.kind == "f" and (t in FLOAT_TYPES or t == "FloatVector")
    strings = header.kind in ("U", "S") and f.max_length is not None
    utf8 = header.kind == "S"
    if not (floats or strings or utf8):
        return
    if header.kind == "U" and f.max_length is not None and 4 * header.itemsize <= f.max_length:
        strings = False  # no value can be longer than max_length bytes
    bad_float: int | None = None
    too_long: tuple[int, int] | None = None
    bad_utf8: int | None = None
    for first, piece in _pieces(source, header):
        if floats and bad_float is None:
            at = first_non_finite(piece)
            if at is not None:
                bad_float = first + at
        if strings and too_long is None and header.kind == "U":
            long_at = first_too_long(piece, f.max_length or 0)
            if long_at is not None:
                too_long = (first + long_at[0], long_at[1])
        if utf8 and bad_utf8 is None:
            at = first_bad_utf8(piece)
            if at is not None:
                bad_utf8 = first + at
        if (
            (bad_float is not None or not floats)
            and (too_long is not None or not strings)
            and (bad_utf8 is not None or not utf8)
        ):
            break
    if bad_float is not None:
        rows = header.shape[0]
        silent = "the server fails the job on it"
        if t == "FloatVector" and header.itemsize == 4:
            drop = f"{rows - bad_float} of {rows} rows would be dropped silently"
            if version is not None and (2, 4, 0) <= version < (2, 6, 0):
                silent = f"this server stops reading a float32 vector file there without an error: {drop}"
            elif version is None:
                silent += f" (2.3, 2.6+), or stops reading there without an error (2.4/2.5: {drop})"
        yield "value-nan", f"row {bad_float} holds NaN or Inf in {t} field {f.name!r}: {silent}; fix or remove it"
    if too_long is not None:
        yield (
            "value-max-length",
            f"row {too_long[0]} holds {too_long[1]} UTF-8 bytes, over max_length {f.max_length} of {f.name!r}",
        )
    if bad_utf8 is not None:
        yield "value-utf8", f"row {bad_utf8} is not valid UTF-8"


def check_parquet_values(
    version: Version | None, fields: Mapping[str, FieldInfo], source: Source, facts: ParquetFacts
) -> Iterator[tuple[str, str, str]]:
    """(field, rule, message) for the values of a Parquet file, read in record batches."""
    import pyarrow.compute as pc

    from .parquet import iter_batches

    columns = [c.name for c in facts.columns if c.name in fields and not fields[c.name].auto_id]
    nulls: dict[str, int] = {}
    found: dict[tuple[str, str], str] = {}
    row = 0
    for batch in iter_batches(source, columns):
        for name in columns:
            f = fields[name]
            array = batch.column(batch.schema.get_field_index(name))
            if array.null_count and not (f.nullable or f.has_default):
                nulls[name] = nulls.get(name, 0) + array.null_count
            t = f.data_type
            if t in FLOAT_TYPES and (name, "value-nan") not in found and array.type.num_fields == 0:
                try:
                    finite = pc.is_finite(array)
                except Exception:
                    finite = None
                if finite is not None and pc.any(pc.invert(pc.fill_null(finite, True))).as_py():
                    found[(name, "value-nan")] = f"a value near row {row} is NaN or Inf: the server refuses them"
            if t in ("VarChar", "String") and f.max_length is not None and (name, "value-max-length") not in found:
                try:
                    longest = pc.max(pc.binary_length(array)).as_py()
                except Exception:
                    longest = None
                if longest is not None and longest > f.max_length:
                    found[(name, "value-max-length")] = (
                        f"a value of {longest} UTF-8 bytes (rows {row}..{row + len(array)}) exceeds max_length "
                        f"{f.max_length}"
                    )
            if t in ("FloatVector", "BinaryVector", "Float16Vector", "BFloat16Vector", "Int8Vector") and f.dim:
                try:
                    lengths = pc.list_value_length(array)
                except Exception:
                    lengths = None
                width = vector_width(t, f.dim, str(getattr(array.type, "value_type", "")) or "uint8")
                if lengths is not None and width is not None and (name, "json-vector-length") not in found:
                    wrong = pc.not_equal(lengths, width)
                    if pc.any(pc.fill_null(wrong, False)).as_py():
                        found[(name, "json-vector-length")] = (
                            f"a row near {row} holds a vector whose length is not {width} (dim {f.dim}): the server "
                            "fails 'length of vector is not aligned'"
                        )
            if t == "Array" and f.max_capacity is not None and (name, "value-max-capacity") not in found:
                try:
                    longest = pc.max(pc.list_value_length(array)).as_py()
                except Exception:
                    longest = None
                if longest is not None and longest > f.max_capacity:
                    found[(name, "value-max-capacity")] = f"{longest} elements exceed max_capacity {f.max_capacity}"
        row += batch.num_rows
    for name, count in nulls.items():
        yield name, "parquet-nulls", f"{count} null values, but the field is not nullable and has no default"
    for (name, rule), message in found.items():
        yield name, rule, message
