"""The secrets half of the contract (issue 18): a planted secret — a token, a password, an API key, PEM key text of
any length, a secret option value, a secret-looking metadata value, in any shape (valid, padded, with a control
character, a surrogate, as bytes, inside a container) — never appears in any str/repr of what a call returns or
raises, in an error's ``.value`` or attributes, its chain and traceback, or in a log record, whatever parameter
carried it. Every outcome also meets the rest of the contract (``contract.Verdicts``: package errors only, before
any RPC for input errors, pickle/deepcopy/process-pool round trips).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import string
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from urllib.parse import quote

import contract
import pytest
from contract import Context, Verdicts
from helpers import exception_texts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pymilvus_import as pi

pytestmark = pytest.mark.test_server(version="v2.6.24")

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Every planted secret holds this, so finding it anywhere is a leak (a short random secret could match by chance).
MARK = "Kq9Zt"
BASE64 = string.ascii_letters + string.digits + "+/"


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with contract.process_pool() as executor:
        yield executor


@pytest.fixture
def ctx(server: Any) -> Iterator[Context]:
    with contract.opened(server) as opened:
        yield opened


# ------------------------------------------------------------------------------------------ secrets, in shapes
@st.composite
def secrets(draw: st.DrawFn) -> str:
    """A secret text: the mark, then letters, digits and '-_~+/=' (what tokens and key text are made of), 8-60
    characters."""
    body = draw(st.text(string.ascii_letters + string.digits + "-_~+/=", min_size=3, max_size=55))
    return MARK + body


#: How a secret may arrive: as it is, or broken the ways that make a check refuse it.
SHAPES: dict[str, Callable[[str], Any]] = {
    "as is": lambda s: s,
    "newline": lambda s: s + "\n",
    "padded": lambda s: f"  {s} ",
    "NUL": lambda s: s[:4] + "\0" + s[4:],
    "surrogate": lambda s: s + "\udcff",
    "non-ASCII": lambda s: s + "é",
    "bytes": lambda s: s.encode(),
    "non-UTF-8 bytes": lambda s: s.encode() + b"\xff",
    "in a list": lambda s: [s],
    "in a tuple": lambda s: (s, s),
}


@st.composite
def pem_key_texts(draw: st.DrawFn) -> tuple[str, Any]:
    """PEM private-key text of any length, as str or bytes, with or without its BEGIN/END lines: (mark, value)."""
    body = MARK + draw(st.text(BASE64, min_size=1, max_size=5000))
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    text = draw(
        st.sampled_from(
            [
                body,
                lines,
                f"-----BEGIN PRIVATE KEY-----\n{lines}\n-----END PRIVATE KEY-----\n",
                f"-----BEGIN EC PRIVATE KEY-----\n{lines}",
            ]
        )
    )
    return body, draw(st.sampled_from([text, text.encode()]))


def forms(secret: str) -> list[str]:
    """Every way a secret could show: itself, escaped, percent-encoded, base64 (of itself or as user:password),
    and its distinctive part alone."""
    shown = {secret, repr(secret)[1:-1], ascii(secret)[1:-1], quote(secret, safe=""), MARK}
    for raw in (secret, f"u:{secret}"):
        with contextlib.suppress(UnicodeEncodeError):
            shown.add(base64.b64encode(raw.encode()).decode())
    return sorted(shown)


# ------------------------------------------------------------------------------------------ where secrets go
CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _client(ctx: Context, *, uri: str | None = None, **arguments: Any) -> tuple[str, str]:
    """Build a client with ``arguments``, make one RPC, and return what a user reads of it."""
    with pi.ImportClient(uri or ctx.server.uri, retry=contract.FAST, **arguments) as client:
        return repr(client), client.server_version(timeout=5)


def _async_client(ctx: Context, **arguments: Any) -> tuple[str, str]:
    async def run() -> tuple[str, str]:
        async with pi.AsyncImportClient(ctx.server.uri, retry=contract.FAST, **arguments) as client:
            return repr(client), await client.server_version(timeout=5)

    return ctx.run(run())


def _import(ctx: Context, option: pi.BulkImportOption, **call: Any) -> tuple[str, ...]:
    shown = (repr(option), str(option))
    plan = ctx.client.bulk_import(option, dry_run=True, timeout=10, **call)
    response = ctx.client.bulk_import(option, timeout=10, **call)
    return (*shown, repr(plan), json.dumps(plan.to_dict()), repr(response))


def _call_everywhere(ctx: Context, **call: Any) -> tuple[Any, ...]:
    """The same call options on every RPC-backed method (each may refuse them: that outcome is checked too)."""
    response = ctx.client.bulk_import(ctx.option, timeout=10, **call)
    return (
        response,
        ctx.client.list_import_jobs(timeout=10, **call),
        ctx.client.server_version(timeout=10, **call),
        ctx.client.get_import_progress(response.job_id, timeout=10, **call),
        ctx.client.wait_for_import(response, poll_initial=0.001, poll_max=0.001, timeout=10, **call),
        ctx.run(ctx.aclient.list_import_jobs(timeout=10, **call)),
    )


def _storage(**arguments: Any) -> tuple[str, str]:
    """An ObjectStorage (no request is made): what a user reads of it. Arguments a URL's scheme does not use are
    left out (a gs:// URL takes none)."""
    given = {"url": "s3://bucket/prefix", "endpoint": "http://127.0.0.1:9", "access_key": "a", "secret_key": "b"}
    settings = {**given, **arguments}
    if str(settings["url"]).startswith("gs://"):
        settings = {"url": settings["url"], **{k: v for k, v in arguments.items() if k != "url"}}
    storage = pi.ObjectStorage(**settings)
    return repr(storage), str(storage)


AZURE = {"url": "az://bucket/prefix", "access_key": "account", "secret_key": "a2V5"}


def _as_base64_text(secret: Any) -> Any:
    """A text secret as a valid Azure account key (base64 text, the mark kept); other shapes as they are."""
    if not isinstance(secret, str):
        return secret
    kept = "".join(c for c in secret if c in BASE64)
    return kept + "=" * (-len(kept) % 4)


def _with_option(c: Context, s: Any, *, key: str) -> Any:
    return _import(c, c.option.with_option(key, s))


def _with_metadata(c: Context, s: Any, *, key: str) -> Any:
    return _call_everywhere(c, metadata=[(key, s)])


SECRET_OPTION_KEYS = ["ezk", "token", "password", "x-api-key", "secret_access_key", "MILVUS_PASSWORD", "sk"]
SECRET_METADATA_KEYS = ["authorization", "x-api-token", "x-milvus-token", "x-secret", "my-password", "cookie"]

#: Each parameter that can carry a secret: (ctx, the secret in its shape) -> what the user reads of the outcome.
SLOTS: dict[str, Callable[[Context, Any], Any]] = {
    "ImportClient(token=)": lambda c, s: _client(c, token=s),
    "AsyncImportClient(token=)": lambda c, s: _async_client(c, token=s),
    "ImportClient(password=)": lambda c, s: _client(c, user="root", password=s),
    "ImportClient(client_key=)": lambda c, s: _client(c, client_cert=CERT, client_key=s),
    "URI user:password@": lambda c, s: _client(c, uri=f"http://root:{s}@{c.server.address}"),
    "URI user:password@ percent-encoded": lambda c, s: _client(
        c,
        uri=f"http://root:{quote(s, safe='', errors='surrogatepass') if isinstance(s, str) else s}@{c.server.address}",
    ),
    "URI token@": lambda c, s: _client(c, uri=f"http://{s}@{c.server.address}"),
    "URI ?token=": lambda c, s: _client(c, uri=f"http://{c.server.address}?token={s}"),
    "URI as bytes with a password": lambda c, s: _client(
        c, uri=f"http://root:{s}@{c.server.address}".encode("utf-8", "surrogateescape")
    ),
    "new_bulk_import_option(uri=user:password@)": lambda c, s: _import(
        c, pi.new_bulk_import_option(f"http://root:{s}@{c.server.address}", "coll", contract.FILES)
    ),
    "option URI naming another server, with a password": lambda c, s: _import(
        c, pi.new_bulk_import_option(f"http://root:{s}@127.0.0.1:1", "coll", contract.FILES)
    ),
    "ObjectStorage(secret_key=)": lambda c, s: _storage(secret_key=s),
    "ObjectStorage(access_key=)": lambda c, s: _storage(access_key=s),
    "ObjectStorage(session_token=)": lambda c, s: _storage(session_token=s),
    "ObjectStorage(az://, secret_key=)": lambda c, s: _storage(**{**AZURE, "secret_key": s}),
    "ObjectStorage(az://, secret_key= base64)": lambda c, s: _storage(**{**AZURE, "secret_key": _as_base64_text(s)}),
    "ObjectStorage(az://, access_key=)": lambda c, s: _storage(**{**AZURE, "access_key": s}),
    "ObjectStorage(az://, session_token=)": lambda c, s: _storage(**{**AZURE, "session_token": s}),
    "ObjectStorage(gs://, secret_key=)": lambda c, s: _storage(url="gs://bucket/prefix", secret_key=s),
    "with_api_key": lambda c, s: _import(c, c.option.with_api_key(s)),
    "BulkImportOption(api_key=)": lambda c, s: _import(
        c, pi.BulkImportOption("", "coll", (("/d/a.json",),), api_key=s)
    ),
    **{f"with_option({key!r}, )": functools.partial(_with_option, key=key) for key in SECRET_OPTION_KEYS},
    "BulkImportOption(options=)": lambda c, s: _import(
        c, pi.BulkImportOption("", "coll", (("/d/a.json",),), options=(("ezk", s),))
    ),
    **{f"metadata=[({key!r}, )]": functools.partial(_with_metadata, key=key) for key in SECRET_METADATA_KEYS},
    "metadata=[('x-api-key-bin', )]": lambda c, s: _call_everywhere(c, metadata=[("x-api-key-bin", s)]),
    "metadata entry as a list": lambda c, s: _call_everywhere(c, metadata=[["authorization", s]]),
    "metadata entry of three": lambda c, s: _call_everywhere(c, metadata=[("x-api-token", s, "extra")]),
    "metadata as text": lambda c, s: _call_everywhere(c, metadata=f"authorization={s}"),
    "metadata as a dict": lambda c, s: _call_everywhere(c, metadata={"authorization": s}),
}
#: Slots that take text only (the environment cannot hold bytes, NUL or surrogates).
ENVIRONMENT = "MILVUS_TOKEN"


def leaks(secret: str, verdicts: Verdicts, records: list[logging.LogRecord]) -> list[str]:
    """Where any form of ``secret`` shows in an outcome or a log record."""
    found: list[str] = []
    texts: list[tuple[str, str]] = []
    for outcome in verdicts.outcomes:
        if isinstance(outcome, BaseException):
            texts += [("error", text) for text in exception_texts(outcome)]
            texts.append(("error .value", repr(getattr(outcome, "value", None))))
        else:
            texts += [("value", repr(outcome)), ("value", str(outcome))]
    for record in records:
        texts.append((f"log {record.name}", record.getMessage()))
        if record.exc_info:
            texts.append((f"log {record.name}", "".join(traceback.format_exception(*record.exc_info))))
    for where, text in texts:
        for form in forms(secret):
            if form in text:
                found.append(f"{where}: {form!r} in {text[:300]!r}")
                break
    return found


@pytest.mark.parametrize("slot", sorted(SLOTS))
def test_a_planted_secret_never_shows(
    slot: str, ctx: Context, pool: ProcessPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    verdicts = Verdicts(ctx.server)
    found: list[str] = []

    @EXAMPLES
    @given(secret=secrets(), shape=st.sampled_from(sorted(SHAPES)))
    def planted(secret: str, shape: str) -> None:
        verdicts.outcomes.clear()
        caplog.clear()
        value = SHAPES[shape](secret)
        verdicts.call(f"{slot} <- {shape}", lambda: SLOTS[slot](ctx, value), {}, None, ctx)
        found.extend(f"{slot} <- {shape}: {leak}" for leak in leaks(secret, verdicts, caplog.records))

    planted()
    verdicts.through_pool(pool)
    assert not found, "\n".join(dict.fromkeys(found))
    assert not verdicts.failures, verdicts.report()


@EXAMPLES
@given(key=pem_key_texts(), where=st.sampled_from(["client_key", "client_cert", "ca_cert"]))
def test_pem_key_text_of_any_length_never_shows(
    key: tuple[str, Any], where: str, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    """Key text (with or without its PEM lines, 1 to 5,000 characters, str or bytes) passed as any TLS argument."""
    mark, value = key
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    verdicts = Verdicts(ctx.server)
    arguments = {"client_cert": CERT, "client_key": CERT} if where != "ca_cert" else {}
    arguments[where] = value
    verdicts.call(where, lambda: _client(ctx, **arguments), {}, None, ctx)
    assert not leaks(mark, verdicts, caplog.records)
    assert not verdicts.failures, verdicts.report()


@EXAMPLES
@given(secret=secrets(), shape=st.sampled_from(["as is", "padded", "newline-free tail"]))
def test_a_secret_in_milvus_token_never_shows(
    secret: str, shape: str, ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    monkeypatch.setenv(ENVIRONMENT, {"as is": secret, "padded": f" {secret} "}.get(shape, secret + "\t"))
    verdicts = Verdicts(ctx.server)
    verdicts.call(ENVIRONMENT, lambda: _client(ctx), {}, None, ctx)
    verdicts.call(f"{ENVIRONMENT} module-level", lambda: pi.list_import_jobs(ctx.server.uri, timeout=5), {}, None, ctx)
    assert not leaks(secret, verdicts, caplog.records)
    assert not verdicts.failures, verdicts.report()


@EXAMPLES
@given(secret=secrets(), userinfo=st.sampled_from(["root:{}@", "{}@", "{}:@", ":{}@"]))
def test_a_secret_in_milvus_uri_never_shows(
    secret: str, userinfo: str, ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """MILVUS_URI with credentials in it (a usable user:password@, or a token where a user name goes)."""
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    monkeypatch.setenv("MILVUS_URI", f"http://{userinfo.format(secret)}{ctx.server.address}")
    verdicts = Verdicts(ctx.server)
    verdicts.call("MILVUS_URI", lambda: pi.ImportClient(retry=contract.FAST), {}, _first_rpc_shown, ctx)
    verdicts.call("MILVUS_URI module-level", lambda: pi.list_import_jobs(None, timeout=5), {}, None, ctx)
    option = pi.new_bulk_import_option("", "coll", contract.FILES)
    verdicts.call("MILVUS_URI dry run", lambda: pi.bulk_import(option, dry_run=True, timeout=5), {}, None, ctx)
    assert not leaks(secret, verdicts, caplog.records)
    assert not verdicts.failures, verdicts.report()


def _first_rpc_shown(ctx: Context, client: pi.ImportClient) -> tuple[str, str]:
    with client:
        return repr(client), client.server_version(timeout=5)


def test_an_object_storage_endpoint_password_holding_a_slash_never_shows() -> None:
    """Found by the suite: ``_storage._mask_url`` masked a plain ``user:password@`` but showed a password holding a
    '/' (a base64 secret, not percent-encoded); now one rule (``_uri.mask_uri``) masks every URL. Hypothesis over
    passwords of any characters: ``test_contract_api``."""
    for password in (f"{MARK}ab/cd", f"  {MARK}/x "):
        try:
            shown = " ".join(_storage(endpoint=f"http://root:{password}@127.0.0.1:9"))
        except pi.MilvusImportError as error:
            shown = " ".join(exception_texts(error))
        assert MARK not in shown
