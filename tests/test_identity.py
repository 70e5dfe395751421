"""Whose credentials and which database: every precedence case of the one rule (``_identity.decide``), driven
through the client's own resolution (``resolve``: URI, arguments, MILVUS_TOKEN, a channel of the caller's), the
option's layer and the call options, as one table."""

from __future__ import annotations

import base64
from typing import Any

import grpc
import pytest

import pymilvus_import as pi
from pymilvus_import._calls import CallOptions
from pymilvus_import._connection import resolve
from pymilvus_import._identity import decide


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CREDS = grpc.access_token_call_credentials("per-call")

# (case, client kwargs (uri + arguments; "channel": a channel of the caller's), MILVUS_TOKEN, option layer
#  (uri, api_key, database) or None, call metadata, per-call credentials?, expected authorization, expected database)
ROWS: list[tuple[str, dict[str, Any], str | None, dict[str, Any] | None, tuple[Any, ...], bool, str | None, str]] = [
    ("nothing given", {"uri": "http://h:19530"}, None, None, (), False, None, ""),
    ("URI credentials and database", {"uri": "http://u:p@h:19530/db1"}, None, None, (), False, b64("u:p"), "db1"),
    ("token argument", {"uri": "http://h:19530", "token": "T0K"}, None, None, (), False, b64("T0K"), ""),
    (
        "user and password arguments",
        {"uri": "http://h", "user": "a", "password": "b"},
        None,
        None,
        (),
        False,
        b64("a:b"),
        "",
    ),
    (
        "token argument wins over URI credentials",
        {"uri": "http://u:p@h/db1", "token": "T0K"},
        None,
        None,
        (),
        False,
        b64("T0K"),
        "db1",
    ),
    (
        "password argument completes the URI user",
        {"uri": "http://u@h", "password": "pw"},
        None,
        None,
        (),
        False,
        b64("u:pw"),
        "",
    ),
    (
        "user and password arguments win over URI credentials",
        {"uri": "http://u:p@h", "user": "a", "password": "b"},
        None,
        None,
        (),
        False,
        b64("a:b"),
        "",
    ),
    (
        "db_name argument wins over the URI path",
        {"uri": "http://h/db1", "db_name": "db2"},
        None,
        None,
        (),
        False,
        None,
        "db2",
    ),
    ("MILVUS_TOKEN when nothing else is given", {"uri": "http://h"}, "ENV-T0K", None, (), False, b64("ENV-T0K"), ""),
    (
        "MILVUS_TOKEN loses to the token argument",
        {"uri": "http://h", "token": "T0K"},
        "ENV-T0K",
        None,
        (),
        False,
        b64("T0K"),
        "",
    ),
    (
        "MILVUS_TOKEN loses to user/password",
        {"uri": "http://h", "user": "a", "password": "b"},
        "ENV-T0K",
        None,
        (),
        False,
        b64("a:b"),
        "",
    ),
    ("MILVUS_TOKEN loses to URI credentials", {"uri": "http://u:p@h"}, "ENV-T0K", None, (), False, b64("u:p"), ""),
    ("a channel of the caller's, no URI", {"channel": True}, None, None, (), False, None, ""),
    ("a channel of the caller's with MILVUS_TOKEN", {"channel": True}, "ENV-T0K", None, (), False, b64("ENV-T0K"), ""),
    (
        "a channel of the caller's: the URI still gives credentials and database",
        {"channel": True, "uri": "http://u:p@h/db1"},
        None,
        None,
        (),
        False,
        b64("u:p"),
        "db1",
    ),
    (
        "a channel of the caller's with arguments",
        {"channel": True, "token": "T0K", "db_name": "db2"},
        None,
        None,
        (),
        False,
        b64("T0K"),
        "db2",
    ),
    (
        "option API key wins over every client source",
        {"uri": "http://u:p@h/db1", "token": "T0K"},
        "ENV-T0K",
        {"api_key": "opt-key"},
        (),
        False,
        b64("opt-key"),
        "db1",
    ),
    (
        "option URI credentials win over the client's",
        {"uri": "http://h", "token": "T0K"},
        None,
        {"uri": "http://ou:op@h/odb"},
        (),
        False,
        b64("ou:op"),
        "odb",
    ),
    (
        "option API key wins over the option URI",
        {"uri": "http://h"},
        None,
        {"uri": "http://ou:op@h", "api_key": "opt-key"},
        (),
        False,
        b64("opt-key"),
        "",
    ),
    (
        "option database wins over the option URI path",
        {"uri": "http://h/db1", "db_name": "db2"},
        None,
        {"uri": "http://h/odb", "database": "opt_db"},
        (),
        False,
        None,
        "opt_db",
    ),
    (
        "option URI path wins over the client's database",
        {"uri": "http://h/db1", "db_name": "db2"},
        None,
        {"uri": "http://h/odb"},
        (),
        False,
        None,
        "odb",
    ),
    ("option without URI: the client's sources", {"uri": "http://u:p@h/db1"}, None, {}, (), False, b64("u:p"), "db1"),
    (
        "per-call credentials: no authorization header",
        {"uri": "http://u:p@h/db1", "token": "T0K"},
        "ENV-T0K",
        {"api_key": "k"},
        (),
        True,
        None,
        "db1",
    ),
    (
        "caller's authorization entry: sent as given, ours not added",
        {"uri": "http://u:p@h"},
        None,
        {"api_key": "k"},
        (("authorization", "mine"),),
        False,
        "mine",
        "",
    ),
    (
        "caller's dbname entry wins everywhere",
        {"uri": "http://h/db1", "db_name": "db2"},
        None,
        {"uri": "http://h/odb", "database": "opt_db"},
        (("dbname", "theirs"),),
        False,
        None,
        "theirs",
    ),
    (
        "caller's entries come first, ours after",
        {"uri": "http://u:p@h/db1"},
        None,
        None,
        (("x-a", "1"),),
        False,
        b64("u:p"),
        "db1",
    ),
]


def client_identity(client: dict[str, Any], env_token: str | None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("MILVUS_URI", raising=False)
    if env_token is None:
        monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MILVUS_TOKEN", env_token)
    kwargs = dict(client)
    for_channel = bool(kwargs.pop("channel", False))
    return resolve(kwargs.pop("uri", None), for_channel=for_channel, **kwargs).identity


@pytest.mark.parametrize(
    ("client", "env_token", "layer", "metadata", "credentials", "authorization", "db_name"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_whose_credentials_and_which_database(
    monkeypatch: pytest.MonkeyPatch,
    client: dict[str, Any],
    env_token: str | None,
    layer: dict[str, Any] | None,
    metadata: tuple[Any, ...],
    credentials: bool,
    authorization: str | None,
    db_name: str,
) -> None:
    identity = client_identity(client, env_token, monkeypatch)
    if layer is not None:
        option = pi.new_bulk_import_option(layer.get("uri", ""), "books", [["/d/a.json"]])
        if "api_key" in layer:
            option = option.with_api_key(layer["api_key"])
        if "database" in layer:
            option = option.with_database(layer["database"])
        identity = identity.for_option(option)
    call = CallOptions(metadata=metadata, credentials=CREDS if credentials else None)
    decided_db, sent = decide(identity, call)
    assert decided_db == db_name
    headers = [key for key, _ in sent]
    assert headers.count("authorization") == (1 if authorization else 0)
    assert dict(sent).get("authorization") == authorization
    assert dict(sent).get("dbname") == (db_name or None)
    assert sent[: len(metadata)] == metadata  # the caller's entries first, untouched
    assert "T0K" not in repr(identity) and (authorization is None or authorization not in repr(identity))


def test_a_bad_milvus_token_matters_only_when_it_would_be_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_TOKEN", "bad\ntoken")
    assert decide(resolve("http://h", token="T0K").identity, CallOptions())[1] == (("authorization", b64("T0K")),)
    with pytest.raises(pi.InvalidInputError, match="MILVUS_TOKEN") as refused:
        resolve("http://h")
    assert "bad" not in str(refused.value) and refused.value.value == "***"
