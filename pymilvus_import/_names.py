"""Milvus's rules for names, as data: what no server version accepts (pure, no imports of the package but errors)."""

from __future__ import annotations

from ._errors import InvalidInputError

_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_CHARS = _ASCII_LETTERS | frozenset("0123456789_")
#: Milvus's name rules that hold on every server version (facts file, section 11; milvus-name-rules.md), as
#: (allowed first characters, allowed later characters, the rule in words). Collection and database names: "_" or
#: an ASCII letter, then letters, digits and "_". Partition names may also start with a digit, and "-" is allowed
#: after the first character from 2.4.18 / 2.5.0, so it is left to the server (never refused here). Length limits
#: are a server setting (proxy.maxNameLength), so long names are left to the server too.
_NAME_RULES: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "collection name": (
        _ASCII_LETTERS | {"_"},
        _NAME_CHARS,
        "an underscore or ASCII letter first, then only letters, digits and underscores",
    ),
    "database name": (
        _ASCII_LETTERS | {"_"},
        _NAME_CHARS,
        "an underscore or ASCII letter first, then only letters, digits and underscores",
    ),
    "partition name": (
        _NAME_CHARS,
        _NAME_CHARS | {"-"},
        "an underscore, ASCII letter or digit first, then only letters, digits, underscores (and '-' on Milvus "
        "2.4.18+/2.5+)",
    ),
}


def check_milvus_name(value: str, what: str) -> None:
    """Refuse a name Milvus accepts on no version (``value`` is non-empty, stripped and encodable)."""
    rule = _NAME_RULES.get(what)
    if rule is None:
        return
    first, later, words = rule
    if value[0] not in first or not set(value[1:]) <= later:
        raise InvalidInputError(
            f"{what} {value!a} is not a name Milvus accepts: it needs {words} (no server version takes it)",
            value=value,
            field=what,
        )
