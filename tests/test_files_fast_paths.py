"""The full check's fast paths give the verdicts of the plain, value-by-value way (no server).

JSON and CSV vectors are checked with one pass over the item types when they are all plain numbers; NumPy strings
are measured on their code points (max_length) and decoded a piece at a time (UTF-8); the CSV header comes from the
first 64 KiB when it is complete there.

The NumPy full check scans whole pieces with ``isfinite(...).all()`` and locates the row only when that fails; local
files are read into one reused buffer. These tests hold it to a row-by-row Python scan, on random arrays with NaN and
Inf sprinkled in, across piece sizes and the three kinds of source (in memory, local file, ranged reads only).
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path
from random import Random
from unittest import mock

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pymilvus_import._files import check, full, npy
from pymilvus_import._files import csv as csv_format
from pymilvus_import._files.source import BytesSource, LocalFile
from pymilvus_import._wire import CollectionSchema, FieldInfo

PLAIN = CollectionSchema(
    "books", (FieldInfo("id", "Int64", is_primary=True), FieldInfo("vec", "FloatVector", type_params={"dim": "4"}))
)


class RangedOnly:
    """A source with ``read`` only, as an object-storage key is (no ``readinto``)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._data = data

    def size(self) -> int:
        return len(self._data)

    def read(self, offset: int, length: int) -> bytes:
        return self._data[offset : offset + length]


def slow_first_bad_row(array: np.ndarray) -> int | None:
    """The first row holding NaN or Inf, found one value at a time."""
    for index, row in enumerate(array):
        if not all(math.isfinite(x) for x in np.atleast_1d(row).tolist()):
            return index
    return None


@st.composite
def sprinkled(draw: st.DrawFn) -> np.ndarray:
    rows = draw(st.integers(0, 80))
    width = draw(st.sampled_from([0, 1, 3, 8]))  # 0: a 1-D scalar column
    dtype = np.dtype(draw(st.sampled_from(["<f2", "<f4", "<f8", ">f4", ">f8"])))
    shape = (rows,) if width == 0 else (rows, width)
    seed = draw(st.integers(0, 2**32 - 1))
    array = (np.random.default_rng(seed).standard_normal(shape) * 1e3).astype(dtype)
    cells = max(1, array.size)
    spots = draw(st.lists(st.tuples(st.integers(0, cells - 1), st.sampled_from([np.nan, np.inf, -np.inf])), max_size=4))
    flat = array.reshape(-1)
    for spot, value in spots:
        if flat.size:
            flat[spot] = value
    return array


@settings(max_examples=150, deadline=None)
@given(sprinkled(), st.integers(1, 9), st.sampled_from(["memory", "local", "ranged"]))
def test_the_fast_nan_scan_finds_the_row_a_value_by_value_scan_finds(
    array: np.ndarray, rows_per_piece: int, kind: str
) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    data = buffer.getvalue()
    width = array.shape[1] if array.ndim == 2 else 0
    field = FieldInfo("vec", "FloatVector", type_params={"dim": str(width)}) if width else FieldInfo("x", "Double")
    expected = slow_first_bad_row(array)
    assert full.first_non_finite(array) == expected
    row_bytes = array.itemsize * max(1, width)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "vec.npy"
        path.write_bytes(data)
        source = {"memory": BytesSource, "ranged": RangedOnly}.get(kind, lambda _n, _d: LocalFile(path))(
            "vec.npy", data
        )
        header = npy.read_header(source)
        # Small pieces: a bad row falls in any piece, at any place in it, and the last piece is short.
        with mock.patch.object(full, "PIECE", rows_per_piece * row_bytes), \
                mock.patch.object(full, "LOCAL_PIECE", rows_per_piece * row_bytes):  # fmt: skip
            found = list(full.check_numpy_values((2, 5, 0), field, source, header))
    if expected is None:
        assert found == []
    else:
        ((rule, message),) = found
        assert rule == "value-nan" and message.startswith(f"row {expected} holds NaN or Inf")


def test_pieces_from_a_local_file_reuse_one_buffer_and_cover_every_row() -> None:
    array = np.arange(10 * 4, dtype=np.float32).reshape(10, 4)
    buffer = io.BytesIO()
    np.save(buffer, array)
    source = BytesSource("v.npy", buffer.getvalue())
    header = npy.read_header(source)
    with mock.patch.object(full, "LOCAL_PIECE", 3 * 16):
        seen = [(first, piece.copy(), piece.ctypes.data) for first, piece in full._pieces(source, header)]
    assert [first for first, _, _ in seen] == [0, 3, 6, 9]
    assert np.array_equal(np.concatenate([piece for _, piece, _ in seen]), array)
    assert len({address for _, _, address in seen}) == 1  # one buffer, no allocation per piece


_ITEMS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)


@given(st.lists(st.one_of(st.integers(), st.floats()), max_size=40), st.lists(_ITEMS, max_size=3), st.randoms())
def test_the_fast_number_scan_of_a_json_vector_agrees_with_the_item_by_item_one(
    numbers: list[object], others: list[object], random: Random
) -> None:
    values = numbers + others
    random.shuffle(values)
    assert check._all_numbers(values) == all(check._is_number(x) for x in values)


@given(st.lists(_ITEMS, min_size=1, max_size=5))
def test_a_json_vector_with_a_non_number_names_it_as_before(values: list[object]) -> None:
    ctx = check._Context(PLAIN, (2, 5, 0), True, {})
    vec = PLAIN.fields[1]
    found = list(check.value_problems(ctx, vec, values))
    bad = [x for x in values if not check._is_number(x)]
    if len(values) != 4:
        assert [rule for rule, _ in found] == ["json-vector-length"]
    elif bad:
        assert found == [("json-value", f"field 'vec' (FloatVector) takes numbers, got element {check._show(bad[0])}")]
    else:
        assert found == []
    (message,) = [m for _, m in check.value_problems(ctx, vec, "text")]
    assert message == "field 'vec' (FloatVector) takes a list of numbers, got string 'text'"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(st.sampled_from('ab,"\n\r\ufeffé'), max_size=6), min_size=1, max_size=4),
    st.integers(0, 70_000),
    st.sampled_from(["", "\n", "\n\n", "\r\n"]),
    st.sampled_from([",", ";"]),
)
def test_the_csv_header_read_from_the_first_bytes_is_the_one_read_from_the_budget(
    names: list[str], padding: int, blank: str, sep: str
) -> None:
    # A header that ends anywhere around the first read (64 KiB): before, across or after it.
    names = [*names, "x" * padding]
    line = sep.join('"' + n.replace('"', '""') + '"' if set(n) & set(f'{sep}"\n\r') else n for n in names)
    data = (blank + line + "\n" + "1,2\n" * 20_000).encode()
    expected = csv_format.parse_header(
        data[: csv_format.HEADER_BUDGET], sep, complete=len(data) <= csv_format.HEADER_BUDGET
    )
    assert csv_format.read_header(BytesSource("a.csv", data), sep) == expected


def slow_first_too_long(array: np.ndarray, max_length: int) -> tuple[int, int] | None:
    for index, value in enumerate(array.tolist()):
        size = len(str(value).encode("utf-8", "surrogatepass"))
        if size > max_length:
            return index, size
    return None


def slow_first_bad_utf8(array: np.ndarray) -> int | None:
    for index, value in enumerate(array.tolist()):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return index
    return None


# Every plane, lone surrogates and NULs (inside a value and at its end, which NumPy drops) included.
_CHARS = st.one_of(st.characters(blacklist_categories=()), st.sampled_from(["\x00", "a", "é", "€", "😀", "\ud800"]))


@settings(max_examples=200, deadline=None)
@example(["a\x00\x00b", "x"], 3, "<", 1)  # the NULs inside a value count, the ones at its end do not
@example(["x", "\ud800\U0001f600é"], 8, ">", 1)
@given(
    st.lists(st.text(_CHARS, max_size=8), max_size=30),
    st.integers(0, 16),
    st.sampled_from(["<", ">"]),
    st.integers(1, 7),
)
def test_the_vectorized_max_length_scan_measures_what_encoding_each_value_measures(
    values: list[str], max_length: int, order: str, rows_per_piece: int
) -> None:
    array = np.array(values, dtype=f"{order}U{max(1, *map(len, values)) if values else 1}")
    expected = slow_first_too_long(array, max_length)
    assert full.first_too_long(array, max_length) == expected
    field = FieldInfo("s", "VarChar", type_params={"max_length": str(max_length)})
    found = _check_in_pieces(array, field, rows_per_piece)
    if expected is None:
        assert found == []
    else:
        assert found == [("value-max-length", f"row {expected[0]} holds {expected[1]} UTF-8 bytes, over max_length "
                          f"{max_length} of 's'")]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=6) | st.sampled_from([b"\xc3", b"\xa9", b"\xc3\xa9", b"a\x00\xe2\x82"]), max_size=30),
    st.integers(1, 7),
)
def test_the_one_call_utf8_scan_finds_the_value_decoding_each_value_finds(
    values: list[bytes], rows_per_piece: int
) -> None:
    array = np.array(values, dtype=f"S{max(1, *map(len, values)) if values else 1}")
    expected = slow_first_bad_utf8(array)
    assert full.first_bad_utf8(array) == expected
    found = _check_in_pieces(array, FieldInfo("s", "VarChar", type_params={"max_length": "64"}), rows_per_piece)
    assert [message for _, message in found] == ([] if expected is None else [f"row {expected} is not valid UTF-8"])


def _check_in_pieces(array: np.ndarray, field: FieldInfo, rows_per_piece: int) -> list[tuple[str, str]]:
    buffer = io.BytesIO()
    np.save(buffer, array)
    source = BytesSource("s.npy", buffer.getvalue())
    header = npy.read_header(source)
    piece = rows_per_piece * max(1, array.dtype.itemsize)
    with mock.patch.object(full, "PIECE", piece), mock.patch.object(full, "LOCAL_PIECE", piece):
        return list(full.check_numpy_values((2, 5, 0), field, source, header))
