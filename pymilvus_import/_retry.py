"""Retrying an RPC on UNAVAILABLE: the policy (:class:`Retry`, a value handed to a client) and the one loop that
applies it (:func:`retrying`), used by every read-only RPC and, only where the server dedupes, by Import. Pure."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._calls import MAX_SECONDS, is_positive_number
from ._effects import Flow, Rpc, Sleep
from ._errors import InvalidInputError, ServerUnavailableError, deadline_passed
from ._secrets import describe, shown

if TYPE_CHECKING:
    import random

    from ._calls import CallOptions, Deadline, Metadata
    from ._session import Session

log = logging.getLogger("pymilvus_import")


@dataclass(frozen=True)
class Retry:
    """Bounded, jittered exponential backoff for read-only RPCs (never for a non-idempotent Import).

    Delay ``n`` is drawn from ``[d/2, d]`` with ``d = min(maximum, initial * multiplier**n)``; at most ``attempts``
    tries in all, and never past the caller's deadline. ``Retry(attempts=1)`` turns retrying off.
    """

    initial: float = 0.1
    maximum: float = 2.0
    multiplier: float = 2.0
    attempts: int = 5

    def __post_init__(self) -> None:
        for name in ("initial", "maximum", "multiplier"):
            value = getattr(self, name)
            if not is_positive_number(value):
                raise InvalidInputError(
                    f"Retry({name}=...) must be a positive number up to {MAX_SECONDS:g}, got {shown(value)}",
                    value=value,
                    field=name,
                )
        if type(self.attempts) is not int or self.attempts < 1:
            raise InvalidInputError(
                f"Retry(attempts=...) must be an integer >= 1, got {shown(self.attempts)}",
                value=self.attempts,
                field="attempts",
            )
        if self.multiplier < 1 or self.initial > self.maximum:
            given = ", ".join(f"{name}={shown(getattr(self, name))}" for name in ("initial", "maximum", "multiplier"))
            raise InvalidInputError(
                f"Retry needs multiplier >= 1 and initial <= maximum, got {given}",
                value=describe((self.initial, self.maximum, self.multiplier, self.attempts)),
                field="retry",
            )

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        if rng is None:
            import random  # only when a retry actually happens: keeps `import pymilvus_import` cheap

            rng = random.Random()
        delay = self.initial
        for _ in range(self.attempts - 1):
            capped = min(self.maximum, delay)
            yield rng.uniform(capped / 2, capped)
            delay *= self.multiplier


def retrying(
    session: Session,
    method: str,
    request: bytes,
    deadline: Deadline,
    metadata: Metadata,
    call: CallOptions,
    may_retry: Callable[[], Flow[bool]] | None = None,
) -> Flow[bytes]:
    """Send one RPC inside ``deadline``; on UNAVAILABLE send the same bytes again after the session's next backoff
    delay, while attempts remain, the deadline allows the delay and ``may_retry`` (a flow: it may ask the server
    something first) agrees. Raises the last error otherwise, or :class:`DeadlineExceededError` when the deadline
    has passed before a send."""
    delays = session.retry.delays()
    unavailable: ServerUnavailableError | None = None
    while True:
        left = deadline.remaining()
        if left is not None and left <= 0:
            # Out of time while riding out an unreachable server: that is what the caller needs to hear.
            raise unavailable or deadline_passed(session.target, method)
        try:
            return (yield Rpc(method, request, left, metadata, call))  # type: ignore[no-any-return]
        except ServerUnavailableError as error:
            unavailable = error
            delay = next(delays, None)
            if delay is None or not deadline.allows(delay):
                raise
            if may_retry is not None and not (yield from may_retry()):
                raise error
            log.debug("%s to %s unavailable; retrying in %.2fs", method, session.target, delay)
            yield Sleep(delay)
