"""What counts as a secret, and how a value the user gave is shown (pure, no imports of the package).

One rule for every place that shows user input: an option's repr and the dry-run plan, error messages and
``InvalidInputError.value``, metadata errors, URI query names, and the CLI (which prints the package's messages).

- :func:`is_secret_name`: a name (option key, metadata key, URI query name) whose *value* is a secret.
- :func:`describe`: a plain, picklable stand-in for any value (the value itself when it is plain data; a type
  name for objects such as generators, lambdas or locks, whose repr could raise, be huge or hold a secret).
- :func:`shown`: that stand-in as message text.
"""

from __future__ import annotations

import pathlib

MASK = "***"

# Exact names whose value is a secret (the Milvus "ezk" option: an encryption key), and words that make any name
# a secret's ("x-api-token", "milvus_password", "access-key-secret"). Compared lower-case with "_" read as "-".
_SECRET_NAMES = frozenset({"ezk", "key", "auth", "authorization", "cookie", "sk", "pwd"})
_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "api-key",
    "apikey",
    "access-key",
    "private",
    "authorization",
    "session",
)

#: A longest text shown in a message; longer values are cut (the value itself is kept in ``.value``).
_SHOWN_CHARS = 200
#: Ints with more bits than this are described, not converted: str() of a ~4,300-digit int raises ValueError.
_MAX_INT_BITS = 10_000
_MAX_ITEMS = 20
_MAX_DEPTH = 3


def is_secret_name(name: object) -> bool:
    """Whether the value given under ``name`` is a secret (never shown)."""
    if not isinstance(name, str):
        return False
    lowered = name.lower().replace("_", "-")
    return lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)


def describe(value: object, _depth: int = 0) -> object:
    """A plain stand-in for ``value`` that pickles, copies and prints without calling any code of the value's.

    Plain data (None, bool, int, float, str, bytes, pathlib paths) is returned as it is, and tuples/lists of it as
    the same container (at most 20 items, 3 levels); anything else becomes a text naming its type."""
    kind = type(value)
    if value is None or kind in (bool, float, bytes):
        return value
    if isinstance(value, int) and kind is int:
        return value if value.bit_length() <= _MAX_INT_BITS else f"<int of {value.bit_length()} bits>"
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytearray) and kind is bytearray:
        return bytes(value)
    if isinstance(value, pathlib.PurePath) and kind.__module__ == "pathlib":
        return value
    if isinstance(value, (tuple, list)) and kind in (tuple, list) and _depth < _MAX_DEPTH:
        items = [describe(item, _depth + 1) for item in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            items.append(f"<{len(value) - _MAX_ITEMS} more>")
        return tuple(items) if kind is tuple else items
    return f"<{_type_name(value)}>"


def shown(value: object) -> str:
    """``value`` as message text: the repr of :func:`describe`'s stand-in (a type's description as it is), cut to
    200 characters."""
    plain = describe(value)
    text = plain if isinstance(plain, str) and not isinstance(value, str) else repr(plain)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def masked_value(name: object, value: object) -> object:
    """:func:`describe` of ``value``, or the mask when ``name`` names a secret (and the value is not empty)."""
    empty = value is None or (isinstance(value, str) and not value)
    return MASK if is_secret_name(name) and not empty else describe(value)


def mask_pairs(pairs: object) -> object:
    """(name, value) pairs as shown anywhere: each by :func:`mask_pair`; anything else described."""
    if not isinstance(pairs, (tuple, list)):
        return describe(pairs)
    shown_pairs = [mask_pair(pair) for pair in pairs[:_MAX_ITEMS]]
    if len(pairs) > _MAX_ITEMS:
        shown_pairs.append(f"<{len(pairs) - _MAX_ITEMS} more>")
    return tuple(shown_pairs)


def mask_pair(pair: object) -> object:
    """A (name, value) pair as shown: the value masked when the name is a secret's. Any other sequence whose first
    item is a string is shown the same way (every later item masked for a secret's name); anything else by type."""
    if isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str):
        return (str.__str__(pair[0]), masked_value(pair[0], pair[1]))
    if isinstance(pair, (tuple, list)) and pair and isinstance(pair[0], str):
        if not is_secret_name(pair[0]):
            return describe(pair)
        masked = [str.__str__(pair[0]), *(MASK for _ in pair[1:_MAX_ITEMS])]
        return tuple(masked) if isinstance(pair, tuple) else masked
    return f"<{_type_name(pair)} (not shown)>"


def _type_name(value: object) -> str:
    kind = type(value)
    name = getattr(kind, "__qualname__", None)
    return name if isinstance(name, str) else "object"
