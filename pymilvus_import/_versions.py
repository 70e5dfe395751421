"""What each Milvus version can do, as data: one table per fact, and the one rule for reading a version string.

Every decision that depends on the server's version reads these tables (the Import retry in ``_import_flow``, the
version verdicts in ``_preflight``); a new "since" fact is one row here. Versions are ``(major, minor, patch)``.

Only a Milvus release string counts as a version: ``v2.3.5``, ``2.6.24``, with an optional build suffix
(``v2.3.5-lite``, ``v2.4.0-rc.1-dev``, ``2.6.24+abc``). Anything else (``milvus_lite-3.2.2``, a managed service's own
scheme like ``2024.10.1``, ``master-dev``, an empty string) is an *unknown* version: no Import retry and no version
verdict, because a guess could create a duplicate job or refuse what the server accepts.
"""

from __future__ import annotations

import functools
import posixpath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re
    from collections.abc import Sequence

    from ._options import BulkImportOption

Version = tuple[int, int, int]

# A release: optional "v", a one- or two-digit major (Milvus is at 2 and 3; a year like 2024 is another scheme), minor
# and patch without leading zeros, then an optional "-suffix" and/or "+build". Nothing before or after it.
_RELEASE = (
    r"v?(0|[1-9][0-9]?)\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})"
    r"(?:-[0-9A-Za-z]+(?:[.-][0-9A-Za-z]+)*)?(?:\+[0-9A-Za-z]+(?:[.-][0-9A-Za-z]+)*)?"
)


@functools.cache
def _release_pattern() -> re.Pattern[str]:
    import re  # compiled on first use (~0.5 ms), not by `import pymilvus_import`: only a known version is parsed

    return re.compile(_RELEASE)


#: Releases that honour ``idempotency_key`` (a retry of the same Import returns the first job): from ``since`` up to,
#: not including, ``until`` (None: no end). Facts file, section 3.
IDEMPOTENCY: tuple[tuple[Version, Version | None], ...] = (
    ((2, 6, 24), (3, 0, 0)),
    ((3, 0, 2), None),
)

#: Row-based file formats (by extension) and the first release that reads them (facts file, section 3).
FORMAT_SINCE: dict[str, tuple[Version, str]] = {
    ".csv": ((2, 5, 0), "CSV"),
    ".jsonl": ((2, 6, 0), "JSON Lines"),
    ".ndjson": ((2, 6, 0), "JSON Lines"),
}

#: Option values and the first release that honours them; an older server ignores the key (for
#: ``auto_commit='false'`` it would commit on its own: the opposite of what was asked). ``auto_commit='true'`` is
#: what older servers do anyway, so it has no row.
OPTION_SINCE: dict[tuple[str, str], Version] = {
    ("auto_commit", "false"): (3, 0, 0),
}
_OPTION_KEYS = frozenset(key for key, _value in OPTION_SINCE)


def parse_version(text: object) -> Version | None:
    """``(major, minor, patch)`` of a Milvus release string, or None for anything else (an unknown version)."""
    if not isinstance(text, str):
        return None
    match = _release_pattern().fullmatch(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def supports_idempotency(version: str | None) -> bool:
    """Whether the server dedupes Imports by ``idempotency_key`` (so an Import may be retried)."""
    parsed = parse_version(version)
    if parsed is None:
        return False
    return any(since <= parsed and (until is None or parsed < until) for since, until in IDEMPOTENCY)


def format_since(path: str) -> tuple[Version, str] | None:
    """The first release that reads ``path``'s row-based format, and the format's name; None when every release
    reads it."""
    return FORMAT_SINCE.get(posixpath.splitext(path)[1].lower())


def option_since(key: str, value: str) -> Version | None:
    """The first release that honours option ``key=value``; None when every release does."""
    return OPTION_SINCE.get((key, value.lower()))


def version_matters(option: BulkImportOption) -> bool:
    """Whether a version verdict could refuse ``option`` (only then is GetVersion worth a round trip)."""
    if any(key in _OPTION_KEYS for key, _ in option.options):
        return True
    if option.is_backup:
        return False
    # A row-based format with a "since" row, or a NumPy group: whether a .npy file for no field fails the job
    # depends on the version (the file rule ``npy-extra-file``, read by ``_preflight.check_numpy_group``).
    return any(is_numpy_group(group) or any(format_since(path) is not None for path in group) for group in option.files)


def is_numpy_group(group: Sequence[str]) -> bool:
    """Whether ``group`` is a NumPy group (every file a ``.npy``; one file per field)."""
    return bool(group) and all(path.lower().endswith(".npy") for path in group)
