"""A message over gRPC's size limit is RESOURCE_EXHAUSTED too, but not a rate limit (issue 18, defect 14).

gRPC itself answers "Received message larger than max (N vs. M)" / "Sent message larger than max" with
RESOURCE_EXHAUSTED. Asking again cannot help, so it is a bare ``TransportError`` (not ``RateLimitedError``, "safe to
retry later") and not transient, while a server's rate limit or quota stays a ``RateLimitedError``.
"""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pymilvus_import as pi
from pymilvus_import._errors import from_grpc_error, is_transient


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@settings(max_examples=60, deadline=None)
@given(
    direction=st.sampled_from(["Received", "Sent", "received", "SENT"]),
    sizes=st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)),
    prefix=st.text(max_size=20),
)
def test_a_message_size_limit_is_not_a_rate_limit_and_not_transient(
    direction: str, sizes: tuple[int, int], prefix: str
) -> None:
    details = f"{prefix}{direction} message larger than max ({sizes[0]} vs. {sizes[1]})"
    error = from_grpc_error(_RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, details), target="t:1", method="/x/Import")
    assert type(error) is pi.TransportError
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "not a rate limit" in str(error) and "max_receive_message_length" in str(error)
    assert not is_transient(error)


@settings(max_examples=60, deadline=None)
@given(details=st.text(max_size=60).filter(lambda text: "larger than max" not in text.lower()))
def test_any_other_resource_exhausted_is_a_rate_limit(details: str) -> None:
    error = from_grpc_error(_RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, details), target="t:1", method="/x/Import")
    assert type(error) is pi.RateLimitedError
    assert is_transient(error)


@pytest.mark.test_server(collections=("coll",))
def test_a_reply_over_the_clients_receive_limit_is_a_transport_error_naming_the_limit(server: object) -> None:
    # The real gRPC path: a client whose receive limit is smaller than any reply.
    client = pi.ImportClient(server.uri, channel_options=[("grpc.max_receive_message_length", 1)])  # type: ignore[attr-defined]
    try:
        with pytest.raises(pi.TransportError) as raised:
            client.list_import_jobs("coll")
    finally:
        client.close()
    assert type(raised.value) is pi.TransportError
    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "not a rate limit" in str(raised.value)
