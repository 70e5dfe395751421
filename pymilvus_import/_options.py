"""``BulkImportOption``: what to import, built like the Go SDK's option and validated before any RPC (pure)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ._errors import InvalidInputError
from ._inputs import fspath_of, items_of
from ._names import check_milvus_name
from ._secrets import describe, is_secret_name, mask_pairs, masked_value, shown
from ._uri import CREDENTIALS_HINT, check_credential, is_header_safe, mask_uri, parse_uri

ROW_BASED = (".json", ".jsonl", ".ndjson", ".parquet", ".csv")
COLUMN_BASED = (".npy",)
SUPPORTED = ROW_BASED + COLUMN_BASED
MAX_IDEMPOTENCY_KEY = 256

_BOOLEAN_KEYS = ("backup", "l0_import", "skip_disk_quota_check", "auto_commit")
_TIMESTAMP_KEYS = {"start_ts": "start", "startTs": "start", "end_ts": "end", "endTs": "end"}
# A Go time.Duration string: "300s", "1.5h", "2h45m", "0".
_GO_DURATION = re.compile(r"(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_FORBIDDEN_SEP = {"\0": "NUL", "\n": "newline", "\r": "carriage return", '"': "double quote"}


def _is_printable_ascii(text: str) -> bool:
    return all(32 <= ord(ch) < 127 for ch in text)


def _utf8_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent in a protobuf string (None when it can): it must encode as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"cannot be encoded as UTF-8 (character {text[exc.start]!a} at position {exc.start}: a byte of a "
            "name in another encoding, as os.listdir returns it)"
        )
    return None


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text)


def check_name(value: object, what: str, *, required: bool, header: bool = False) -> str:
    """A collection, partition or database name: a string, encodable, without control characters, by Milvus's
    name rule (refusing only what no server version accepts); a ``header`` name (the database, sent as the
    ``dbname`` gRPC header) must be printable ASCII."""
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{what} must be a string, got {type(value).__name__} {shown(value)}", value=value, field=what
        )
    value = str.__str__(value)  # a str subclass (a StrEnum member, ...) kept and shown as the plain text
    problem = _utf8_problem(value)
    if problem:
        raise InvalidInputError(f"{what} {value!a} {problem}", value=value, field=what)
    if required and not value.strip():
        raise InvalidInputError(f"{what} must not be empty, got {value!r}", value=value, field=what)
    if value and value != value.strip():
        raise InvalidInputError(f"{what} has leading or trailing white space: {value!r}", value=value, field=what)
    if _has_control(value):
        raise InvalidInputError(
            f"{what} {value!a} holds a control character (NUL, newline, tab, ...)", value=value, field=what
        )
    if header and not is_header_safe(value):
        raise InvalidInputError(
            f"{what} {value!a} must be printable ASCII (it also travels in the 'dbname' gRPC header)",
            value=value,
            field=what,
        )
    if value:
        check_milvus_name(value, what)
    return value


def _as_path(path: object) -> object:
    """``os.PathLike`` and ``bytes`` paths as ``str`` (bytes decoded like the OS does); anything else unchanged."""
    if isinstance(path, os.PathLike):
        path = fspath_of(path, "a path in files", "files")
    if isinstance(path, (bytes, bytearray)):
        return os.fsdecode(bytes(path))
    return str.__str__(path) if isinstance(path, str) else path


def _is_single_path(value: object) -> bool:
    return isinstance(value, (str, bytes, bytearray, os.PathLike))


def _extension(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def normalize_files(files: object) -> tuple[tuple[str, ...], ...]:
    """Check the shape of ``files`` (a sequence of file groups, like Go's ``[][]string``) and freeze it.

    Paths may be ``str``, ``bytes`` or any ``os.PathLike`` (``pathlib.Path``); each is stored as ``str`` and must be
    encodable as UTF-8, because the request carries it as a protobuf string.
    """
    if _is_single_path(files):
        as_path = _as_path(files)
        raise InvalidInputError(
            f"files must be a list of file groups such as [[{as_path!r}]], not a bare "
            f"{'string' if isinstance(files, str) else 'path'} {shown(files)}",
            value=files,
            field="files",
        )
    if isinstance(files, Mapping) or not isinstance(files, Iterable):
        raise InvalidInputError(
            f"files must be a list of file groups (list of lists of paths), got {type(files).__name__} {shown(files)}",
            value=files,
            field="files",
        )
    groups = items_of(files, "files", "files")
    if not groups:
        raise InvalidInputError(
            "files is empty: pass at least one file group, e.g. [['/data/rows.json']]", value=files, field="files"
        )
    if all(_is_single_path(g) for g in groups):
        suggestion = [[_as_path(g)] for g in groups[:2]]
        raise InvalidInputError(
            f"files must be a list of file groups, got a flat list of paths {shown(groups)}; wrap each group in its "
            f"own list, e.g. {suggestion!r} (one group per row-based file, or all .npy files of one group together)",
            value=groups,
            field="files",
        )
    frozen: list[tuple[str, ...]] = []
    for index, group in enumerate(groups):
        if _is_single_path(group):
            as_path = _as_path(group)
            raise InvalidInputError(
                f"file group {index} must be a list of paths, got {type(group).__name__} {shown(group)} (a single "
                f"path); write [{as_path!r}] for it",
                value=group,
                field="files",
            )
        if isinstance(group, Mapping) or not isinstance(group, Iterable):
            raise InvalidInputError(
                f"file group {index} must be a list of paths, got {type(group).__name__} {shown(group)}",
                value=group,
                field="files",
            )
        paths = [_as_path(p) for p in items_of(group, f"file group {index}", "files")]
        if not paths:
            raise InvalidInputError(f"file group {index} is empty: {shown(group)}", value=group, field="files")
        for path in paths:
            check_path(index, path)
        frozen.append(tuple(paths))  # type: ignore[arg-type]  # check_path proved each is a str
    seen: dict[str, int] = {}
    for index, group in enumerate(frozen):
        for path in group:
            if path in seen:
                where = "twice in the same group" if seen[path] == index else f"in groups {seen[path]} and {index}"
                raise InvalidInputError(
                    f"duplicate path {path!r} ({where}); each file may be imported once per call",
                    value=path,
                    field="files",
                )
            seen[path] = index
    return tuple(frozen)


def check_path(index: int, path: object) -> None:
    """One path of file group ``index``: a non-blank string without control characters, encodable as UTF-8, not
    padded."""
    if not isinstance(path, str):
        raise InvalidInputError(
            f"file group {index} holds a non-string path {shown(path)} ({type(path).__name__})",
            value=path,
            field="files",
        )
    problem = _utf8_problem(path)
    if problem:
        raise InvalidInputError(
            f"file group {index} holds the path {path!a}, which {problem}; rename the file or pass its name "
            "as the object store knows it",
            value=path,
            field="files",
        )
    if not path.strip():
        raise InvalidInputError(f"file group {index} holds an empty path {path!r}", value=path, field="files")
    if path != path.strip():
        raise InvalidInputError(
            f"file group {index} holds a path with leading or trailing white space: {path!r}",
            value=path,
            field="files",
        )
    if _has_control(path):
        raise InvalidInputError(
            f"file group {index} holds a path with a control character (NUL, newline, tab, ...): {path!a}",
            value=path,
            field="files",
        )


def check_group_types(index: int, group: Sequence[str]) -> None:
    """The server's rules for one file group: one row-based file, or N column-based .npy files."""
    kinds = {_extension(p) for p in group}
    for path in group:
        ext = _extension(path)
        if ext not in SUPPORTED:
            raise InvalidInputError(
                f"file {path!r} in group {index} has an unsupported extension {ext or '(none)'!r}; supported: "
                f"{', '.join(SUPPORTED)} (JSONL/NDJSON need Milvus 2.6+, CSV 2.5+). For a backup import, set "
                f"with_option('backup', 'true') and pass directory prefixes",
                value=path,
                field="files",
            )
    if len(kinds) > 1:
        raise InvalidInputError(
            f"file group {index} mixes file types {sorted(kinds)}: {list(group)!r}; put each type in its own group",
            value=list(group),
            field="files",
        )
    (kind,) = kinds
    if kind in ROW_BASED and len(group) > 1:
        raise InvalidInputError(
            f"file group {index} has {len(group)} {kind} files {list(group)!r}; a row-based group holds exactly one "
            f"file, so give each its own group: {[[p] for p in group]!r}",
            value=list(group),
            field="files",
        )
    if kind in COLUMN_BASED:
        names: dict[str, str] = {}
        for path in group:
            base = posixpath.basename(path)
            if base in names:
                raise InvalidInputError(
                    f"file group {index} has two .npy files for field {base[:-4]!r}: {names[base]!r} and {path!r}; "
                    "a NumPy group holds one file per field",
                    value=path,
                    field="files",
                )
            names[base] = path


def check_option(key: object, value: object) -> tuple[str, str]:
    """Validate one ``with_option`` pair; known keys get their value checked, unknown keys pass unchanged."""
    if not isinstance(key, str):
        raise InvalidInputError(
            f"option keys must be strings, got {type(key).__name__} {shown(key)}", value=key, field="options"
        )
    key = str.__str__(key)
    if not key.strip():
        raise InvalidInputError(f"option key must not be empty, got {key!r}", value=key, field="options")
    problem = _utf8_problem(key)
    if problem:
        raise InvalidInputError(f"option key {key!a} {problem}", value=key, field="options")
    if _has_control(key) or key != key.strip():
        raise InvalidInputError(
            f"option key {key!a} holds a control character or leading/trailing white space",
            value=key,
            field="options",
        )
    secret = is_secret_name(key)
    if isinstance(value, str):
        value = str.__str__(value)
    else:
        hint = "" if secret else _string_hint(value)
        raise InvalidInputError(
            f"option {key!r} needs a string value, got {type(value).__name__} "
            f"{'(value not shown)' if secret else shown(value)}{hint}",
            value=masked_value(key, value),
            field=key,
        )
    problem = _utf8_problem(value)
    if problem:
        text = "a value (not shown), which" if secret else f"the value {value!a}, which"
        raise InvalidInputError(f"option {key!r} has {text} {problem}", value=masked_value(key, value), field=key)
    if _has_control(value) and not (key == "sep" and value == "\t"):
        text = "a value (not shown) that holds" if secret else f"the value {value!a}, which holds"
        raise InvalidInputError(
            f"option {key!r} has {text} a control character (NUL, newline, ...); the server would read it as is",
            value=masked_value(key, value),
            field=key,
        )
    if key == "timeout" and not _GO_DURATION.fullmatch(value):
        raise InvalidInputError(
            f"option 'timeout' must be a Go duration such as '300s', '1.5h' or '2h45m', got {value!r}",
            value=value,
            field=key,
        )
    if key in _BOOLEAN_KEYS and value.lower() not in ("true", "false"):
        raise InvalidInputError(f"option {key!r} must be 'true' or 'false', got {value!r}", value=value, field=key)
    if key == "sep":
        if len(value) != 1:
            raise InvalidInputError(
                f"option 'sep' must be exactly one character, got {value!r} ({len(value)} characters)",
                value=value,
                field=key,
            )
        if value in _FORBIDDEN_SEP:
            raise InvalidInputError(
                f"option 'sep' cannot be {_FORBIDDEN_SEP[value]} ({value!r})", value=value, field=key
            )
    if key in _TIMESTAMP_KEYS and not (value.isascii() and value.isdigit() and len(value) <= 20 and int(value) < 2**64):
        raise InvalidInputError(
            f"option {key!r} must be an unsigned 64-bit integer (a hybrid timestamp), got {shown(value)}",
            value=value,
            field=key,
        )
    if key == "storage_version" and not (value.isascii() and value.lstrip("-").isdigit()):
        raise InvalidInputError(f"option 'storage_version' must be an integer, got {value!r}", value=value, field=key)
    return key, value


def _string_hint(value: object) -> str:
    """How to write a non-string option value as the string the server reads (for plain values only)."""
    if isinstance(value, bool):
        return f" (write {str(value).lower()!r})"
    plain = describe(value)
    return f" (write {str(plain)!r})" if isinstance(plain, (int, float)) and not isinstance(plain, bool) else ""


def check_idempotency_key(key: object) -> str:
    if not isinstance(key, str):
        raise InvalidInputError(
            f"idempotency key must be a string, got {type(key).__name__} {shown(key)}",
            value=key,
            field="idempotency_key",
        )
    key = str.__str__(key)
    if not key or not _is_printable_ascii(key) or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInputError(
            f"idempotency key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters, got {key!r}",
            value=key,
            field="idempotency_key",
        )
    return key


def check_api_key(api_key: object) -> str:
    if not isinstance(api_key, str):
        raise InvalidInputError(
            f"API key must be a non-empty string, got {type(api_key).__name__} (value not shown)",
            value="***",
            field="api_key",
        )
    check_credential(api_key, "API key")
    return str.__str__(api_key)


@dataclass(frozen=True)
class BulkImportOption:
    """What to import and where: the Go SDK's ``BulkImportOption`` as an immutable value.

    Build it with :func:`new_bulk_import_option`; every ``with_*`` method returns a *new* option (the original is
    unchanged), so chain the calls or keep the result. ``repr`` masks the API key and secret option values.

    Every field is checked when the option is built, also when built with this constructor or
    ``dataclasses.replace`` (``files`` may then be any list of lists of paths: it is frozen into tuples); what needs
    the whole option (a backup import's partition, start_ts <= end_ts, ...) is checked by :meth:`validate`, which
    ``bulk_import`` runs before any RPC. Raises :class:`InvalidInputError`.
    """

    uri: str
    collection_name: str
    files: tuple[tuple[str, ...], ...]
    partition_name: str = ""
    db_name: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    api_key: str | None = field(default=None, repr=False)
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        self._check_fields()

    def __repr__(self) -> str:
        return (
            f"BulkImportOption(uri={mask_uri(self.uri)!r}, collection_name={self.collection_name!r}, "
            f"files={self.files!r}, "
            f"partition_name={self.partition_name!r}, db_name={self.db_name!r}, options={mask_pairs(self.options)!r}, "
            f"api_key={'***' if self.api_key else None}, idempotency_key={self.idempotency_key!r})"
        )

    def with_partition(self, partition_name: str) -> BulkImportOption:
        """Import into this partition (``''`` means the default partition)."""
        return dataclasses.replace(self, partition_name=check_name(partition_name, "partition name", required=False))

    def with_option(self, key: str, value: str) -> BulkImportOption:
        """Add a server option (``timeout``, ``backup``, ``sep``, ...). Setting a key again replaces its value in
        place. Unknown keys are forwarded unchanged; known keys get their value checked."""
        key, value = check_option(key, value)
        replaced = False
        pairs: list[tuple[str, str]] = []
        for k, v in self.options:
            if k == key:
                pairs.append((k, value))
                replaced = True
            else:
                pairs.append((k, v))
        if not replaced:
            pairs.append((key, value))
        return dataclasses.replace(self, options=tuple(pairs))

    def with_database(self, db_name: str) -> BulkImportOption:
        """Import into this database (overrides a database named in the URI path)."""
        return dataclasses.replace(self, db_name=check_name(db_name, "database name", required=True, header=True))

    def with_api_key(self, api_key: str) -> BulkImportOption:
        """Authenticate with this API key / token (overrides credentials of the connection)."""
        return dataclasses.replace(self, api_key=check_api_key(api_key))

    def with_idempotency_key(self, key: str) -> BulkImportOption:
        """Let the server recognise a retry of this import (Milvus >= 2.6.24 / >= 3.0.2; older servers ignore it).

        Without it, every file group gets a fresh random key. With several groups, group ``i`` is sent with
        ``f"{key}#{i}"`` so the groups stay distinct jobs.
        """
        return dataclasses.replace(self, idempotency_key=check_idempotency_key(key))

    @property
    def is_backup(self) -> bool:
        return any(k == "backup" and v.lower() == "true" for k, v in self.options)

    def check(self) -> None:
        """:meth:`validate`, done once per option value (options are immutable, so the answer cannot change)."""
        _ = self._validated

    @functools.cached_property
    def _validated(self) -> bool:
        self.validate()
        return True

    def validate(self) -> None:
        """The checks that need the whole option (done by ``bulk_import`` before any RPC).

        Each field was checked when the option was built (an option is immutable, so it still holds).
        """
        values = dict(self.options)
        if self.is_backup:
            if not self.partition_name:
                raise InvalidInputError(
                    "a backup import (option backup='true') needs a partition name: call with_partition(...)",
                    value=self.partition_name,
                    field="partition_name",
                )
            for index, group in enumerate(self.files):
                if len(group) > 2:
                    raise InvalidInputError(
                        f"a backup import takes 1 or 2 path prefixes per group; group {index} has {len(group)}: "
                        f"{list(group)!r}",
                        value=list(group),
                        field="files",
                    )
        else:
            for index, group in enumerate(self.files):
                check_group_types(index, group)
        bounds: dict[str, int] = {}
        for key, value in self.options:
            if key in _TIMESTAMP_KEYS:
                bounds[_TIMESTAMP_KEYS[key]] = int(value)
        if "start" in bounds and "end" in bounds and bounds["start"] > bounds["end"]:
            raise InvalidInputError(
                f"option start_ts ({bounds['start']}) is after end_ts ({bounds['end']})",
                value=bounds["start"],
                field="start_ts",
            )
        if (
            values.get("skip_disk_quota_check", "").lower() == "true"
            and not self.is_backup
            and values.get("l0_import", "").lower() != "true"
        ):
            raise InvalidInputError(
                "option skip_disk_quota_check='true' only applies with backup='true' or l0_import='true'",
                value="skip_disk_quota_check",
                field="options",
            )

    def _check_fields(self) -> None:
        # Each field is kept as the checked value (plain str, files frozen into tuples): set once, here, on a
        # frozen dataclass.
        def keep(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        keep("uri", _check_uri(self.uri))
        keep("collection_name", check_name(self.collection_name, "collection name", required=True))
        keep("files", normalize_files(self.files))
        keep("partition_name", check_name(self.partition_name, "partition name", required=False))
        if self.db_name is not None:
            keep("db_name", check_name(self.db_name, "database name", required=True, header=True))
        if not isinstance(self.options, tuple):
            raise InvalidInputError(
                "BulkImportOption.options must be a tuple of (key, value) pairs; use with_option(...)",
                value=self.options,
                field="options",
            )
        for pair in self.options:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise InvalidInputError(
                    f"BulkImportOption.options must hold (key, value) pairs, got {shown(mask_pairs([pair]))}",
                    value=mask_pairs([pair]),
                    field="options",
                )
        keep("options", tuple(check_option(*pair) for pair in self.options))
        if self.idempotency_key is not None:
            keep("idempotency_key", check_idempotency_key(self.idempotency_key))
        if self.api_key is not None:
            keep("api_key", check_api_key(self.api_key))

    def idempotency_keys(self, fresh: Iterable[str]) -> tuple[str, ...]:
        """One key per group: the user's key (suffixed per group when there are several), or else the first of
        ``fresh`` (an iterable of keys, possibly endless), each a valid idempotency key."""
        count = len(self.files)
        if self.idempotency_key is None:
            return _fresh_keys(fresh, count)
        if count == 1:
            return (self.idempotency_key,)
        keys = tuple(f"{self.idempotency_key}#{i}" for i in range(count))
        longest = max(keys, key=len)
        if len(longest) > MAX_IDEMPOTENCY_KEY:
            raise InvalidInputError(
                f"idempotency key {self.idempotency_key!r} is too long for {count} groups: the per-group key "
                f"{longest!r} exceeds {MAX_IDEMPOTENCY_KEY} characters",
                value=self.idempotency_key,
                field="idempotency_key",
            )
        return keys


def _fresh_keys(fresh: object, count: int) -> tuple[str, ...]:
    if isinstance(fresh, (str, bytes)) or not isinstance(fresh, Iterable):
        raise InvalidInputError(
            f"fresh must be an iterable of idempotency keys, got {type(fresh).__name__}", value=fresh, field="fresh"
        )
    try:
        keys = tuple(itertools.islice(iter(fresh), count))
    except Exception as error:
        raise InvalidInputError(
            f"fresh idempotency keys could not be read: iterating the {type(fresh).__name__} given raised "
            f"{type(error).__name__}",
            value=fresh,
            field="fresh",
        ) from error
    if len(keys) < count:
        raise InvalidInputError(
            f"{len(keys)} fresh idempotency key(s) for {count} file groups", value=len(keys), field="fresh"
        )
    return tuple(check_idempotency_key(key) for key in keys)


def new_bulk_import_option(uri: str, collection_name: str, files: Sequence[Sequence[str]]) -> BulkImportOption:
    """Start an option like Go's ``NewBulkImportOption(uri, collectionName, files)``.

    ``files`` is a list of file groups: each inner list is one row-based file (``.json``, ``.jsonl``, ``.ndjson``,
    ``.parquet``, ``.csv``) or the ``.npy`` files of one column-based import (one per field). Each group becomes one
    Import request, i.e. one job on Milvus 2.4+. Raises :class:`InvalidInputError` for input that cannot be right.
    """
    return BulkImportOption(uri=uri, collection_name=collection_name, files=files)  # type: ignore[arg-type]


def _check_uri(uri: object) -> str:
    """An option's URI: '' (the client's, or ``$MILVUS_URI``) or one that can be right, with a password for a user."""
    if not isinstance(uri, str):
        parse_uri(uri)  # raises, naming the URI with its credentials masked
        raise AssertionError("unreachable")  # pragma: no cover
    uri = str.__str__(uri)
    if uri.strip():
        target = parse_uri(uri)
        if target.user is not None and target.password is None:
            raise InvalidInputError(
                f"the URI {target.display!r} has a user name but no password, so no credentials would be sent. "
                f"{CREDENTIALS_HINT} (with_api_key(...) for this option)",
                value=target.display,
                field="uri",
            )
    return uri
