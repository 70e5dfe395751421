"""How a client connects: the target, TLS material, auth and channel options, decided once (no RPCs here)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from ._calls import Identity
from ._errors import InvalidInputError
from ._uri import Target, authorization_value, parse_uri

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


def _read_pem(source: PemSource | None, what: str) -> bytes | None:
    if source is None:
        return None
    if isinstance(source, bytes):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidInputError(f"{what} must be a file path or PEM bytes, got {type(source).__name__}", field=what)
    path = Path(source)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {what} file {str(path)!r}: {exc.strerror}", value=str(path), field=what
        ) from None


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

    def key(self) -> tuple[bytes | None, bytes | None, bytes | None, str | None]:
        return (self.root_certificates, self.certificate_chain, self.private_key, self.server_name)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)


class ConnectionConfig:
    """Everything needed to open a channel and talk to one server. Holds secrets; it has no repr of its own."""

    __slots__ = ("channel_options", "db_name", "password", "target", "tls", "token", "user")

    def __init__(
        self,
        target: Target,
        tls: TLSConfig | None,
        channel_options: tuple[tuple[str, Any], ...],
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        db_name: str | None = None,
    ) -> None:
        self.target = target
        self.tls = tls
        self.channel_options = channel_options
        self.token = token
        self.user = user
        self.password = password
        self.db_name = db_name

    def identity(self) -> Identity:
        user = self.user if self.user is not None else self.target.user
        password = self.password if self.password is not None else self.target.password
        authorization = authorization_value(token=self.token, user=user, password=password)
        return Identity(authorization, self.db_name or self.target.db_name)

    def cache_key(self) -> tuple[Any, ...]:
        """Channels are shared per (address, TLS material, channel options); credentials travel as metadata."""
        return (self.target.address, self.tls.key() if self.tls else None, self.channel_options)


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
    database), ``MILVUS_URI`` is not read, and TLS or channel options cannot apply (they belong to the channel)."""
    if for_channel:
        given = [
            name
            for name, value in (
                ("secure", secure),
                ("ca_cert", ca_cert),
                ("client_cert", client_cert),
                ("client_key", client_key),
                ("server_name", server_name),
                ("channel_options", channel_options),
            )
            if value is not None
        ]
        if given:
            raise InvalidInputError(
                f"{', '.join(given)} cannot apply to a channel you pass: configure TLS and channel options when "
                "you create the channel (grpc.secure_channel(...)), or pass a URI instead of a channel",
                value=given[0],
                field=given[0],
            )
        if uri is None or (isinstance(uri, str) and not uri.strip()):
            uri = None
    if for_channel and uri is None:
        target = Target(address="", secure=False, display=USER_CHANNEL)
    elif uri is None or (isinstance(uri, str) and not uri.strip()):
        uri = os.environ.get("MILVUS_URI", "")
        if not uri.strip():
            raise InvalidInputError(
                "no Milvus URI: pass uri='http://host:19530' (or put it in the option) or set MILVUS_URI",
                value=uri,
                field="uri",
            )
        target = parse_uri(uri)
    else:
        target = parse_uri(uri)
    if token is None and user is None and target.user is None:
        token = os.environ.get("MILVUS_TOKEN") or None
    if (user is None) != (password is None) and target.user is None:
        raise InvalidInputError("user and password go together: pass both or neither", value=user, field="user")
    for name, value in (("db_name", db_name), ("server_name", server_name)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidInputError(f"{name} must be a non-empty string, got {value!r}", value=value, field=name)
    if (client_cert is None) != (client_key is None):
        raise InvalidInputError(
            "mutual TLS needs both client_cert and client_key", value="client_cert/client_key", field="client_cert"
        )
    tls_given = any(v is not None for v in (ca_cert, client_cert, client_key, server_name))
    if secure is False and tls_given:
        raise InvalidInputError("secure=False contradicts the TLS options given", value=secure, field="secure")
    use_tls = secure if secure is not None else (target.secure or tls_given)
    if use_tls and target.address.startswith("unix:"):
        raise InvalidInputError(f"TLS over a unix socket is not supported: {target.display!r}", value=target.display)
    tls = None
    if use_tls:
        tls = TLSConfig(
            root_certificates=_read_pem(ca_cert, "ca_cert"),
            certificate_chain=_read_pem(client_cert, "client_cert"),
            private_key=_read_pem(client_key, "client_key"),
            server_name=server_name,
        )
    options = dict(DEFAULT_CHANNEL_OPTIONS)
    for entry in channel_options or ():
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
            raise InvalidInputError(
                f"channel_options entries must be (name, value) tuples, got {entry!r}",
                value=entry,
                field="channel_options",
            )
        options[entry[0]] = entry[1]
    if tls is not None and tls.server_name:
        options.setdefault("grpc.ssl_target_name_override", tls.server_name)
    return ConnectionConfig(
        target=target,
        tls=tls,
        channel_options=tuple(options.items()),
        token=token,
        user=user,
        password=password,
        db_name=db_name,
    )
