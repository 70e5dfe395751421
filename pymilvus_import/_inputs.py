"""Reading what the caller gave without running into the caller's own code (pure).

A container the caller passes (``files`` and its groups, ``metadata``, ``channel_options``) is read exactly once, by
:func:`items_of`; a path object is turned into text by :func:`fspath_of`. Whatever the caller's object raises while
being read (a broken ``__iter__``, an ``__fspath__`` that raises or returns an int, a NumPy array's truth value)
becomes an :class:`InvalidInputError` naming the argument, with the original exception as ``__cause__``; the
message names only the exception's type (its text is the caller's and could hold anything).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ._errors import InvalidInputError


def items_of(value: Iterable[object], what: str, field: str) -> list[object]:
    """The items of the caller's iterable ``value``, read once."""
    try:
        return list(value)
    except Exception as error:
        raise InvalidInputError(
            f"{what} could not be read: iterating the {type(value).__name__} given raised {type(error).__name__}",
            value=value,
            field=field,
        ) from error


def fspath_of(value: os.PathLike[str] | os.PathLike[bytes], what: str, field: str) -> str | bytes:
    """``os.fspath(value)`` for the caller's path object, which must give ``str`` or ``bytes``."""
    try:
        return os.fspath(value)
    except Exception as error:
        raise InvalidInputError(
            f"{what}: the {type(value).__name__}'s __fspath__ raised {type(error).__name__} (it must return str or "
            "bytes)",
            value=value,
            field=field,
        ) from error
