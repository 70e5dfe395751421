"""The verdicts: facts read from the files + the collection's schema + the server's version -> a report.

:func:`check_files` is pure apart from its ``open_source`` argument (the effect that reads bytes). It checks every
group and every file and collects **every** problem, as ``(file, field, message)`` triples; a file it cannot read
gets the verdict "not readable: no verdict" and is left to the server. Every verdict names a rule of
:mod:`.rules`, applied only where that rule holds for the server's version.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from . import csv as csv_format
from . import json as json_format
from . import npy
from .rules import (
    FLOAT_TYPES,
    INT_BITS,
    NEVER,
    NUMPY_DTYPES,
    NUMPY_UNSUPPORTED,
    PARQUET_FIXED_SIZE_LIST,
    PARQUET_REFUSED,
    PARQUET_SOURCES,
    PARQUET_VECTOR_ELEMENTS,
    RULES,
    STRING_TYPES,
    VECTOR_TYPES,
    Version,
    Versions,
    vector_width,
)
from .source import Source, SourceUnreadable

if TYPE_CHECKING:
    from .._wire import CollectionSchema, FieldInfo
    from .parquet import ArrowType

DYNAMIC_FIELD = "$meta"
#: What the header check reads of a JSON file: the first rows, at most this many bytes / rows.
JSON_HEAD_BYTES = 1 << 20
JSON_HEAD_ROWS = 100
_FLOAT32_MAX = 3.4028234663852886e38

OK = "ok"
PROBLEMS = "problems"
NOT_READABLE = "not readable"


class FileProblem(NamedTuple):
    """One problem: the file, the field concerned (None when it is the whole file), what is wrong."""

    file: str
    field: str | None
    message: str


@dataclass(frozen=True)
class FileVerdict:
    """The verdict on one file: ``status`` is ``"ok"``, ``"problems"`` or ``"not readable"`` (then ``detail`` says
    why, and there is no verdict: the server will judge it)."""

    file: str
    group_index: int
    format: str
    status: str
    problems: tuple[FileProblem, ...] = ()
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "group": self.group_index,
            "format": self.format,
            "status": self.status,
            "detail": self.detail,
            "problems": [{"file": p.file, "field": p.field, "message": p.message} for p in self.problems],
        }


@dataclass(frozen=True)
class FileReport:
    """Every file's verdict. ``problems`` are all of them, across groups and files; ``ok`` when there are none."""

    verdicts: tuple[FileVerdict, ...]
    server_version: str | None = None
    full: bool = False

    @property
    def problems(self) -> tuple[FileProblem, ...]:
        return tuple(p for v in self.verdicts for p in v.problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unreadable(self) -> tuple[FileVerdict, ...]:
        return tuple(v for v in self.verdicts if v.status == NOT_READABLE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "server_version": self.server_version,
            "full": self.full,
            "files": [v.to_dict() for v in self.verdicts],
        }


# --- the schema, as the files see it ------------------------------------------------------------------------------


@dataclass
class _Context:
    schema: CollectionSchema
    version: Version | None
    full: bool
    options: Mapping[str, str]
    problems: list[FileProblem] = field(default_factory=list)

    def applies(self, rule: str) -> bool:
        return RULES[rule].versions.holds(self.version)

    def add(self, rule: str, file: str, field_name: str | None, message: str) -> None:
        if self.applies(rule):
            self.problems.append(FileProblem(file, field_name, message))

    @cached_property
    def by_name(self) -> dict[str, FieldInfo]:
        return {f.name: f for f in self.schema.fields if not f.is_dynamic}

    @property
    def dynamic(self) -> bool:
        return self.schema.enable_dynamic_field


def _is_auto_id(f: FieldInfo) -> bool:
    return f.is_primary and f.auto_id


def _optional(f: FieldInfo) -> bool:
    return f.nullable or f.has_default


def _required(ctx: _Context) -> list[FieldInfo]:
    """Fields every file must supply (not auto-id, not a function output; nullable/default ones included: their
    rule decides)."""
    return [f for f in ctx.by_name.values() if not _is_auto_id(f) and not f.is_function_output]


def _missing(ctx: _Context, file: str, names: Iterable[str], *, nullable_rule: str, how: str) -> None:
    present = set(names)
    for f in _required(ctx):
        if f.name in present:
            continue
        if _optional(f):
            ctx.add(nullable_rule, file, f.name, f"no {how} for field {f.name!r} (nullable or with a default): "
                    f"this server version needs it ({RULES[nullable_rule].text})")  # fmt: skip
        else:
            ctx.add("missing-field", file, f.name, f"no {how} for the required field {f.name!r} ({f.data_type})")


def _supplied_names(ctx: _Context, file: str, names: Iterable[str], *, how: str, extra_rule: str) -> None:
    """Names a row-based file supplies: the auto-id key, function outputs, names for no field."""
    by_name = ctx.by_name
    for name in names:
        f = by_name.get(name)
        if f is not None and _is_auto_id(f):
            ctx.add("auto-id-supplied", file, name, f"{how} {name!r} supplies the auto-id primary key: the server "
                    "generates it; remove it")  # fmt: skip
        elif f is not None and f.is_function_output:
            if not ctx.dynamic or extra_rule == "parquet-extra-column":
                ctx.add("function-output", file, name, f"{how} {name!r} supplies a function's output field: the "
                        "server computes it; remove it")  # fmt: skip
        elif f is None and not (name == DYNAMIC_FIELD and ctx.dynamic):
            if ctx.dynamic and extra_rule != "parquet-extra-column":
                continue  # goes into $meta
            where = " (a dynamic field does not take Parquet columns)" if ctx.dynamic else ""
            ctx.add(extra_rule, file, name, f"{how} {name!r} is not a field of collection "
                    f"{ctx.schema.collection_name!r}{where}: remove or rename it")  # fmt: skip


# --- NumPy --------------------------------------------------------------------------------------------------------


def _stem(path: str) -> str:
    base = posixpath.basename(path.replace("\\", "/"))
    return base[:-4] if base.endswith(".npy") else base


def _dtype_accepted(data_type: str, dtype: str) -> Versions:
    where = NEVER
    for accepted, versions in NUMPY_DTYPES.get(data_type, ()):
        if accepted == dtype or (accepted.endswith("*") and dtype[:1] == accepted[0]):
            where = where | versions
    return where


def _check_npy_header(ctx: _Context, path: str, f: FieldInfo, header: npy.NpyHeader) -> None:
    t = f.data_type
    if t in NUMPY_UNSUPPORTED:
        ctx.add("npy-unsupported-type", path, f.name, f"field {f.name!r} is {t}, which NumPy files cannot fill: "
                "use JSON or Parquet")  # fmt: skip
        return
    if t not in NUMPY_DTYPES:
        return  # a type this table does not know: no verdict
    accepted = _dtype_accepted(t, header.dtype)
    if (~accepted).holds(ctx.version):
        allowed = ", ".join(d for d, v in NUMPY_DTYPES[t] if ctx.version is None or v.holds(ctx.version))
        ctx.add("npy-dtype", path, f.name, f"dtype {header.descr!r} does not fit field {f.name!r} ({t}): the server "
                f"takes exactly {allowed} (no conversion); save it with that dtype")  # fmt: skip
        return
    if t in VECTOR_TYPES:
        if len(header.shape) != 2:
            ctx.add("npy-shape", path, f.name, f"shape {header.shape} for vector field {f.name!r}: a vector file is "
                    "2-D (rows, width)")  # fmt: skip
        elif f.dim is not None:
            width = vector_width(t, f.dim, header.dtype)
            if width is not None and header.shape[1] != width:
                ctx.add("npy-shape", path, f.name, f"shape {header.shape} for field {f.name!r} ({t}, dim {f.dim}): "
                        f"each row must hold {width} values, not {header.shape[1]}")  # fmt: skip
        if header.fortran_order and len(header.shape) >= 2:
            ctx.add("npy-fortran-order", path, f.name, "the file is in Fortran order (fortran_order=True): the server "
                    "reads C order without checking, so it would import wrong vectors silently; save it with "
                    "numpy.ascontiguousarray")  # fmt: skip
    elif len(header.shape) != 1:
        ctx.add("npy-shape", path, f.name, f"shape {header.shape} for scalar field {f.name!r}: it must be 1-D (rows,)")


def _check_numpy_group(ctx: _Context, index: int, group: Sequence[str], headers: Mapping[str, npy.NpyHeader]) -> None:
    stems = {_stem(p): p for p in group}
    by_name = ctx.by_name
    for stem, path in stems.items():
        f = by_name.get(stem)
        if f is not None and _is_auto_id(f):
            ctx.add("npy-auto-id", path, stem, f"file {path!r} supplies {stem!r}, the auto-id primary key: the server "
                    "generates it; remove the file")  # fmt: skip
        elif f is not None and f.is_function_output:
            ctx.add("function-output", path, stem, f"file {path!r} supplies {stem!r}, a function's output field: the "
                    "server computes it; remove the file")  # fmt: skip
        elif f is None and not (stem == DYNAMIC_FIELD and ctx.dynamic):
            import difflib  # only for a file that names no field

            names = [n for n, g in by_name.items() if not _is_auto_id(g) and not g.is_function_output]
            close = difflib.get_close_matches(stem, names, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0] + '.npy'!r}?" if close else ""
            ctx.add("npy-extra-file", path, stem, f"file {path!r} names no field of collection "
                    f"{ctx.schema.collection_name!r} (a .npy file's name is its field){hint}")  # fmt: skip
    first = group[0] if group else ""
    for f in ctx.schema.fields:
        if f.nullable and not f.is_dynamic:
            ctx.add("npy-nullable-schema", first, f.name, f"field {f.name!r} is nullable: this server version "
                    "refuses NumPy imports into a collection with a nullable field; use JSON or Parquet")  # fmt: skip
            break
    required = [f for f in _required(ctx)]
    for f in required:
        if f.name in stems:
            continue
        if f.data_type in NUMPY_UNSUPPORTED:
            ctx.add("npy-unsupported-type", first, f.name, f"field {f.name!r} is {f.data_type}, which NumPy files "
                    "cannot fill: use JSON or Parquet")  # fmt: skip
        elif _optional(f):
            ctx.add("npy-missing-nullable", first, f.name, f"group {index} has no file for field {f.name!r} (nullable "
                    f"or with a default): this server version needs {f.name}.npy")  # fmt: skip
        else:
            ctx.add("missing-field", first, f.name, f"group {index} has no file for field {f.name!r}: add {f.name}.npy")
    if ctx.dynamic and DYNAMIC_FIELD not in stems:
        ctx.add("npy-meta-required", first, DYNAMIC_FIELD, f"group {index} has no $meta.npy: this server version "
                "needs it for a collection with a dynamic field")  # fmt: skip
    for path, header in headers.items():
        f = by_name.get(_stem(path))
        if f is not None and not _is_auto_id(f) and not f.is_function_output:
            _check_npy_header(ctx, path, f, header)
    counted = {p: h.rows for p, h in headers.items() if _stem(p) in by_name or _stem(p) == DYNAMIC_FIELD}
    if len(set(counted.values())) > 1:
        tally = {rows: list(counted.values()).count(rows) for rows in set(counted.values())}
        ranked = sorted(tally.values(), reverse=True)
        # The count most files agree on is taken as right; with a tie every file is named.
        most = max(tally, key=tally.__getitem__) if ranked[0] > ranked[1] else None
        counts = ", ".join(f"{posixpath.basename(p)}: {n}" for p, n in counted.items())
        for path, rows in counted.items():
            if rows != most:
                ctx.add("npy-row-count", path, _stem(path), f"{rows} rows, but the files of group {index} differ "
                        f"({counts}): every file of a group needs the same row count (2.3 fails the job; 2.4+ fails "
                        "it later or drops rows silently)")  # fmt: skip


# --- Parquet ------------------------------------------------------------------------------------------------------


def _scalar_sources(data_type: str, arrow: str) -> Versions:
    where = NEVER
    for source, targets, versions in PARQUET_SOURCES:
        if source == arrow and data_type in targets:
            where = where | versions
    return where


def _list_accepts(f: FieldInfo, child: ArrowType) -> Versions:
    t = f.data_type
    if t == "Array":
        return _scalar_sources(f.element_type, child.name)
    where = NEVER
    for target, elements, versions in PARQUET_VECTOR_ELEMENTS:
        if target == t and child.name in elements:
            where = where | versions
    return where


def _arrow_accepts(f: FieldInfo, arrow: ArrowType) -> Versions:
    """Where a column of type ``arrow`` loads into field ``f``."""
    name = arrow.name
    if name == "null":
        return _scalar_sources("", "null") if _optional(f) else NEVER
    if name == "list":
        return _list_accepts(f, arrow.child) if arrow.child is not None else NEVER
    if name == "fixed_size_list":
        return (_list_accepts(f, arrow.child) & PARQUET_FIXED_SIZE_LIST) if arrow.child is not None else NEVER
    if name == "struct":
        fields = dict(arrow.fields)
        indices, values = fields.get("indices"), fields.get("values")
        shaped = (
            indices is not None
            and values is not None
            and indices.child is not None
            and values.child is not None
            and indices.child.name in ("int32", "uint32", "int64", "uint64")
            and values.child.name in ("float32", "float64")
        )
        return _scalar_sources(f.data_type, "struct") if shaped else NEVER
    return _scalar_sources(f.data_type, name)


def _check_parquet(ctx: _Context, path: str, facts: Any) -> None:
    from .parquet import ParquetFacts

    assert isinstance(facts, ParquetFacts)
    names = [c.name for c in facts.columns]
    for name in sorted({n for n in names if names.count(n) > 1}):
        ctx.add("parquet-duplicate", path, name, f"column {name!r} appears {names.count(name)} times")
    _supplied_names(ctx, path, names, how="column", extra_rule="parquet-extra-column")
    by_name = ctx.by_name
    for column in facts.columns:
        f = by_name.get(column.name)
        if f is None or _is_auto_id(f) or f.is_function_output:
            continue
        arrow = column.type
        accepted = _arrow_accepts(f, arrow)
        element = f"<{f.element_type}>" if f.data_type == "Array" else ""
        if (~accepted).holds(ctx.version):
            refused = arrow.name in PARQUET_REFUSED or (arrow.child is not None and arrow.child.name in PARQUET_REFUSED)
            if accepted.ranges:
                hint = f" (servers {accepted} read it)"
            else:
                hint = " (no Milvus version reads it)" if refused else ""
            ctx.add("parquet-type", path, f.name, f"column {f.name!r} is {arrow}, which field {f.name!r} "
                    f"({f.data_type}{element}) does not take{hint}")  # fmt: skip
        elif arrow.name == "fixed_size_list" and f.data_type in VECTOR_TYPES and f.dim is not None:
            width = vector_width(f.data_type, f.dim, arrow.child.name if arrow.child else "")
            if width is not None and arrow.size != width:
                ctx.add("parquet-fixed-size", path, f.name, f"column {f.name!r} is {arrow}: field {f.name!r} "
                        f"({f.data_type}, dim {f.dim}) needs {width} values per row")  # fmt: skip
        if column.null_count and not _optional(f):
            ctx.add("parquet-nulls", path, f.name, f"column {f.name!r} holds {column.null_count} null values (its "
                    "statistics say so), but the field is not nullable and has no default")  # fmt: skip
    _missing(ctx, path, names, nullable_rule="parquet-missing-nullable", how="column")
    if ctx.dynamic and DYNAMIC_FIELD not in names:
        ctx.add("parquet-meta-required", path, DYNAMIC_FIELD, "no $meta column: this server version needs it for a "
                "collection with a dynamic field")  # fmt: skip


# --- values (JSON rows, CSV cells) ----------------------------------------------------------------------------------


class _Wrong:
    """The "field F takes X, got V" message of one value, written only when there is a problem (``repr`` of a long
    vector costs more than checking it)."""

    __slots__ = ("field", "value")

    def __init__(self, f: FieldInfo, value: Any) -> None:
        self.field, self.value = f, value

    def format(self, want: str) -> str:
        f, value = self.field, self.value
        return f"field {f.name!r} ({f.data_type}) takes {want}, got {_kind(value)} {_show(value)}"


def _all_numbers(values: list[Any]) -> bool:
    """``_is_number`` of every item: one pass in C over the item types when they are plain ints and floats (what a
    JSON decoder gives), item by item otherwise."""
    return set(map(type, values)) <= {int, float} or all(_is_number(x) for x in values)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number with a fraction or exponent"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int_fits(value: Any, bits: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(1 << (bits - 1)) <= value < (1 << (bits - 1))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def value_problems(ctx: _Context, f: FieldInfo, value: Any) -> Iterator[tuple[str, str]]:
    """(rule, message) for every problem of one value of field ``f`` (a decoded JSON value)."""
    t, name = f.data_type, f.name
    if value is None:
        if not _optional(f):
            yield "json-null", f"null in field {name!r}, which is neither nullable nor has a default"
        return
    wrong = ("json-value", _Wrong(f, value))
    if t == "Bool":
        if not isinstance(value, bool):
            yield wrong[0], wrong[1].format("true or false")
    elif t in INT_BITS:
        if not _is_number(value) or isinstance(value, float):
            yield "json-int-range", wrong[1].format("an integer")
        elif not _int_fits(value, INT_BITS[t]):
            yield "json-int-range", f"{value} is out of range for field {name!r} ({t})"
    elif t in FLOAT_TYPES:
        if not _is_number(value):
            yield wrong[0], wrong[1].format("a number")
        elif t == "Float" and abs(value) > _FLOAT32_MAX:
            yield "json-int-range", f"{value} is out of range for field {name!r} (Float, 32 bits)"
    elif t in STRING_TYPES:
        if not isinstance(value, str):
            yield wrong[0], wrong[1].format("a string")
        elif ctx.full and f.max_length is not None and len(value.encode("utf-8", "surrogatepass")) > f.max_length:
            size = len(value.encode("utf-8", "surrogatepass"))
            yield "value-max-length", f"a value of {size} UTF-8 bytes exceeds max_length {f.max_length} of {name!r}"
    elif t == "JSON":
        if not isinstance(value, (dict, str)):
            yield "json-json-field", wrong[1].format("an object or a string of JSON text")
        elif isinstance(value, str) and ctx.full:
            try:
                json_format._DECODER.decode(value)
            except ValueError:
                yield "value-json", f"field {name!r} holds a string that is not valid JSON: {_show(value)}"
    elif t == "Array":
        if not isinstance(value, list):
            yield wrong[0], wrong[1].format("a list")
            return
        if ctx.full and f.max_capacity is not None and len(value) > f.max_capacity:
            yield "value-max-capacity", f"{len(value)} elements exceed max_capacity {f.max_capacity} of {name!r}"
        element = f.element_type
        for item in value:
            if element == "Bool" and not isinstance(item, bool):
                yield wrong[0], f"field {name!r} is Array<Bool>, got element {_show(item)}"
                return
            if element in INT_BITS and not _int_fits(item, INT_BITS[element]):
                yield "json-int-range", f"field {name!r} is Array<{element}>, got element {_show(item)}"
                return
            if element in FLOAT_TYPES and not _is_number(item):
                yield wrong[0], f"field {name!r} is Array<{element}>, got element {_show(item)}"
                return
            if element in STRING_TYPES and not isinstance(item, str):
                yield wrong[0], f"field {name!r} is Array<{element}>, got element {_show(item)}"
                return
    elif t in ("FloatVector", "BinaryVector", "Float16Vector", "BFloat16Vector", "Int8Vector"):
        if not isinstance(value, list):
            yield wrong[0], wrong[1].format("a list of numbers")
            return
        if f.dim is not None:
            widths = {f.dim}
            if t == "BinaryVector":
                widths = {f.dim // 8}
            elif t in ("Float16Vector", "BFloat16Vector"):
                # 2.4.1-2.4.3 read dim*2 bytes, 2.4.4+ dim numbers.
                v = ctx.version
                widths = (
                    {f.dim * 2} if v is not None and v < (2, 4, 4) else {f.dim} if v is not None else {f.dim, f.dim * 2}
                )
            if len(value) not in widths:
                want = " or ".join(map(str, sorted(widths)))
                yield (
                    "json-vector-length",
                    f"a vector of {len(value)} values in field {name!r} ({t}, dim {f.dim}): it must hold {want}",
                )
                return
        if t == "BinaryVector":
            bad = next((x for x in value if not _int_fits(x, 9) or x < 0 or x > 255), None)
            if bad is not None or any(isinstance(x, bool) for x in value):
                yield wrong[0], f"field {name!r} (BinaryVector) takes integers 0-255, got {_show(bad)}"
        elif t == "Int8Vector":
            if not all(_int_fits(x, 8) for x in value):
                yield wrong[0], f"field {name!r} (Int8Vector) takes integers -128..127"
        elif not _all_numbers(value):
            bad = next(x for x in value if not _is_number(x))
            yield wrong[0], f"field {name!r} ({t}) takes numbers, got element {_show(bad)}"
    elif t == "SparseFloatVector":
        if not isinstance(value, dict):
            yield wrong[0], wrong[1].format('an object {"index": value} or {"indices": [...], "values": [...]}')
        elif ctx.full:
            yield from _sparse_problems(name, value)


def _sparse_problems(name: str, value: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if set(value) == {"indices", "values"}:
        indices, values = value["indices"], value["values"]
        if not isinstance(indices, list) or not isinstance(values, list) or len(indices) != len(values):
            yield "json-value", f"field {name!r}: indices and values must be lists of the same length"
            return
    else:
        try:
            indices, values = [int(k) for k in value], list(value.values())
        except ValueError:
            yield "json-value", f"field {name!r}: sparse keys must be integer indices, got {_show(list(value))}"
            return
    if any(not _int_fits(i, 64) or i < 0 or i >= (1 << 32) - 1 for i in indices) or len(set(indices)) != len(indices):
        yield "json-value", f"field {name!r}: sparse indices must be unique integers in 0..2^32-2"
    elif any(not _is_number(v) or not math.isfinite(v) or v < 0 for v in values):
        yield "json-value", f"field {name!r}: sparse values must be finite numbers >= 0"


class _Tally:
    """Problems found in rows, one per (field, rule), with how many rows had it."""

    def __init__(self) -> None:
        self.first: dict[tuple[str | None, str], tuple[int, str]] = {}
        self.count: dict[tuple[str | None, str], int] = {}

    def add(self, field_name: str | None, rule: str, row: int, message: str) -> None:
        key = (field_name, rule)
        self.first.setdefault(key, (row, message))
        self.count[key] = self.count.get(key, 0) + 1

    def flush(self, ctx: _Context, path: str, unit: str = "row") -> None:
        for (field_name, rule), (row, message) in self.first.items():
            more = self.count[(field_name, rule)] - 1
            also = f" (and {more} more {unit}s)" if more else ""
            ctx.add(rule, path, field_name, f"{unit} {row}: {message}{also}")


def _check_row(ctx: _Context, tally: _Tally, row_index: int, row: Mapping[str, Any]) -> None:
    by_name = ctx.by_name
    for key, value in row.items():
        f = by_name.get(key)
        if key == DYNAMIC_FIELD and ctx.dynamic:
            if not (isinstance(value, (dict, str))):
                tally.add(key, "value-json", row_index, f"$meta must hold a JSON object, got {_kind(value)}")
            continue
        if f is None or _is_auto_id(f) or f.is_function_output:
            continue
        for rule, message in value_problems(ctx, f, value):
            tally.add(f.name, rule, row_index, message)
    for f in _required(ctx):
        if f.name not in row and not _optional(f):
            tally.add(f.name, "missing-field", row_index, f"value of field {f.name!r} is missed (the key is absent)")


def _check_json(ctx: _Context, path: str, source: Source, *, lines: bool) -> None:
    budget = None if ctx.full else JSON_HEAD_BYTES
    tally = _Tally()
    keys_seen: dict[str, int] = {}
    row_index = -1
    try:
        for row_index, row in enumerate(json_format.read_rows(source, lines=lines, budget=budget)):
            if row_index == 0 or ctx.full or row_index < JSON_HEAD_ROWS:
                for key in row:
                    keys_seen.setdefault(key, row_index)
                _check_row(ctx, tally, row_index, row)
            if not ctx.full and row_index + 1 >= JSON_HEAD_ROWS:
                break
    except json_format.JsonFormatError as error:
        at = f" (row {error.row})" if error.row is not None else ""
        ctx.add("json-root", path, None, f"{error}{at}")
    _supplied_names(ctx, path, keys_seen, how="key", extra_rule="json-extra-key")
    tally.flush(ctx, path)


# --- CSV ------------------------------------------------------------------------------------------------------------


def _csv_cell(ctx: _Context, f: FieldInfo, cell: str) -> Iterator[tuple[str, str]]:
    """Problems of one CSV cell (the text), per the server's cell rules (2.5+)."""
    t, name = f.data_type, f.name
    nullkey = ctx.options.get("nullkey", "")
    if cell == nullkey and f.nullable:
        return
    if t == "Bool":
        if cell not in ("1", "0", "t", "f", "T", "F", "true", "false", "TRUE", "FALSE", "True", "False"):
            yield "json-value", f"field {name!r} (Bool) takes true/false/1/0, got {_show(cell)}"
    elif t in INT_BITS:
        text = cell[1:] if cell[:1] in "+-" else cell
        if not text.isdigit() or not text.isascii() or not _int_fits(int(cell), INT_BITS[t]):
            bits = INT_BITS[t]
            yield "json-int-range", f"field {name!r} ({t}) takes a base-10 integer of {bits} bits, got {_show(cell)}"
    elif t in FLOAT_TYPES:
        try:
            number = float(cell)
        except ValueError:
            yield "json-value", f"field {name!r} ({t}) takes a number, got {_show(cell)}"
            return
        if not math.isfinite(number):
            yield "value-nan", f"field {name!r} holds {cell}: NaN and Inf are refused"
        elif t == "Float" and abs(number) > _FLOAT32_MAX:
            yield "json-int-range", f"{cell} is out of range for field {name!r} (Float, 32 bits)"
    elif t in STRING_TYPES:
        yield from value_problems(ctx, f, cell)
    else:
        try:
            value = json_format._DECODER.decode(cell)
        except ValueError:
            yield "value-json", f"field {name!r} ({t}) takes JSON text, got {_show(cell)}"
            return
        if t == "JSON":
            return
        yield from value_problems(ctx, f, value)


def _check_csv(ctx: _Context, path: str, source: Source) -> None:
    sep = ctx.options.get("sep", ",")
    why = csv_format.separator_problem(sep)
    if why is not None:
        ctx.add("csv-separator", path, None, why)
        return
    header = csv_format.read_header(source, sep)
    if header is None:
        ctx.add("csv-empty", path, None, "the file holds no header record (the server: failed to read csv header, EOF)")
        return
    names = header.names
    if header.bom:
        first = header.clean_names[0]
        ctx.add("csv-bom", path, first, f"the file starts with a UTF-8 BOM, which the server does not strip: the first "
                f"column is read as {names[0]!r}, not {first!r}; save the file without a BOM")  # fmt: skip
        names = header.clean_names  # report the rest against what the user meant
    _supplied_names(ctx, path, names, how="column", extra_rule="csv-extra-column")
    auto_pk = any(_is_auto_id(f) for f in ctx.schema.fields)
    in_25 = ctx.version is not None and (2, 5, 0) <= ctx.version < (2, 6, 0)
    if not (auto_pk and (in_25 or ctx.version is None)):  # 2.5 skips the header check when the PK is auto-id
        _missing(ctx, path, names, nullable_rule="csv-missing-nullable", how="column")
    if ctx.full:
        _check_csv_records(ctx, path, source, sep, header)


def _check_csv_records(ctx: _Context, path: str, source: Source, sep: str, header: csv_format.CsvHeader) -> None:
    by_name = ctx.by_name
    columns = [by_name.get(n) for n in header.names]
    tally = _Tally()
    record = 0
    try:
        for record, (line, fields) in enumerate(csv_format.read_records(source, sep)):
            if record == 0:
                continue
            if len(fields) != len(header.names):
                tally.add(None, "csv-field-count", line, f"{len(fields)} fields, the header has {len(header.names)}")
                continue
            for f, cell in zip(columns, fields, strict=True):
                if f is None or _is_auto_id(f) or f.is_function_output:
                    continue
                for rule, message in _csv_cell(ctx, f, cell):
                    tally.add(f.name, rule, line, message)
    except csv_format.CsvRecordError as error:
        tally.add(None, "csv-record", error.line, f"{error.args[0].split(': ', 1)[-1]}: the server drops a record it "
                  "cannot parse without an error (at the start of a batch, the rest of the file too): the rows "
                  "would be "
                  "lost silently; fix the quoting")  # fmt: skip
    tally.flush(ctx, path, unit="line")


# --- the entry point ------------------------------------------------------------------------------------------------

_FORMATS = {".npy": "numpy", ".json": "json", ".jsonl": "json lines", ".ndjson": "json lines", ".parquet": "parquet",
            ".csv": "csv"}  # fmt: skip


def file_format(path: str) -> str | None:
    """The format of ``path`` by its extension as the server compares it (case-sensitive), or None."""
    return _FORMATS.get(posixpath.splitext(path)[1])


Opener = Callable[[str], "Source | None"]


def check_files(
    schema: CollectionSchema,
    version: Version | None,
    groups: Sequence[Sequence[str]],
    open_source: Opener,
    *,
    options: Mapping[str, str] | None = None,
    full: bool = False,
    server_version: str | None = None,
) -> FileReport:
    """Check every file of every group against ``schema`` for a server of ``version`` (None: unknown, then only
    rules that hold on every version apply). ``open_source(path)`` gives the file's bytes, or None when the client
    cannot read it (that file gets no verdict). ``full`` reads every value (streaming). Never raises for a problem
    in a file: the problems are in the report."""
    verdicts: list[FileVerdict] = []
    for index, group in enumerate(groups):
        verdicts.extend(_check_group(schema, version, index, group, open_source, dict(options or {}), full))
    return FileReport(tuple(verdicts), server_version=server_version, full=full)


def _check_group(
    schema: CollectionSchema,
    version: Version | None,
    index: int,
    group: Sequence[str],
    open_source: Opener,
    options: dict[str, str],
    full: bool,
) -> list[FileVerdict]:
    ctx = _Context(schema, version, full, options)
    unreadable: dict[str, str] = {}
    formats = {p: file_format(p) for p in group}
    if not group or any(f is None for f in formats.values()) or len(set(formats.values())) > 1:
        # Not a group this checker knows (the server refuses it by extension, and the preflight says so).
        detail = "not a known file format: no verdict"
        return [FileVerdict(p, index, formats[p] or "unknown", NOT_READABLE, detail=detail) for p in group]
    kind = formats[group[0]]
    assert kind is not None
    sources: dict[str, Source] = {}
    for path in group:
        try:
            source = open_source(path)
        except SourceUnreadable as error:
            source, unreadable[path] = None, str(error)
        if source is None:
            unreadable.setdefault(path, "the client cannot read this file")
        else:
            sources[path] = source
    unsupported = {"csv": "csv-unsupported", "json lines": "jsonl-unsupported"}.get(kind)
    if unsupported is not None and ctx.applies(unsupported):
        for path in group:
            ctx.add(unsupported, path, None, f"this server cannot read the file: {RULES[unsupported].text}")
        sources = {}
    if kind == "numpy":
        _check_numpy_sources(ctx, index, group, sources, unreadable)
    else:
        for path, source in sources.items():
            _check_row_file(ctx, kind, path, source, unreadable)
    verdicts = []
    for path in group:
        mine = tuple(p for p in ctx.problems if p.file == path)
        if path in unreadable and not mine:
            verdicts.append(FileVerdict(path, index, kind, NOT_READABLE, detail=f"{unreadable[path]}: no verdict"))
        else:
            verdicts.append(FileVerdict(path, index, kind, PROBLEMS if mine else OK, mine))
    return verdicts


def _size_or_empty(ctx: _Context, path: str, source: Source) -> bool:
    """False (and the problem recorded) when the file is empty."""
    if source.size() == 0:
        ctx.add("empty-file", path, None, "the file is empty (0 bytes): the server fails the job")
        return False
    return True


def _check_numpy_sources(
    ctx: _Context, index: int, group: Sequence[str], sources: Mapping[str, Source], unreadable: dict[str, str]
) -> None:
    headers: dict[str, npy.NpyHeader] = {}
    for path, source in sources.items():
        try:
            if not _size_or_empty(ctx, path, source):
                continue
            headers[path] = npy.read_header(source)
        except npy.NpyFormatError as error:
            ctx.add("npy-header", path, _stem(path), f"{error}")
        except SourceUnreadable as error:
            unreadable[path] = str(error)
    _check_numpy_group(ctx, index, group, headers)
    if ctx.full:
        from .full import check_numpy_values

        for path, header in headers.items():
            f = ctx.by_name.get(_stem(path))
            if f is not None:
                try:
                    for rule, message in check_numpy_values(ctx.version, f, sources[path], header):
                        ctx.add(rule, path, f.name, message)
                except SourceUnreadable as error:
                    unreadable[path] = str(error)


def _check_row_file(ctx: _Context, kind: str, path: str, source: Source, unreadable: dict[str, str]) -> None:
    try:
        if not _size_or_empty(ctx, path, source):
            return
        if kind == "parquet":
            from .parquet import MissingExtraError, ParquetFormatError, read_footer

            try:
                facts = read_footer(source)
            except ParquetFormatError as error:
                ctx.add("parquet-open", path, None, str(error))
                return
            except MissingExtraError as error:
                unreadable[path] = str(error)
                return
            _check_parquet(ctx, path, facts)
            if ctx.full:
                from .full import check_parquet_values

                for field_name, rule, message in check_parquet_values(ctx.version, ctx.by_name, source, facts):
                    ctx.add(rule, path, field_name, message)
        elif kind == "csv":
            _check_csv(ctx, path, source)
        else:
            _check_json(ctx, path, source, lines=kind == "json lines")
    except SourceUnreadable as error:
        unreadable[path] = str(error)
