"""How a client connects: the target, TLS material, auth and channel options, decided once (no RPCs here)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc

from ._errors import InvalidInputError
from ._identity import Identity, uses_env_token
from ._inputs import fspath_of, items_of
from ._names import check_milvus_name
from ._secrets import shown
from ._uri import CREDENTIALS_HINT, Target, check_credential, is_header_safe, parse_uri

#: Like pymilvus: no message size limits, keepalive every 10 s (5 s timeout), also without calls in flight.
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
)

PemSource = str | os.PathLike[str] | bytes

#: How a client over a channel of the caller's is shown when no URI names its server.
USER_CHANNEL = "<user-supplied channel>"


_PEM_MARKER = "-----BEGIN"
# A long run of base64 characters is key material pasted as text, not a file name: never echo it.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{40,}")
_PEM_TEXT_HINT = "looks like PEM text: pass it as bytes or a file path"


def _read_pem(source: PemSource | None, what: str) -> bytes | None:
    """The PEM bytes of ``source`` (PEM bytes, or the path of a PEM file).

    Raises :class:`InvalidInputError` for anything else; the message never shows key material: PEM text given where a
    path is expected, or text that looks like base64, is described, not quoted.
    """
    if source is None:
        return None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if _PEM_MARKER.encode() not in data:
            raise InvalidInputError(
                f"{what} bytes hold no PEM block (no '{_PEM_MARKER}' line); pass the PEM file's content or its path",
                value="***",
                field=what,
            )
        return data
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidInputError(
            f"{what} must be a file path or PEM bytes, got {type(source).__name__}",
            value=type(source).__name__,
            field=what,
        )
    name = fspath_of(source, what, what) if isinstance(source, os.PathLike) else str.__str__(source)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if _PEM_MARKER in name:
        raise InvalidInputError(f"{what} {_PEM_TEXT_HINT} (content not shown)", value="***", field=what)
    if not name.strip() or "\0" in name or "\n" in name or "\r" in name or _BASE64_RUN.search(name):
        raise InvalidInputError(
            f"{what} is not a usable file path (empty, or holding NUL, line breaks or a long base64 run, so it is "
            "not shown); pass a file path or the PEM content as bytes",
            value="***",
            field=what,
        )
    shown_name = _shown_pem_path(name, what)
    try:
        data = Path(name).read_bytes()
        unreadable = None
    except OSError as exc:
        unreadable = exc.strerror or type(exc).__name__
    except UnicodeError:  # a lone surrogate: no file system name can hold it
        unreadable = "the path cannot be encoded as a file name"
    if unreadable is not None:
        # Raised outside the except block: the OSError (kept as __context__ otherwise) names the file, which for
        # key text pasted as a path is the key itself.
        raise InvalidInputError(f"cannot read {what} file {shown_name}: {unreadable}", value=shown_name, field=what)
    if _PEM_MARKER.encode() not in data:
        raise InvalidInputError(
            f"{what} file {shown_name} holds no PEM block (no '{_PEM_MARKER}' line); gRPC needs PEM, not DER",
            value=shown_name,
            field=what,
        )
    return data


def _shown_pem_path(name: str, what: str) -> str:
    """How the path of a PEM file (``ca_cert``, ``client_cert``, ``client_key``: key text may be pasted into any of
    them by mistake) is named in a message: only when it cannot be key text. Key text is base64 (letters, digits,
    '+', '/', '='), maybe padded or garbled, never with a '.': a name with a '.' (``client.key``, ``./ca.pem``) and
    no white space is shown, anything else is not."""
    if "." not in name or any(ch.isspace() for ch in name):
        return "(name not shown: it may be key text)"
    return repr(name)


def _check_optional_text(value: object, what: str, *, header: bool = False) -> str | None:
    """``value`` is None or a non-blank string (returned as a plain ``str``); a ``header`` value must also be
    printable ASCII."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{what} must be a string, got {type(value).__name__} {shown(value)}", value=value, field=what
        )
    value = str.__str__(value)
    if not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string, got {value!r}", value=value, field=what)
    if header and not is_header_safe(value):
        raise InvalidInputError(
            f"{what} {value!r} must be printable ASCII (it travels in a gRPC header)", value=value, field=what
        )
    return value


def check_credentials(token: object, user: object, password: object) -> None:
    """Credentials given as arguments, each by the one credential rule (``_uri.check_credential``)."""
    for what, value in (("token", token), ("user", user), ("password", password)):
        check_credential(value, what)


class TLSConfig:
    """TLS material: ``root_certificates`` None means the system roots. ``repr`` never shows the private key."""

    __slots__ = ("certificate_chain", "private_key", "root_certificates", "server_name")

    def __init__(
        self,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        server_name: str | None = None,
    ) -> None:
        self.root_certificates = root_certificates
        self.certificate_chain = certificate_chain
        self.private_key = private_key
        self.server_name = server_name

    def __repr__(self) -> str:
        return (
            f"TLSConfig(custom_roots={self.root_certificates is not None}, mutual={self.private_key is not None}, "
            f"server_name={self.server_name!r})"
        )

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)


class ConnectionConfig:
    """Everything needed to open a channel and talk to one server. Holds secrets; it has no repr of its own."""

    __slots__ = ("channel_options", "identity", "target", "tls")

    def __init__(
        self,
        target: Target,
        tls: TLSConfig | None,
        channel_options: tuple[tuple[str, Any], ...],
        identity: Identity,
    ) -> None:
        self.target = target
        self.tls = tls
        self.channel_options = channel_options
        self.identity = identity


def check_identity_inputs(*, token: object, user: object, password: object, db_name: object) -> str | None:
    """The checks ``resolve`` makes on credentials and the database name, for a client over a user's channel too
    (which never calls ``resolve``): typed, encodable, non-empty; ``db_name`` printable ASCII (a gRPC header).
    Returns ``db_name`` as a plain ``str``."""
    check_credentials(token, user, password)
    checked = _check_optional_text(db_name, "db_name", header=True)
    if checked is not None:
        check_milvus_name(checked, "database name")
    return checked


def resolve(
    uri: str | None,
    *,
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
    db_name: str | None = None,
    secure: bool | None = None,
    ca_cert: PemSource | None = None,
    client_cert: PemSource | None = None,
    client_key: PemSource | None = None,
    server_name: str | None = None,
    channel_options: Sequence[tuple[str, Any]] | None = None,
    for_channel: bool = False,
) -> ConnectionConfig:
    """Combine arguments, the URI and the environment (``MILVUS_URI``, ``MILVUS_TOKEN`` when arguments are absent).

    ``for_channel``: the caller brings its own channel, so the URI is optional (it still gives credentials and the
    database), ``MILVUS_URI`` is not read, and TLS or channel options cannot apply (they belong to the channel).
    Which credentials and database each RPC then uses is ``_identity.decide``'s rule."""
    if for_channel:
        _refuse_channel_settings(
            secure=secure,
            ca_cert=ca_cert,
            client_cert=client_cert,
            client_key=client_key,
            server_name=server_name,
            channel_options=channel_options,
        )
    target = _target(uri, for_channel=for_channel)
    identity = _identity_of(target, token=token, user=user, password=password, db_name=db_name)
    tls = _tls(
        target, secure=secure, ca_cert=ca_cert, client_cert=client_cert, client_key=client_key, server_name=server_name
    )
    return ConnectionConfig(
        target=target, tls=tls, channel_options=_channel_options(channel_options, tls), identity=identity
    )


def _refuse_channel_settings(**settings: object) -> None:
    """TLS and channel options belong to a channel the caller passes: giving them too is an error."""
    given = [name for name, value in settings.items() if value is not None]
    if given:
        raise InvalidInputError(
            f"{', '.join(given)} cannot apply to a channel you pass: configure TLS and channel options when "
            "you create the channel (grpc.secure_channel(...)), or pass a URI instead of a channel",
            value=given[0],
            field=given[0],
        )


def _target(uri: str | None, *, for_channel: bool) -> Target:
    """The URI given, else (without a channel of the caller's) ``MILVUS_URI``; with a channel, no URI is fine."""
    if uri is not None and not (isinstance(uri, str) and not uri.strip()):
        return parse_uri(uri)
    if for_channel:
        return Target(address="", secure=False, display=USER_CHANNEL)
    uri = os.environ.get("MILVUS_URI", "")
    if not uri.strip():
        raise InvalidInputError(
            "no Milvus URI: pass uri='http://host:19530' (or put it in the option) or set MILVUS_URI",
            value=uri,
            field="uri",
        )
    return parse_uri(uri)


def _identity_of(
    target: Target, *, token: str | None, user: str | None, password: str | None, db_name: str | None
) -> Identity:
    """The client's sources of credentials and database, each checked (``MILVUS_TOKEN`` read when it can matter)."""
    db_name = check_identity_inputs(token=token, user=user, password=password, db_name=db_name)
    env_token = None
    if uses_env_token(token=token, user=user, uri=target):
        env_token = os.environ.get("MILVUS_TOKEN") or None
        if env_token is not None:
            try:
                check_credentials(env_token, None, None)
            except InvalidInputError as error:
                raise InvalidInputError(f"MILVUS_TOKEN: {error.message}", value="***", field="MILVUS_TOKEN") from None
    if (user is None) != (password is None) and target.user is None:
        raise InvalidInputError("user and password go together: pass both or neither", value="***", field="user")
    if target.user is not None and target.password is None and password is None:
        raise InvalidInputError(
            f"the URI {target.display!r} has a user name but no password, so no credentials would be sent. "
            f"{CREDENTIALS_HINT}; or pass password=...",
            value=target.display,
            field="uri",
        )
    return Identity(token=token, user=user, password=password, db_name=db_name, uri=target, env_token=env_token)


def _tls(
    target: Target,
    *,
    secure: bool | None,
    ca_cert: PemSource | None,
    client_cert: PemSource | None,
    client_key: PemSource | None,
    server_name: str | None,
) -> TLSConfig | None:
    """TLS material when TLS is on: for an ``https``/``grpcs`` URI, ``secure=True``, or any TLS argument."""
    server_name = _check_optional_text(server_name, "server_name", header=True)
    if secure is not None and not isinstance(secure, bool):
        raise InvalidInputError(
            f"secure must be True, False or None, got {type(secure).__name__} {shown(secure)}",
            value=secure,
            field="secure",
        )
    if (client_cert is None) != (client_key is None):
        raise InvalidInputError(
            "mutual TLS needs both client_cert and client_key", value="client_cert/client_key", field="client_cert"
        )
    tls_given = any(v is not None for v in (ca_cert, client_cert, client_key, server_name))
    if secure is False and tls_given:
        raise InvalidInputError("secure=False contradicts the TLS options given", value=secure, field="secure")
    use_tls = secure if secure is not None else (target.secure or tls_given)
    if not use_tls:
        return None
    if target.address.startswith("unix:"):
        raise InvalidInputError(f"TLS over a unix socket is not supported: {target.display!r}", value=target.display)
    return TLSConfig(
        root_certificates=_read_pem(ca_cert, "ca_cert"),
        certificate_chain=_read_pem(client_cert, "client_cert"),
        private_key=_read_pem(client_key, "client_key"),
        server_name=server_name,
    )


def _is_channel_option_value(value: object) -> bool:
    if isinstance(value, int):  # bools too: gRPC reads them as 0/1
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return -(2.0**63) <= value < 2.0**63  # NaN fails too
    return isinstance(value, (str, bytes))


def _channel_options(channel_options: object, tls: TLSConfig | None) -> tuple[tuple[str, Any], ...]:
    """The defaults, overridden by the caller's (name, value) pairs; a TLS ``server_name`` becomes the override."""
    options = dict(DEFAULT_CHANNEL_OPTIONS)
    if channel_options is not None and (
        isinstance(channel_options, (str, bytes)) or not isinstance(channel_options, Iterable)
    ):
        raise InvalidInputError(
            f"channel_options must be a sequence of (name, value) tuples, got {type(channel_options).__name__}",
            value=type(channel_options).__name__,
            field="channel_options",
        )
    entries = [] if channel_options is None else items_of(channel_options, "channel_options", "channel_options")
    for entry in entries:
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
            raise InvalidInputError(
                f"channel_options entries must be (name, value) tuples, got {shown(entry)}",
                value=entry,
                field="channel_options",
            )
        name, value = entry
        if not (name.isascii() and name.isprintable() and name) or not _is_channel_option_value(value):
            raise InvalidInputError(
                f"channel option {shown(name)} must have a printable ASCII name and a str, bytes or 64-bit int "
                f"value (what gRPC takes), got {type(value).__name__} {shown(value)}",
                value=(name, value),
                field="channel_options",
            )
        options[name] = value
    if tls is not None and tls.server_name:
        options.setdefault("grpc.ssl_target_name_override", tls.server_name)
    return tuple(options.items())
