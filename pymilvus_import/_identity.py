"""Whose credentials and which database: the one rule, for every RPC of every call (pure, no I/O).

A client is given credentials and a database in several places; :func:`decide` is the only code that chooses
among them. Highest first:

``authorization`` (the gRPC header Milvus authenticates with):

1. the caller's own ``authorization`` metadata entry: sent as given, the client adds none;
2. per-call ``credentials`` (``grpc.CallCredentials``): the client adds none (Milvus reads the first
   ``authorization`` header, so sending ours too would let ours win);
3. the option's API key (``with_api_key``);
4. the option's URI ``user:password@``;
5. the client's ``token`` argument;
6. the client's ``user`` / ``password`` arguments, each falling back to the client URI's ``user:password@``;
7. ``MILVUS_TOKEN`` (read by the client only when none of token, user or URI user is given).

The database (the ``dbname`` header and the requests' ``db_name``, so the two never disagree):

1. the caller's ``dbname`` metadata entry;
2. the option's ``with_database``;
3. the option's URI path;
4. the client's ``db_name`` argument;
5. the client URI's path;
6. none (``""``): the server's default database.

A client over a channel of the caller's follows the same rule; without a URI it just has no URI layer.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ._uri import Target, authorization_value, parse_uri

if TYPE_CHECKING:
    from ._calls import CallOptions, Metadata
    from ._options import BulkImportOption


class Identity:
    """What one client (and, for one import call, its option) was given about who calls and where.

    Holds secrets: ``repr`` shows only which sources are set. ``_connection.resolve`` builds a client's (after
    checking each source); :meth:`for_option` adds an option's layer for the RPCs of one import call."""

    __slots__ = ("db_name", "env_token", "option", "password", "token", "uri", "user")

    def __init__(
        self,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        db_name: str | None = None,
        uri: Target | None = None,
        env_token: str | None = None,
        option: BulkImportOption | None = None,
    ) -> None:
        self.token = token
        self.user = user
        self.password = password
        self.db_name = db_name
        self.uri = uri
        self.env_token = env_token
        self.option = option

    def for_option(self, option: BulkImportOption) -> Identity:
        """This identity with ``option``'s API key, database and URI as the call's layer (see :func:`decide`)."""
        if self.option is option:
            return self
        return Identity(
            token=self.token,
            user=self.user,
            password=self.password,
            db_name=self.db_name,
            uri=self.uri,
            env_token=self.env_token,
            option=option,
        )

    def __repr__(self) -> str:
        masked = ", ".join(
            f"{name}={'***' if getattr(self, name) is not None else None}"
            for name in ("token", "user", "password", "env_token")
        )
        return f"Identity({masked}, db_name={_db_name(self, ())!r})"


def uses_env_token(*, token: str | None, user: str | None, uri: Target | None) -> bool:
    """Whether ``MILVUS_TOKEN`` can matter: only when no token, no user and no URI user is given (rule step 7)."""
    return token is None and user is None and (uri is None or uri.user is None)


@functools.lru_cache(maxsize=32)
def _header(token: str | None, user: str | None, password: str | None) -> str | None:
    # The same credentials come back on every RPC: encode them once.
    return authorization_value(token=token, user=user, password=password)


@functools.lru_cache(maxsize=32)
def _option_target(uri: str) -> Target:
    # An option's URI is parsed on every import call; the same few URIs come back, so keep their targets.
    return parse_uri(uri)


def _layers(identity: Identity) -> tuple[Target | None, BulkImportOption | None]:
    option = identity.option
    option_uri = _option_target(option.uri) if option is not None and option.uri.strip() else None
    return option_uri, option


def _authorization(identity: Identity, option_uri: Target | None, option: BulkImportOption | None) -> str | None:
    if option is not None and option.api_key:
        return _header(option.api_key, None, None)
    if option_uri is not None and option_uri.user is not None and option_uri.password is not None:
        return _header(None, option_uri.user, option_uri.password)
    if identity.token:
        return _header(identity.token, None, None)
    uri = identity.uri
    user = identity.user if identity.user is not None else (uri.user if uri else None)
    password = identity.password if identity.password is not None else (uri.password if uri else None)
    if user is not None and password is not None:
        return _header(None, user, password)
    if identity.env_token:
        return _header(identity.env_token, None, None)
    return None


def _db_name(identity: Identity, metadata: Metadata) -> str:
    for key, value in metadata:
        if key == "dbname":
            if isinstance(value, str) and value:
                return value
            break
    option_uri, option = _layers(identity)
    for candidate in (
        option.db_name if option is not None else None,
        option_uri.db_name if option_uri is not None else None,
        identity.db_name,
        identity.uri.db_name if identity.uri is not None else None,
    ):
        if candidate:
            return candidate
    return ""


def decide(identity: Identity, call: CallOptions) -> tuple[str, Metadata]:
    """The database and the metadata of every RPC of a call: the caller's entries, then ``authorization`` and
    ``dbname`` as the rule above chooses them (each left out when the caller set it)."""
    db_name = _db_name(identity, call.metadata)
    keys = {key for key, _ in call.metadata}
    extra: list[tuple[str, str | bytes]] = []
    if call.credentials is None and "authorization" not in keys:
        option_uri, option = _layers(identity)
        authorization = _authorization(identity, option_uri, option)
        if authorization:
            extra.append(("authorization", authorization))
    if db_name and "dbname" not in keys:
        extra.append(("dbname", db_name))
    return db_name, call.metadata + tuple(extra)
