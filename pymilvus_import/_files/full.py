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
    version: Version | None,
    fields: Mapping[str, FieldInfo],
    source: Source,
    facts: ParquetFacts,
    dynamic: FieldInfo | None = None,
) -> Iterator[tuple[str, str, str]]:
    """(field, rule, message) for the values of a Parquet file, read in record batches (``dynamic``: the
    collection's dynamic field, whose ``$meta`` column is read too)."""
    import pyarrow.compute as pc

    from .parquet import iter_batches

    columns = [c.name for c in facts.columns if c.name in fields and not fields[c.name].auto_id]
    every = {**fields, **({"$meta": dynamic} if dynamic is not None else {})}
    read = columns + [c.name for c in facts.columns if c.name == "$meta" and dynamic is not None]
    tally = RowTally()
    nulls: dict[str, int] = {}
    found: dict[tuple[str, str], str] = {}
    row = 0
    for batch in iter_batches(source, read):
        parquet_batch_values(tally, version, every, batch, row)
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
    yield from tally.problems()


# --- value checks added by the full-check rules of issue 17 (row lengths, UTF-8, JSON text, array elements) ------

#: Dense vector types whose Parquet rows have a fixed width.
_DENSE = ("FloatVector", "BinaryVector", "Float16Vector", "BFloat16Vector", "Int8Vector")
_BINARY_VECTORS = ("BinaryVector", "Float16Vector", "BFloat16Vector")


class RowTally:
    """Problems found in rows, one per (field, rule): the first row, its message, and how many rows had it."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], tuple[int, str]] = {}
        self.count: dict[tuple[str, str], int] = {}

    def add(self, name: str, rule: str, row: int, message: str, count: int = 1) -> None:
        self.first.setdefault((name, rule), (row, message))
        self.count[(name, rule)] = self.count.get((name, rule), 0) + count

    def problems(self) -> Iterator[tuple[str, str, str]]:
        for (name, rule), (row, message) in self.first.items():
            more = self.count[(name, rule)] - 1
            yield name, rule, f"row {row}: {message}" + (f" (and {more} more rows)" if more else "")


def _wrong_rows(mask: Any) -> tuple[int, int] | None:
    """(first index, how many) of the true values of a boolean Arrow array (nulls count as false), or None."""
    import pyarrow.compute as pc

    mask = pc.fill_null(mask, False)
    count = pc.sum(mask).as_py() or 0
    if not count:
        return None
    return int(pc.index(mask, True).as_py()), int(count)


def utf8_problem(data: bytes) -> str | None:
    """Why ``data`` is not valid UTF-8 as Go's utf8.Valid sees it (Python's strict decoder agrees), or None."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"byte {error.start} ({data[error.start : error.start + 1]!r}) is not valid UTF-8"
    return None


def utf8_outcome(version: Version | None, name: str) -> str:
    """What the server does with an invalid UTF-8 string in field ``name``, by version (rule ``value-utf8``)."""
    if version is not None and version >= (2, 5, 8):
        return "the server fails the job"
    later = f"imports it, and then every query returning field {name!r} fails ('string field contains invalid UTF-8')"
    return f"this server {later}" if version is not None else f"the server fails the job (2.5.8+) or {later}"


def json_problem(text: str, *, meta: bool) -> tuple[str, str] | None:
    """(rule, why) when ``text`` is not what a JSON field takes (rule ``value-json``: not JSON) or, ``meta``, what
    the dynamic field takes (rule ``value-meta-object``: JSON, but not an object); None when it is."""
    from .json import _DECODER

    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as error:
        return "value-json", f"{_short(text)} is not valid JSON ({str(error).split(':')[0]}): the job fails"
    if meta and not isinstance(value, dict):
        return "value-meta-object", f"{_short(text)} is JSON but not an object, which the dynamic field needs"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text_values(array: Any) -> Iterator[tuple[int, bytes]]:
    """(index, raw bytes) of the non-null values of a string column, whether or not they are valid UTF-8."""
    import pyarrow as pa

    for index, value in enumerate(array.view(pa.binary()).to_pylist()):
        if value is not None:
            yield index, value


def _json_texts(tally: RowTally, name: str, meta: bool, array: Any, row: int) -> bool:
    """The JSON rules over a string column known to be valid UTF-8: each value decoded once, in one loop, and
    :func:`json_problem` asked for the message only on the rows it refuses. False (nothing added) when the values
    do not convert to str after all, for the caller's general path."""
    from .json import _DECODER

    try:
        values = array.to_pylist()
    except UnicodeDecodeError:  # pragma: no cover - Arrow's UTF-8 validation and Python's agree
        return False
    decode = _DECODER.decode
    for offset, text in enumerate(values):
        if text is None:
            continue
        try:
            value = decode(text)
        except (ValueError, RecursionError):
            ok = False
        else:
            ok = not meta or isinstance(value, dict)
        if not ok:
            found = json_problem(text, meta=meta)
            if found is not None:
                tally.add(name, found[0], row + offset, f"field {name!r}: {found[1]}")
    return True


def parquet_batch_values(
    tally: RowTally, version: Version | None, fields: Mapping[str, FieldInfo], batch: Any, row: int
) -> None:
    """The checks of one record batch that need every row: vector row lengths (list and binary columns), UTF-8 of
    strings, JSON text of JSON fields and ``$meta``, Array<VarChar> element lengths. ``fields`` maps a column name
    to its field (``$meta`` included when the collection has a dynamic field); the caller filters by version."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .rules import STRING_TYPES

    for index, name in enumerate(batch.schema.names):
        f = fields.get(name)
        if f is None or f.auto_id:
            continue
        array = batch.column(index)
        kind, t = array.type, f.data_type
        if t in _DENSE and f.dim and (pa.types.is_binary(kind) or pa.types.is_list(kind)):
            _vector_lengths(tally, version, f, array, row)
        if pa.types.is_string(kind) and (t in STRING_TYPES or t == "JSON" or f.is_dynamic):
            try:
                array.validate(full=True)
                valid = True
            except pa.ArrowInvalid:
                valid = False
            json_field = t == "JSON" or f.is_dynamic
            # Valid UTF-8 in a JSON field (no UTF-8 rule of its own): each value decoded once, in one loop.
            done = valid and json_field and t not in STRING_TYPES and _json_texts(tally, name, f.is_dynamic, array, row)
            if not done and (not valid or json_field):
                for offset, data in _text_values(array):
                    bad = utf8_problem(data)
                    if bad is not None and t in STRING_TYPES:
                        tally.add(
                            name, "value-utf8", row + offset, f"{_short(data)}: {bad}; {utf8_outcome(version, name)}"
                        )
                    if json_field:
                        found_json = json_problem(data.decode("utf-8", "surrogateescape"), meta=f.is_dynamic)
                        if found_json is not None:
                            tally.add(name, found_json[0], row + offset, f"field {name!r}: {found_json[1]}")
        if (
            t == "Array"
            and f.element_type in STRING_TYPES
            and f.max_length is not None
            and pa.types.is_list(kind)
            and pa.types.is_string(kind.value_type)
        ):
            lengths = pc.binary_length(pc.list_flatten(array))
            found = _wrong_rows(pc.greater(lengths, f.max_length))
            if found is not None:
                first, count = found
                parent = int(pc.list_parent_indices(array)[first].as_py())
                size = lengths[first].as_py()
                tally.add(name, "element-max-length", row + parent, f"an element of {size} UTF-8 bytes in field "
                          f"{name!r} exceeds its max_length {f.max_length}", count)  # fmt: skip


def _vector_lengths(tally: RowTally, version: Version | None, f: FieldInfo, array: Any, row: int) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    t, dim = f.data_type, f.dim or 0
    if pa.types.is_binary(array.type):
        if t not in _BINARY_VECTORS:
            return
        width = vector_width(t, dim, "uint8") or 0
        lengths = pc.binary_length(array)
        found = _wrong_rows(pc.not_equal(lengths, width))
        if found is None:
            return
        first, count = found
        what = (
            "the server does not check a binary row's length: it joins the rows' bytes, so the vectors after this "
            "row would be shifted and imported wrong without an error (the job fails only when the rows no longer "
            "add up)"
        )
        tally.add(f.name, "parquet-binary-length", row + first, f"{lengths[first].as_py()} bytes in field "
                  f"{f.name!r} ({t}, dim {dim}), which takes {width} bytes per row: {what}", count)  # fmt: skip
        return
    width = vector_width(t, dim, str(array.type.value_type)) or 0
    lengths = pc.list_value_length(array)
    found = _wrong_rows(pc.not_equal(lengths, width))
    if found is not None:
        first, count = found
        size = lengths[first].as_py()
        message = f"a vector of {size} values in field {f.name!r} ({t}, dim {dim}), which takes {width}: the job fails"
        tally.add(f.name, "parquet-vector-length", row + first, message, count)


def check_numpy_json(meta: bool, f: FieldInfo, source: Source, header: NpyHeader) -> Iterator[tuple[str, str]]:
    """(rule, message) for the values of a JSON field's (or, ``meta``, the ``$meta``) ``.npy`` file: each value is
    JSON text, an object for ``$meta``. One message per rule, with the first row and the count."""
    if header.kind not in ("U", "S"):
        return
    tally = RowTally()
    for start, piece in _pieces(source, header):
        for offset, value in enumerate(piece.tolist()):
            text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
            found = json_problem(text, meta=meta)
            if found is not None:
                tally.add(f.name, found[0], start + offset, f"field {f.name!r}: {found[1]}")
    for _name, rule, message in tally.problems():
        yield rule, message
