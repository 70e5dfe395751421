"""Connection targets: parse the URIs users already write for Milvus into a gRPC target (pure, no I/O)."""

from __future__ import annotations

import base64
import ipaddress
from urllib.parse import unquote, urlsplit

from ._errors import InvalidInputError

DEFAULT_PORT = 19530
TLS_DEFAULT_PORT = 443
_SCHEMES = {"http": False, "tcp": False, "grpc": False, "https": True, "grpcs": True}


def mask(secret: str | None) -> str:
    """How a secret is shown anywhere: never its value."""
    return "***" if secret else "''"


class Target:
    """Where to connect and how, parsed from a URI. ``repr`` never shows the password.

    ``address`` is what grpc dials ("host:port", "[v6]:port" or "unix:/path"); ``display`` is the URI with the
    password masked, for messages. (A plain class: a dataclass costs ~0.4 ms at import time.)"""

    __slots__ = ("address", "db_name", "display", "password", "secure", "user")

    def __init__(
        self,
        address: str,
        secure: bool,
        db_name: str | None = None,
        user: str | None = None,
        password: str | None = None,
        display: str = "",
    ) -> None:
        self.address = address
        self.secure = secure
        self.db_name = db_name
        self.user = user
        self.password = password
        self.display = display

    def __repr__(self) -> str:
        return (
            f"Target(address={self.address!r}, secure={self.secure}, db_name={self.db_name!r}, "
            f"user={self.user!r}, password={mask(self.password) if self.password else None})"
        )


def mask_uri(uri: str) -> str:
    """``uri`` with the password of ``user:password@`` replaced by ``***``.

    Masks up to the *last* "@" (a password may itself hold "@" or "/"); masking too much is harmless.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return uri
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


def _bad(uri: str, why: str) -> InvalidInputError:
    shown = mask_uri(uri)
    return InvalidInputError(f"invalid Milvus URI {shown!r}: {why}", value=shown, field="uri")


def _format_host(host: str) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def parse_uri(uri: object) -> Target:
    """Parse ``uri`` into a :class:`Target`.

    Accepts ``http://``, ``https://`` (TLS, default port 443), ``tcp://``, ``grpc://``, ``grpcs://`` (TLS),
    ``unix:/path.sock``, bare ``host:port``, ``host`` and IPv6 literals (``[::1]:19530`` or ``::1``). The default port
    is 19530; the first path segment names the database; ``user:password@`` credentials are percent-decoded.

    Raises :class:`InvalidInputError` naming the URI (password masked) when it cannot be right.
    """
    if not isinstance(uri, str):
        raise InvalidInputError(
            f"the Milvus URI must be a string, got {type(uri).__name__} {uri!r}", value=uri, field="uri"
        )
    text = uri.strip()
    if not text:
        raise InvalidInputError(
            f"the Milvus URI is empty ({uri!r}); pass e.g. 'http://localhost:19530' or set MILVUS_URI",
            value=uri,
            field="uri",
        )
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path.strip("/"):
            raise _bad(text, "a unix socket URI needs a path, e.g. 'unix:/tmp/milvus.sock'")
        return Target(address=text, secure=False, display=text)

    if "://" not in text:
        if (
            text.count(":") >= 2 and not text.startswith("[") and "@" not in text and "/" not in text
        ):  # a bare IPv6 literal such as ::1
            text = f"[{text}]"
        text = "tcp://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
        unreadable = False
    except ValueError:
        unreadable = True
    if unreadable:
        # Raised outside the except block: urlsplit's message (kept as __context__ otherwise) quotes the text it
        # could not read, which may be part of a password.
        raise _bad(
            uri.strip(),
            "cannot be parsed: the port must be a number from 1 to 65535, and special characters in a user name "
            "or password must be percent-encoded",
        )
    password = unquote(parts.password) if parts.password is not None else None
    user = unquote(parts.username) if parts.username is not None else None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise _bad(uri.strip(), f"unsupported scheme {parts.scheme!r}; use one of http, https, tcp, grpc, grpcs, unix")
    host = parts.hostname
    if not host:
        raise _bad(uri.strip(), "no host name")
    if parts.query or parts.fragment:
        raise _bad(uri.strip(), "query strings and fragments are not supported")
    if port == 0:
        raise _bad(uri.strip(), "port 0 is not a valid port")
    secure = _SCHEMES[scheme]
    if port is None:
        port = TLS_DEFAULT_PORT if secure else DEFAULT_PORT
    segments = [unquote(s) for s in parts.path.split("/") if s]
    db_name = segments[0] if segments else None
    return Target(
        address=f"{_format_host(host)}:{port}",
        secure=secure,
        db_name=db_name,
        user=user or None,
        password=password,
        display=mask_uri(uri.strip()),
    )


def authorization_value(*, token: str | None, user: str | None, password: str | None) -> str | None:
    """The ``authorization`` metadata value Milvus expects: base64 of the token, or of ``user:password``.

    gRPC Milvus servers take the bare base64 value (no "Bearer" prefix).
    """
    if token:
        raw = token
    elif user is not None and password is not None:
        raw = f"{user}:{password}"
    else:
        return None
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")
