"""Connection targets: parse the URIs users already write for Milvus into a gRPC target (pure, no I/O)."""

from __future__ import annotations

import base64
import ipaddress
from urllib.parse import SplitResult, unquote, urlsplit

from ._errors import InvalidInputError
from ._names import check_milvus_name
from ._secrets import is_secret_name

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
            f"user={self.user if self.user is None or self.password is not None else '***'!r}, "
            f"password={mask(self.password) if self.password else None})"
        )


def mask_uri(uri: str) -> str:
    """``uri`` with every place a secret can sit replaced by ``***``.

    ``user:password@`` keeps the user name; any other user info (``TOKEN@``, ``TOKEN:@``, ``:password@``) is hidden
    entirely; every query value and the fragment are hidden (``?token=***``). Masks up to the *last* "@" (a password
    may itself hold "@", "/" or "?"); masking too much is harmless.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    userinfo, at, host = rest.rpartition("@")
    if at:
        user, _, password = userinfo.partition(":")
        shown_userinfo = f"{user}:***" if user and password else "***"  # "TOKEN@", "TOKEN:@", ":pw@": all hidden
    else:
        shown_userinfo, host = "", rest
    return f"{scheme}{sep}{shown_userinfo}{at}{_mask_query(host)}"


def _mask_query(text: str) -> str:
    head, hash_sign, fragment = text.partition("#")
    head, question, query = head.partition("?")
    if question:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(f"{name}{eq}***" if eq else ("***" if name else "") for name, eq, _ in pairs)
    return f"{head}{question}{query}{hash_sign}{'***' if fragment else ''}"


def _shown_non_string(value: object) -> str:
    """How a URI of the wrong type is named: a number as itself, ``bytes`` decoded and masked, anything else by its
    type only (its repr could hold a secret)."""
    if isinstance(value, (bytes, bytearray)):
        return repr(mask_uri(bytes(value).decode("utf-8", "backslashreplace")))
    if value is None or isinstance(value, (int, float)):
        return repr(value)
    return "(not shown)"


def _bad(uri: str, why: str) -> InvalidInputError:
    shown = mask_uri(uri)
    return InvalidInputError(f"invalid Milvus URI {shown!r}: {why}", value=shown, field="uri")


# Host names: letters, digits, "_", "-" and "." (not first, "-" not last). A set, not a regex: compiling one at
# import time costs a cold start ~0.3 ms.
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
#: What to say when credentials in a URI are not a usable ``user:password@`` pair.
CREDENTIALS_HINT = (
    "A URI carries credentials only as user:password@ (percent-encode special characters); pass a token as "
    "token=... (or MILVUS_TOKEN), not in the URI"
)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_header_safe(text: str) -> bool:
    """Whether ``text`` can be a gRPC metadata value: printable ASCII (space to tilde) only."""
    return all(32 <= ord(ch) < 127 for ch in text)


def _query_names(query: str) -> list[str]:
    return [pair.partition("=")[0] for pair in query.split("&")]


#: DNS limits (RFC 1035): a name of at most 253 characters, each dot-separated label 1 to 63. A longer name can never
#: resolve; gRPC would try to resolve it until the deadline (measured: a 5,000-character host waits out the timeout).
_MAX_HOST_CHARS = 253
_MAX_LABEL_CHARS = 63


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return (
            bool(host)
            and set(host) <= _HOST_CHARS
            and host[0] not in ".-"
            and host[-1] != "-"
            and len(host) <= _MAX_HOST_CHARS
            and all(0 < len(label) <= _MAX_LABEL_CHARS for label in labels)
        )
    return True


def shown_host(host: str) -> str:
    return repr(host) if len(host) <= 80 else repr(host[:60]) + f"... ({len(host)} characters)"


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
    text = _uri_text(uri)
    if text[:5].lower() == "unix:":
        return _unix_target(text)
    parts = _split(_with_scheme(text), text)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise _bad(text, f"unsupported scheme {parts.scheme!r}; use one of http, https, tcp, grpc, grpcs, unix")
    user, password = _credentials(parts, text)
    host = _host(parts, text)
    secure = _SCHEMES[scheme]
    port = parts.port
    if port == 0:
        raise _bad(text, "port 0 is not a valid port")
    return Target(
        address=f"{_format_host(host)}:{port or (TLS_DEFAULT_PORT if secure else DEFAULT_PORT)}",
        secure=secure,
        db_name=_database(parts, text),
        user=user,
        password=password,
        display=mask_uri(text),
    )


def _uri_text(uri: object) -> str:
    """``uri`` without surrounding white space: a string, not empty, UTF-8, without control characters."""
    if not isinstance(uri, str):
        shown = _shown_non_string(uri)
        hint = "; decode it first (uri.decode())" if isinstance(uri, (bytes, bytearray)) else ""
        raise InvalidInputError(
            f"the Milvus URI must be a string, got {type(uri).__name__} {shown}{hint}",
            value=shown if isinstance(uri, (bytes, bytearray)) else (uri if shown != "(not shown)" else shown),
            field="uri",
        )
    text = uri.strip()
    if not text:
        raise InvalidInputError(
            f"the Milvus URI is empty ({uri!r}); pass e.g. 'http://localhost:19530' or set MILVUS_URI",
            value=uri,
            field="uri",
        )
    if not _encodable(text):
        raise _bad(text, "it holds a character that cannot be encoded as UTF-8 (a surrogate-escaped byte?)")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise _bad(text, "it holds a control character (a newline, tab or NUL?)")
    return text


def _unix_target(text: str) -> Target:
    path = text[len("unix:") :]
    if not path.strip("/"):
        raise _bad(text, "a unix socket URI needs a path, e.g. 'unix:/tmp/milvus.sock'")
    address = "unix:" + path  # gRPC only knows the lower-case scheme
    return Target(address=address, secure=False, display=address)


def _with_scheme(text: str) -> str:
    """``text`` with a scheme: a bare ``host[:port]`` (or IPv6 literal) is read as ``tcp://``. A known scheme must
    be followed by ``//`` (``https:/host`` would otherwise read as host ``https``, database ``host``)."""
    if "://" in text:
        return text
    scheme, colon, _ = text.partition(":")
    if colon and scheme.lower() in _SCHEMES:
        raise _bad(text, f"'{scheme}:' must be followed by '//' (e.g. '{scheme.lower()}://host:19530')")
    if text.count(":") >= 2 and not text.startswith("[") and "@" not in text and "/" not in text:
        text = f"[{text}]"  # a bare IPv6 literal such as ::1
    return "tcp://" + text


def _split(url: str, text: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number from 0 to 65535
        unreadable = False
    except ValueError:
        unreadable = True
    if unreadable:
        # Raised outside the except block: urlsplit's message (kept as __context__ otherwise) quotes the text it
        # could not read, which may be part of a password.
        raise _bad(
            text,
            "cannot be parsed: the port must be a number from 1 to 65535, and special characters in a user name "
            "or password must be percent-encoded",
        )
    return parts


def _credentials(parts: SplitResult, text: str) -> tuple[str | None, str | None]:
    """The percent-decoded ``user:password@`` (a user alone is allowed here; the client asks for the password)."""
    if parts.username is not None:
        if not parts.username:
            raise _bad(
                text,
                "no user name before '@'. " + CREDENTIALS_HINT
                if parts.password is None
                else "the credentials before '@' have no user name. " + CREDENTIALS_HINT,
            )
        if parts.password == "":
            raise _bad(text, "the credentials before '@' have an empty password. " + CREDENTIALS_HINT)
    password = unquote(parts.password) if parts.password is not None else None
    user = unquote(parts.username) if parts.username is not None else None
    return user or None, password


def _host(parts: SplitResult, text: str) -> str:
    host = parts.hostname
    if not host:
        raise _bad(text, "no host name")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        hint = (
            "; pass a token as token=... or MILVUS_TOKEN"
            if any(is_secret_name(name) for name in _query_names(parts.query))
            else ""
        )
        raise _bad(text, f"query strings and fragments are not supported{hint}")
    if not _is_host(host):
        raise _bad(
            text,
            f"the host {shown_host(host)} is not a host name or IP address (letters, digits, '-', '.' and '_' only, "
            f"labels of 1-{_MAX_LABEL_CHARS} characters, {_MAX_HOST_CHARS} in all; give an international name in its "
            "'xn--' form)",
        )
    return host


def _database(parts: SplitResult, text: str) -> str | None:
    """The first path segment, percent-decoded: printable ASCII (it travels in the ``dbname`` gRPC header)."""
    segments = [unquote(s) for s in parts.path.split("/") if s]
    db_name = segments[0] if segments else None
    if db_name is not None and not is_header_safe(db_name):
        raise _bad(
            text, f"the database name {db_name!r} must be printable ASCII (it travels in the 'dbname' gRPC header)"
        )
    if db_name is not None:
        try:
            check_milvus_name(db_name, "database name")
        except InvalidInputError as error:
            raise _bad(text, f"its path names the database: {error.message}") from None
    return db_name


def authorization_value(*, token: str | None, user: str | None, password: str | None) -> str | None:
    """The ``authorization`` metadata value Milvus expects: base64 of the token, or of ``user:password``.

    gRPC Milvus servers take the bare base64 value (no "Bearer" prefix). Raises :class:`InvalidInputError` (value
    masked) for a credential that is not a string or cannot be encoded as UTF-8.
    """
    for what, value in (("token", token), ("user", user), ("password", password)):
        check_secret_text(value, what)
    if token:
        raw = token
    elif user is not None and password is not None:
        raw = f"{user}:{password}"
    else:
        return None
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


def check_secret_text(value: object, what: str) -> None:
    """A credential (``None`` allowed) must be a string encodable as UTF-8; the error never shows the value."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{what} must be a string, got {type(value).__name__} (value not shown)", value="***", field=what
        )
    if not _encodable(value):
        raise InvalidInputError(
            f"{what} holds a character that cannot be encoded as UTF-8 (a surrogate-escaped byte?); value not shown",
            value="***",
            field=what,
        )


def check_credential(value: object, what: str) -> None:
    """The one check for every credential (``token``, ``user``, ``password``, an API key, ``MILVUS_TOKEN``;
    ``None`` means not given): a non-blank string, encodable as UTF-8, without control characters (a newline read
    from a file with the token). The error names ``what``, never the value (``value="***"``)."""
    if value is None:
        return
    check_secret_text(value, what)
    assert isinstance(value, str)
    if not value.strip():
        raise InvalidInputError(
            f"{what} is empty or blank; leave it out (None) to send no credentials", value="***", field=what
        )
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise InvalidInputError(
            f"{what} holds a control character such as NUL or a line break (read from a file with its newline?); "
            "value not shown",
            value="***",
            field=what,
        )
