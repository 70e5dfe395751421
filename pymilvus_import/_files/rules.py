"""The server's rules for file contents, as data: each rule tagged with the versions it holds for.

Read from ``milvus-import-file-rules.md`` (the server's own code, per version line). Every verdict of
:mod:`.check` reads this module: :data:`RULES` (one row per rule: where it holds, what it says), and the
acceptance tables :data:`NUMPY_DTYPES` and :data:`PARQUET_SOURCES`.

A rule is applied to a server only where it holds for that server's version. For an **unknown version** only the
rules that hold on every version are applied (:meth:`Versions.holds` with ``None``), so the client never refuses
what some server would accept. Version numbers found by "first bump commit" are ±1 patch (the rules file says so);
where that matters the range is taken so that the rule is *not* applied on the doubtful patch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Version = tuple[int, int, int]
_ZERO: Version = (0, 0, 0)
_END: Version = (1 << 30, 0, 0)


def _text(version: Version) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class Versions:
    """A set of server versions: sorted, disjoint half-open ranges ``[low, high)``."""

    ranges: tuple[tuple[Version, Version], ...]

    @classmethod
    def of(cls, ranges: Iterable[tuple[Version, Version]]) -> Versions:
        merged: list[tuple[Version, Version]] = []
        for low, high in sorted(r for r in ranges if r[0] < r[1]):
            if merged and low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return cls(tuple(merged))

    def __contains__(self, version: object) -> bool:
        return any(low <= version < high for low, high in self.ranges)  # type: ignore[operator]

    def __or__(self, other: Versions) -> Versions:
        return Versions.of(self.ranges + other.ranges)

    def __invert__(self) -> Versions:
        edges: list[tuple[Version, Version]] = []
        start = _ZERO
        for low, high in self.ranges:
            edges.append((start, low))
            start = high
        edges.append((start, _END))
        return Versions.of(edges)

    def __and__(self, other: Versions) -> Versions:
        return ~(~self | ~other)

    @property
    def everywhere(self) -> bool:
        return self.ranges == ((_ZERO, _END),)

    def holds(self, version: Version | None) -> bool:
        """Whether the rule applies to a server of ``version``; an unknown version: only when it holds everywhere."""
        return self.everywhere if version is None else version in self

    def __str__(self) -> str:
        if self.everywhere:
            return "every version"
        if not self.ranges:
            return "no version"
        parts = []
        for low, high in self.ranges:
            if low == _ZERO:
                parts.append(f"before {_text(high)}")
            elif high == _END:
                parts.append(f"{_text(low)}+")
            else:
                parts.append(f"{_text(low)} to {_text(high)} (excluded)")
        return ", ".join(parts)


ALL = Versions(((_ZERO, _END),))
NEVER = Versions(())


def since(*version: int) -> Versions:
    return Versions(((tuple(version), _END),))  # type: ignore[arg-type]


def before(*version: int) -> Versions:
    return Versions(((_ZERO, tuple(version)),))  # type: ignore[arg-type]


def between(low: Version, high: Version) -> Versions:
    return Versions.of([(low, high)])


@dataclass(frozen=True)
class Rule:
    versions: Versions
    text: str


#: Where the server takes the values of an auto-id primary key instead of refusing them (2.5.19+ / 2.6.3+ with the
#: collection property ``allow_insert_auto_id=true``, which DescribeCollection's schema does not show): there the
#: client cannot tell, so the key is refused only before.
_AUTO_ID_REFUSED = before(2, 5, 19) | between((2, 6, 0), (2, 6, 3))

#: rule id -> where it holds and what the server does. Every verdict in ``check`` names one of these.
RULES: dict[str, Rule] = {
    # --- every format
    "csv-unsupported": Rule(before(2, 5, 0), "CSV files are read from Milvus 2.5 on"),
    "jsonl-unsupported": Rule(before(2, 6, 6), "JSON Lines files (.jsonl, .ndjson) are read from Milvus 2.6.6 on"),
    "empty-file": Rule(ALL, "a 0-byte file fails the job (2.3: 'size is zero'; 2.4+: the format's EOF error)"),
    "missing-field": Rule(ALL, "a required field (not auto-id, not a function output) must be in the file"),
    "missing-nullable": Rule(
        before(2, 5, 0), "nullable/default fields do not exist before 2.5 (any such field is required there)"
    ),
    "auto-id-supplied": Rule(_AUTO_ID_REFUSED, "the auto-generated primary key must not be provided"),
    "function-output": Rule(
        between((2, 5, 0), (2, 6, 0)),
        "a function's output field is computed by the server (2.5; on 2.6+ only BM25 outputs are refused, and the "
        "schema does not say which function fills the field)",
    ),
    # --- NumPy
    "npy-header": Rule(ALL, "only .npy format versions 1 and 2 with a valid header are read"),
    "npy-dtype": Rule(ALL, "each field type takes exactly its dtypes (no widening)"),
    "npy-shape": Rule(ALL, "scalars are 1-D (n,), vectors 2-D (n, width) with width dim, dim/8 or dim*2 by type"),
    "npy-unsupported-type": Rule(ALL, "Array and SparseFloatVector fields cannot be imported from NumPy"),
    "npy-fortran-order": Rule(ALL, "fortran_order=True is never checked by the server: the data is misread silently"),
    "npy-row-count": Rule(
        ALL, "every file of a group holds the same number of rows (2.3 refuses; 2.4+ fails later or drops rows)"
    ),
    "npy-auto-id": Rule(ALL, "NumPy never takes the auto-id primary key, in any version"),
    "npy-extra-file": Rule(before(2, 4, 0), "a .npy file for no field fails the job (2.4+ ignores it)"),
    "npy-meta-required": Rule(between((2, 4, 0), (2, 4, 1)), "the $meta file is required on 2.4.0"),
    "npy-nullable-schema": Rule(
        between((2, 5, 0), (2, 6, 0)), "a collection with any nullable field cannot be imported from NumPy (2.5)"
    ),
    "npy-missing-nullable": Rule(before(2, 6, 0), "nullable/default fields need their file before 2.6"),
    # --- Parquet
    "parquet-open": Rule(ALL, "the file must be a readable Parquet file"),
    "parquet-duplicate": Rule(since(2, 4, 0), "column names must be unique"),
    "parquet-extra-column": Rule(
        before(2, 6, 0), "a column for no field fails the job, dynamic field or not (2.6+ ignores it)"
    ),
    "parquet-type": Rule(ALL, "each column's Arrow type must be one the field accepts (see PARQUET_SOURCES)"),
    "parquet-fixed-size": Rule(ALL, "a fixed_size_list's length must be the field's width"),
    "parquet-meta-required": Rule(between((2, 4, 0), (2, 4, 2)), "the $meta column is required on 2.4.0-2.4.1"),
    "parquet-missing-nullable": Rule(before(2, 5, 3), "nullable/default columns may be missing from 2.5.3 on"),
    "parquet-nulls": Rule(since(2, 5, 0), "a null in a non-nullable column fails the job"),
    # --- JSON
    "json-root": Rule(ALL, "the content starts with '[' or {\"rows\": [ ; each row is an object"),
    "json-extra-key": Rule(
        before(2, 6, 0), "a key for no field fails the job without a dynamic field (2.6+ ignores it)"
    ),
    "json-value": Rule(ALL, "each value has the kind its field takes (number, string, list, object, bool)"),
    "json-json-field": Rule(ALL, "JSON fields take an object or a string holding JSON text (2.3.5 measured too)"),
    "json-vector-length": Rule(ALL, "a vector has exactly its width of elements"),
    "json-null": Rule(ALL, "null is refused in a field that is neither nullable nor defaulted"),
    "json-int-range": Rule(ALL, "integers must fit the field's bit size, and be written without '.' or exponent"),
    # --- CSV (the server reads CSV from 2.5 on; the preflight refuses CSV for older servers)
    "csv-empty": Rule(ALL, "an empty CSV fails: 'failed to read csv header, error: EOF'"),
    "csv-separator": Rule(ALL, "the sep option is one character, not NUL, newline, CR or '\"'"),
    "csv-bom": Rule(ALL, "a UTF-8 BOM is not stripped: it becomes part of the first column's name"),
    "csv-extra-column": Rule(before(2, 6, 0), "a column for no field fails without a dynamic field (2.6+ ignores it)"),
    "csv-missing-nullable": Rule(before(2, 6, 0), "nullable/default columns must be in the header before 2.6"),
    "csv-record": Rule(
        since(2, 5, 0), "a record that strict RFC-4180 parsing refuses is dropped silently (the server's read loop)"
    ),
    "csv-field-count": Rule(ALL, "every record has as many fields as the header"),
    # --- full check (values)
    "value-nan": Rule(
        ALL,
        "NaN/Inf is refused in Float, Double and float vector values (2.3.5 measured); in a float32 NumPy vector "
        "file on 2.4/2.5 it ends the server's read silently instead: the rows after it are dropped",
    ),
    "value-max-length": Rule(since(2, 4, 10), "VarChar values are at most max_length UTF-8 bytes"),
    "value-max-capacity": Rule(since(2, 4, 10), "Array values hold at most max_capacity elements"),
    "value-utf8": Rule(
        ALL,
        "strings are valid UTF-8: 2.5.8+ fails the job; older servers import them, and then every query returning "
        "that field fails ('string field contains invalid UTF-8', 2.3.5 measured for Parquet and NumPy)",
    ),
    "value-json": Rule(ALL, "JSON field and $meta values are valid JSON text (2.3.5 measured: JSON, Parquet, NumPy)"),
    "value-meta-object": Rule(
        since(2, 4, 1),
        "a $meta value (key, column or .npy file) is a JSON object or a string holding one (2.3.5 imports other "
        "JSON text)",
    ),
    "element-max-length": Rule(
        since(2, 5, 0), "Array<VarChar> elements are at most max_length UTF-8 bytes (Parquet and CSV, 2.5+)"
    ),
    "json-element-max-length": Rule(
        since(2, 6, 0), "Array<VarChar> elements are at most max_length UTF-8 bytes (JSON files, 2.6+)"
    ),
    "parquet-vector-length": Rule(
        ALL,
        "each row of a list vector column holds the field's width of elements (2.3: 'irregular'; 2.4+: 'not aligned')",
    ),
    "parquet-binary-length": Rule(
        ALL,
        "each row of a `binary` vector column holds the field's width in bytes: the server never checks it but "
        "joins the rows' bytes, so a wrong row shifts every vector after it (imported wrong without an error when "
        "the lengths even out, 2.3.5 measured; else the job fails on the row count)",
    ),
}


def holds(rule: str, version: Version | None) -> bool:
    return RULES[rule].versions.holds(version)


# --- NumPy: field type -> (accepted dtypes, where each holds), and the shape's second dimension -----------------
#: A dtype is written as NumPy's kind + itemsize (``f4``, ``u1``); ``U*`` / ``S*`` match any string length.
NUMPY_DTYPES: dict[str, tuple[tuple[str, Versions], ...]] = {
    "Bool": (("b1", ALL),),
    "Int8": (("i1", ALL),),
    "Int16": (("i2", ALL),),
    "Int32": (("i4", ALL),),
    "Int64": (("i8", ALL),),
    "Float": (("f4", ALL),),
    "Double": (("f8", ALL),),
    "VarChar": (("U*", ALL), ("S*", ALL)),
    "String": (("U*", ALL), ("S*", ALL)),
    "JSON": (("U*", ALL), ("S*", ALL)),
    "Geometry": (("U*", ALL), ("S*", ALL)),
    "FloatVector": (("f4", ALL), ("f8", ALL)),
    "BinaryVector": (("u1", ALL),),
    "Float16Vector": (("u1", ALL), ("f4", since(3, 0, 0)), ("f8", since(3, 0, 0))),
    "BFloat16Vector": (("u1", ALL), ("f4", since(3, 0, 0)), ("f8", since(3, 0, 0))),
    "Int8Vector": (("i1", ALL),),
}
NUMPY_UNSUPPORTED = ("Array", "SparseFloatVector")

VECTOR_TYPES = ("FloatVector", "BinaryVector", "Float16Vector", "BFloat16Vector", "Int8Vector", "SparseFloatVector")
INT_BITS = {"Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64}
FLOAT_TYPES = ("Float", "Double")
STRING_TYPES = ("VarChar", "String", "Geometry", "Timestamptz", "Text")


def vector_width(data_type: str, dim: int, source_dtype: str = "") -> int | None:
    """How many elements a row of a dense vector holds in a file: ``dim``, ``dim/8`` (binary) or ``dim*2``
    (Float16/BFloat16 as raw bytes)."""
    if data_type in ("FloatVector", "Int8Vector"):
        return dim
    if data_type == "BinaryVector":
        return dim // 8
    if data_type in ("Float16Vector", "BFloat16Vector"):
        return dim * 2 if source_dtype in ("u1", "uint8", "") else dim
    return None


# --- Parquet: which source Arrow types load into which field types, where -------------------------------------
_INTS = ("int8", "int16", "int32", "int64")
_NUMERIC = (*_INTS, "float32", "float64")

#: (source Arrow type name, field types it may load into, where). 2.3 (``iu/parquet_parser.go``) converts less:
#: float64 only into Double; the 2.4+ widening began with milvus#29019.
PARQUET_SOURCES: tuple[tuple[str, tuple[str, ...], Versions], ...] = (
    ("bool", ("Bool",), ALL),
    # Integer widening and float32 -> Double: measured accepted on the real 2.3.5 too (tests/test_files_milvus.py).
    ("int8", ("Int8", "Int16", "Int32", "Int64"), ALL),
    ("int16", ("Int16", "Int32", "Int64"), ALL),
    ("int32", ("Int32", "Int64"), ALL),
    ("int64", ("Int64",), ALL),
    ("int8", ("Float", "Double"), since(2, 4, 0)),
    ("int16", ("Float", "Double"), since(2, 4, 0)),
    ("int32", ("Float", "Double"), since(2, 4, 0)),
    ("int64", ("Float", "Double"), since(2, 4, 0)),
    ("float32", ("Float", "Double"), ALL),
    # float64 -> Float: refused by 2.3.5 ("field schema is not match ... Float ... float64"), narrowed on 2.4+.
    ("float64", ("Float",), since(2, 4, 0)),
    ("float64", ("Double",), ALL),
    ("string", ("VarChar", "String", "JSON"), ALL),
    ("string", ("Geometry", "Timestamptz", "Text"), ALL),
    ("string", ("SparseFloatVector",), since(2, 4, 4)),
    ("binary", ("BinaryVector",), ALL),
    ("binary", ("Float16Vector", "BFloat16Vector"), ALL),
    ("null", (), since(2, 5, 0)),  # nullable or default-value fields only (see check)
    ("struct", ("SparseFloatVector",), since(2, 5, 8)),
)
#: Types the server never reads, in any version (named in the message).
PARQUET_REFUSED = ("large_string", "large_list", "large_binary", "dictionary", "uint16", "uint32", "uint64",
                   "float16", "map")  # fmt: skip
#: List element types a vector field takes: (field type, element types, where).
PARQUET_VECTOR_ELEMENTS: tuple[tuple[str, tuple[str, ...], Versions], ...] = (
    ("FloatVector", _NUMERIC, since(2, 4, 0)),
    ("FloatVector", ("float32", "float64"), ALL),
    ("BinaryVector", ("uint8",), ALL),
    ("Float16Vector", ("uint8",), ALL),
    ("BFloat16Vector", ("uint8",), ALL),
    ("Float16Vector", ("float32", "float64"), since(3, 0, 0)),
    ("BFloat16Vector", ("float32", "float64"), since(3, 0, 0)),
    ("Int8Vector", ("int8",), ALL),
)
#: fixed_size_list columns (top level, Array or vector fields) are read from 2.6.18 on (and on master/3.0).
PARQUET_FIXED_SIZE_LIST = since(2, 6, 18)
